// Occlusion sensitivity: one tile per probe image, the score with the gray square at each place
// over the image, and (on the output layer) the class the model predicts there.

import {h} from './dom.js';
import {significant} from './numbers.js';

const rgb = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;

/** A class's name: the user's class names when the record has them, else "class k". */
function className(grid, index) {
  const names = (grid.settings || {}).class_names;
  return Array.isArray(names) && typeof names[index] === 'string' ? names[index] : `class ${index}`;
}

export const occlusionView = {
  describe(grid) {
    const settings = grid.settings || {};
    const layout = grid.layout || {};
    const output = settings.layer_output;
    const square = `a ${layout.size} px gray square every ${layout.stride} px (${(layout.grid || []).join(' × ')} places)`;
    return [
      output ? 'number: the probability of the true class on the unoccluded image' :
        'number: the total activation of the strongest feature map on the unoccluded image',
      `each tile: a probe image with ${square}; ` + (output ?
        'left, the probability of its true class with the square centred nearest each pixel; ' +
            'right, the class the model predicts there' :
        'the total activation of that map with the square centred nearest each pixel'),
      output && settings.probability && settings.probability !== 'output' ?
        `probabilities: ${settings.probability}` : null,
    ].filter(Boolean);
  },

  /** The colour scale, and the classes of the class maps shown. */
  legend(grid) {
    const layout = grid.layout || {};
    const colours = (layout.colormap || []).map(rgb);
    const output = (grid.settings || {}).layer_output;
    const alpha = layout.overlay_alpha ? ` (drawn ${Math.round(layout.overlay_alpha * 100)} % over the image)` : '';
    const bar = h('span', {class: 'occlusion-scale'},
        h('span', {}, output ? '0' : 'lowest'),
        h('span', {class: 'colour-bar', style: `background: linear-gradient(to right, ${colours.join(', ')})`}),
        h('span', {}, output ? '1' : 'highest'),
        h('span', {class: 'muted'}, output ? ` probability of the true class${alpha}` :
          ` each image's own range: darkest = the square there lowers the activation most${alpha}`));
    if (!output) return h('div', {class: 'occlusion-legend'}, bar);
    const present = new Set();
    for (const rows of grid.numbers.classes || []) for (const row of rows || []) for (const c of row || []) present.add(c);
    for (const label of grid.numbers.label || []) present.add(label);
    const known = layout.class_colours || {};
    const swatches = [...present].sort((a, b) => a - b).map((c) => h('span', {class: 'class-swatch'},
        h('span', {class: 'class-colour', style: `background: ${rgb(known[String(c)] || layout.other_colour || [0, 0, 0])}`}),
        className(grid, c)));
    return h('div', {class: 'occlusion-legend'}, bar, h('span', {class: 'class-legend'}, 'classes: ', swatches));
  },

  /** "true: coat → coat": the image's true class and what the model predicts unoccluded. */
  names(grid) {
    const labels = grid.numbers.label || [];
    const predicted = grid.numbers.predicted || [];
    return grid.channels.map((_, i) => {
      if (typeof labels[i] !== 'number') return '';
      const truth = `true: ${className(grid, labels[i])}`;
      return typeof predicted[i] === 'number' ? `${truth} → ${className(grid, predicted[i])}` : truth;
    });
  },

  /** Tooltip lines for one image: the lowest score and where the square caused it. */
  details(grid, position) {
    const scores = (grid.numbers.scores || [])[position];
    const min = (grid.numbers.min_score || [])[position];
    if (!Array.isArray(scores) || typeof min !== 'number') return [];
    const boxes = (grid.layout || {}).boxes || [];
    const flat = scores.flat();
    const at = flat.indexOf(min);
    const box = boxes[at];
    return [`lowest score ${significant(min)}${box ? ` with the square at rows ${box[0]}–${box[2]}, columns ${box[1]}–${box[3]}` : ''}`];
  },
};
