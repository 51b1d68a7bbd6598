// Grad-CAM: where this conv layer's features raise the class's score.

import {attributionView} from './attribution_view.js';

export const gradcamView = attributionView({map: 'the Grad-CAM map'});
