// Saliency (and SmoothGrad): where a small change of the input changes the class's score most.

import {attributionView} from './attribution_view.js';

export const saliencyView = attributionView({map: 'the saliency map'});
