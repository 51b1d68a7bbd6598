// The plugin's HTTP routes (tb_featviz/plugin/plugin.py). URLs are relative to the page's
// base, which TensorBoard sets to /data/plugin/featviz/.

/** An HTTP error carrying the server's message as one line of text. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let inFlight = 0;
const listeners = new Set();

/** Calls `listener(count)` whenever the number of requests in flight changes. */
export function onActivity(listener) {
  listeners.add(listener);
}

function setInFlight(change) {
  inFlight += change;
  for (const listener of listeners) listener(inFlight);
}

/**
 * One line a person can read from an error body: TensorBoard answers errors as text, but a
 * proxy or a crash may answer an HTML page, whose markup must never reach the screen.
 */
export function errorLine(status, statusText, body, contentType = '') {
  let text = String(body || '');
  if (/html/i.test(contentType) || /^\s*</.test(text)) {
    const page = new DOMParser().parseFromString(text, 'text/html');
    text = (page.querySelector('title')?.textContent || '') + ' ' +
        (page.querySelector('p')?.textContent || '');
  }
  text = text.replace(/\s+/g, ' ').trim();
  if (text.length > 300) text = `${text.slice(0, 299)}…`;
  return text || `${status} ${statusText}`.trim();
}

async function getJson(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) query.set(name, String(value));
  }
  const url = query.toString() ? `${path}?${query}` : path;
  setInFlight(+1);
  try {
    let response;
    try {
      response = await fetch(url, {headers: {'Accept': 'application/json'}});
    } catch (error) {
      throw new ApiError(0, `TensorBoard did not answer (${error.message}); is it still running?`);
    }
    if (!response.ok) {
      const line = errorLine(response.status, response.statusText, await response.text(),
          response.headers.get('Content-Type') || '');
      throw new ApiError(response.status, line);
    }
    try {
      return await response.json();
    } catch (error) {
      throw new ApiError(response.status, `the answer to ${path} was not JSON`);
    }
  } finally {
    setInFlight(-1);
  }
}

/** {runs: [{name, problems}], methods, roles}: every run, from one listing. */
export function fetchRuns() {
  return getJson('runs');
}

/** {name, layers: [{name, methods: {am: {steps}}}], problems}: one run in detail. */
export function fetchRun(run) {
  return getJson('run', {run});
}

/** Every channel of (run, layer, method) at `step` (the latest when undefined). */
export function fetchGrid(run, layer, method, step) {
  return getJson('grid', {run, layer, method, step});
}

/** One channel of (run, layer, method) at every epoch. */
export function fetchEvolution(run, layer, method, channel, role) {
  return getJson('evolution', {run, layer, method, channel, role});
}

/** Linear CKA of every layer of `run` with its own record at `step` (the latest when undefined),
 *  with `layer`'s step × step matrix: records of a method holding Gram matrices. */
export function fetchCka(run, method, layer, step) {
  return getJson('cka', {run, method, layer, step});
}

/** Linear CKA of `layer` between `run` and `compare` at each epoch both recorded. */
export function fetchCkaBetween(run, method, layer, compare) {
  return getJson('cka', {run, method, layer, compare});
}

/** Keras's epoch scalars beside `run`, on featviz's epoch axis. */
export function fetchScalars(run) {
  return getJson('scalars', {run});
}
