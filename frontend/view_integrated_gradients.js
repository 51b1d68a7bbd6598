// Integrated gradients: how much each pixel, against the baseline, adds to the class's score.

import {attributionView} from './attribution_view.js';

export const integratedGradientsView = attributionView({
  map: 'the integrated gradients (summed over colours)',
  signed: 'red raises the class\'s score, blue lowers it (against the baseline)',
});
