// Occlusion sensitivity: one tile per probe image, the score with the gray square at each place
// over the image, and (on the output layer) the class the model predicts there.

import {h} from './dom.js';
import {significant} from './numbers.js';
import {className, rgb} from './record_parts.js';

const MAX_SWATCHES = 40;
const asList = (value) => (Array.isArray(value) ? value : []);

export const occlusionView = {
  describe(grid) {
    const settings = grid.settings || {};
    const layout = grid.layout || {};
    const output = settings.layer_output === true;
    const classMap = grid.roles.includes('classes');
    const places = asList(layout.grid).filter(Number.isInteger);
    const square = Number.isFinite(layout.size) && Number.isFinite(layout.stride) ?
      `a ${layout.size} px gray square every ${layout.stride} px` : 'a gray square';
    const where = places.length === 2 ? `${square} (${places.join(' × ')} places)` : square;
    const heat = output ? 'the probability of its true class' : 'the total activation of that map';
    return [
      output ? 'number: the probability of the true class on the unoccluded image' :
        'number: the total activation of the image\'s strongest feature map (named under the tile: the ' +
            'channel with the strongest unit on the unoccluded image), unoccluded',
      `each tile: a probe image with ${where}; ` + (classMap ?
        `left, ${heat} with the square centred nearest each pixel; right, the class the model predicts there` :
        `${heat} with the square centred nearest each pixel`),
      output && typeof settings.probability === 'string' && settings.probability !== 'output' ?
        `probabilities: ${settings.probability}` : null,
    ].filter(Boolean);
  },

  /** The colour scale, and the classes of the class maps shown. */
  legend(grid) {
    const layout = grid.layout || {};
    const colours = asList(layout.colormap).map(rgb);
    const output = (grid.settings || {}).layer_output === true;
    const alpha = layout.overlay_alpha ? ` (drawn ${Math.round(layout.overlay_alpha * 100)} % over the image)` : '';
    const bar = h('span', {class: 'occlusion-scale'},
        h('span', {}, output ? '0' : 'lowest'),
        h('span', {class: 'colour-bar', style: `background: linear-gradient(to right, ${colours.join(', ')})`}),
        h('span', {}, output ? '1' : 'highest'),
        h('span', {class: 'muted'}, output ? ` probability of the true class${alpha}` :
          ` each image's own range: darkest = the square there lowers the activation most${alpha}`));
    if (!output) return h('div', {class: 'occlusion-legend'}, bar);
    const present = new Set((grid.numbers.label || []).filter(Number.isInteger));
    for (const image of asList(grid.numbers.classes)) {
      for (const row of asList(image)) for (const c of asList(row)) if (Number.isInteger(c)) present.add(c);
    }
    const known = layout.class_colours && typeof layout.class_colours === 'object' ? layout.class_colours : {};
    const coloured = [...present].filter((c) => String(c) in known).sort((a, b) => a - b);
    const others = present.size - coloured.length;
    const swatches = coloured.slice(0, MAX_SWATCHES).map((c) => h('span', {class: 'class-swatch'},
        h('span', {class: 'class-colour', style: `background: ${rgb(known[String(c)])}`}), className(grid, c)));
    if (coloured.length > MAX_SWATCHES) swatches.push(` and ${coloured.length - MAX_SWATCHES} more`);
    if (others) {
      swatches.push(h('span', {class: 'class-swatch'},
          h('span', {class: 'class-colour', style: `background: ${rgb(layout.other_colour)}`}),
          `${others} other class${others > 1 ? 'es' : ''} (hover a tile)`));
    }
    return h('div', {class: 'occlusion-legend'}, bar, h('span', {class: 'class-legend'}, 'classes: ', swatches));
  },

  /** "true: coat → coat": the image's true class and what the model predicts unoccluded; on a
   *  feature layer, the feature map followed ("map #12"). */
  names(grid) {
    const labels = grid.numbers.label || [];
    const predicted = grid.numbers.predicted || [];
    const feature = grid.numbers.feature || [];
    return grid.channels.map((_, i) => {
      if (Number.isInteger(feature[i])) return `map #${feature[i]}`;
      if (typeof labels[i] !== 'number') return '';
      const truth = `true: ${className(grid, labels[i])}`;
      return typeof predicted[i] === 'number' ? `${truth} → ${className(grid, predicted[i])}` : truth;
    });
  },

  /** Tooltip lines for one image's numbers, in words (the record's keys are not): its score
   *  unoccluded, the true and predicted classes by name, the feature map followed. */
  numbers(grid, position) {
    const n = grid.numbers;
    const pick = (key) => (Array.isArray(n[key]) ? n[key][position] : undefined);
    const output = (grid.settings || {}).layer_output === true;
    const lines = [];
    const score = pick('score');
    if (typeof score === 'number') {
      lines.push(`${output ? 'probability of the true class' : 'total activation of the map followed'}, ` +
                 `unoccluded: ${significant(score)}`);
    }
    if (Number.isInteger(pick('label'))) lines.push(`true class: ${className(grid, pick('label'))}`);
    if (Number.isInteger(pick('predicted'))) {
      lines.push(`predicted, unoccluded: ${className(grid, pick('predicted'))}`);
    }
    if (Number.isInteger(pick('feature'))) lines.push(`feature map followed: #${pick('feature')}`);
    return lines;
  },

  /** Tooltip lines for one image: the lowest score and where the square caused it. */
  details(grid, position) {
    const scores = (grid.numbers.scores || [])[position];
    const min = (grid.numbers.min_score || [])[position];
    if (!Array.isArray(scores) || typeof min !== 'number') return [];
    const boxes = asList((grid.layout || {}).boxes);
    const flat = scores.flat();
    const at = flat.indexOf(min);
    const box = boxes[at];
    return [`lowest score ${significant(min)}${box ? ` with the square at rows ${box[0]}–${box[2]}, columns ${box[1]}–${box[3]}` : ''}`];
  },
};
