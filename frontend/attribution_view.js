// What the attribution maps (gradient maps of a class's score) say beyond their format:
// one tile per probe image, the map over the image and alone, the class it explains, and the
// sanity check of Adebayo et al. 2018 under each tile (Spearman's rho with the same image's map
// at the run's first step, the untrained model); a map still above 0.9 after training started is
// marked. Each method's view file makes its view here with its own words.

import {h} from './dom.js';
import {significant} from './numbers.js';
import {className, rgb} from './record_parts.js';

const asList = (value) => (Array.isArray(value) ? value : []);
const BARELY_DIFFERS = 0.9;  // the record's own threshold when it states one
export const MARK = 'barely differs from the untrained model\'s (Adebayo et al.)';

/** The record's reference: {step: the step its maps are compared with (null: none known),
 *  untrained: whether that is step 0, threshold}. */
function reference(grid) {
  const given = (grid.settings || {}).reference;
  const stated = given && typeof given === 'object' ? given : {};
  const step = Number.isInteger(stated.step) ? stated.step : null;
  const threshold = Number.isFinite(stated.barely_differs_above) ? stated.barely_differs_above : BARELY_DIFFERS;
  return {step, untrained: step === 0, threshold};
}

/** "vs step 0 (untrained)", or what the reference is when it is not the untrained model. */
function versus(grid) {
  const ref = reference(grid);
  if (ref.step === null) return 'vs the first map drawn';
  return ref.untrained ? 'vs step 0' : `vs step ${ref.step}`;
}

function rho(grid, position) {
  const value = asList(grid.numbers.spearman_vs_first)[position];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** A view for one attribution method: `words.map` says what its map is, `words.signed` how a
 *  signed map reads. */
export function attributionView(words) {
  return {
    describe(grid) {
      const settings = grid.settings || {};
      const ref = reference(grid);
      const target = settings.target === 'predicted' ? 'the class the model predicts' : 'the image\'s true class';
      const sanity = ref.untrained ?
        `ρ under each tile: Spearman rank correlation of the map with the same image's map at step 0, the ` +
            `untrained model (Adebayo et al. 2018's sanity check); above ${ref.threshold} after training ` +
            'started, a map barely depends on what the model learned' :
        ref.step !== null ?
        `ρ under each tile: Spearman rank correlation with the same image's map at step ${ref.step}, the first ` +
            'step this fit drew: no step-0 (untrained) reference in this fit (a resumed run)' :
        'ρ under each tile: rank correlation with the first map drawn (not drawn in training: no untrained reference)';
      return [
        `number: the logit of ${target} (the score the map explains)`,
        `each tile: left, ${words.map} over the probe image (drawn gray); right, the map alone` +
            (typeof settings.map === 'string' ? ` — ${settings.map}` : ''),
        sanity,
      ];
    },

    /** The colour scale: from 0 (or −largest) to each map's own largest value. */
    legend(grid) {
      const layout = grid.layout || {};
      const colours = asList(layout.colormap).map(rgb);
      const signed = layout.signed === true;
      return h('div', {class: 'attribution-legend'},
          h('span', {}, signed ? '−largest' : '0'),
          h('span', {class: 'colour-bar', style: `background: linear-gradient(to right, ${colours.join(', ')})`}),
          h('span', {}, signed ? '+largest' : 'largest'),
          h('span', {class: 'muted'}, signed ? ` each map's own scale, white = 0: ${words.signed}` :
            ' each map\'s own scale (hover a tile for its values)'));
    },

    /** Under each tile: the class explained (and the prediction when it differs), then ρ. */
    names(grid) {
      const classes = asList(grid.numbers.class);
      const predicted = asList(grid.numbers.predicted);
      return grid.channels.map((_, i) => {
        const explained = Number.isInteger(classes[i]) ? className(grid, classes[i]) : '';
        const guess = Number.isInteger(predicted[i]) && predicted[i] !== classes[i] ?
          ` (predicted: ${className(grid, predicted[i])})` : '';
        const value = rho(grid, i);
        const sanity = value === null ? 'ρ – (a blank map: no ranks)' : `ρ ${value.toFixed(2)} ${versus(grid)}`;
        return `${explained}${guess} · ${sanity}`;
      });
    },

    /** The sanity check's mark: after training started, a map whose ρ with the untrained
     *  model's map stays above the threshold. */
    marks(grid) {
      const ref = reference(grid);
      return grid.channels.map((_, i) => {
        const value = rho(grid, i);
        return ref.untrained && grid.step > ref.step && value !== null && value > ref.threshold ? MARK : null;
      });
    },

    numbers(grid, position) {
      const pick = (key) => asList(grid.numbers[key])[position];
      const lines = [];
      if (Number.isInteger(pick('class'))) {
        lines.push(`class explained: ${className(grid, pick('class'))}, logit ${significant(pick('score'))}`);
      }
      if (Number.isInteger(pick('label'))) lines.push(`true class: ${className(grid, pick('label'))}`);
      if (Number.isInteger(pick('predicted'))) lines.push(`predicted: ${className(grid, pick('predicted'))}`);
      const value = rho(grid, position);
      lines.push(value === null ? 'ρ: undefined (a blank map has no ranks)' :
        `ρ ${versus(grid)}: ${significant(value)}`);
      const scale = pick('scale');
      if (Array.isArray(scale) && scale.length === 2) {
        lines.push(`colour scale: ${significant(scale[0])} to ${significant(scale[1])}`);
      }
      if (typeof pick('completeness_error') === 'number') {
        lines.push(`completeness error: ${significant(pick('completeness_error'))} (|Σ attributions − ` +
                   '(F(x) − F(baseline))| / |F(x) − F(baseline)|)');
      }
      return lines;
    },
  };
}
