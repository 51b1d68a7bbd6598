// Representation similarity: no grid of channels but a page of numbers across steps and runs
// (similarity.js): each layer's linear CKA with its own state at the shown step, one layer's
// step × step matrix, and the layer between compared runs.

import {similarityPage} from './similarity.js';

export const similarityView = {page: similarityPage};
