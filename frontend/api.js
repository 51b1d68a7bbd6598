// The plugin's HTTP routes (tb_featviz/plugin/plugin.py). URLs are relative to the page's
// base, which TensorBoard sets to /data/plugin/featviz/.

/** An HTTP error carrying the server's message (TensorBoard answers errors as plain text). */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function getJson(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) query.set(name, String(value));
  }
  const url = query.toString() ? `${path}?${query}` : path;
  const response = await fetch(url, {headers: {'Accept': 'application/json'}});
  if (!response.ok) {
    const text = (await response.text()).trim();
    throw new ApiError(response.status, text || `${response.status} ${response.statusText}`);
  }
  return response.json();
}

/** {runs: [{name, layers: [{name, methods: {am: {steps}}}], problems}], methods, roles} */
export function fetchRuns() {
  return getJson('runs');
}

/** Every channel of (run, layer, method) at `step` (the latest when undefined). */
export function fetchGrid(run, layer, method, step) {
  return getJson('grid', {run, layer, method, step});
}

/** One channel of (run, layer, method) at every epoch. */
export function fetchEvolution(run, layer, method, channel, role) {
  return getJson('evolution', {run, layer, method, channel, role});
}
