// What differs between methods in the page: each method's words under the panel title, its
// legend and its tiles' names. Everything else (labels, headline number, roles) comes from the
// method's format in /runs. A method without a view here is shown by the generic parts alone;
// a view with a `page(dashboard)` draws the whole page instead of the grids (similarity).

import {amView} from './view_am.js';
import {deconvView} from './view_deconv.js';
import {gradcamView} from './view_gradcam.js';
import {integratedGradientsView} from './view_integrated_gradients.js';
import {occlusionView} from './view_occlusion.js';
import {saliencyView} from './view_saliency.js';
import {similarityView} from './view_similarity.js';
import {weightsView} from './view_weights.js';

const VIEWS = {am: amView, deconv: deconvView, weights: weightsView, occlusion: occlusionView,
               saliency: saliencyView, gradcam: gradcamView, integrated_gradients: integratedGradientsView,
               similarity: similarityView};

/** The method's view; every part optional. */
export function viewOf(method) {
  return VIEWS[method] || {};
}
