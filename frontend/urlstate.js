// The dashboard's state in TensorBoard's URL, so that a reload or a shared link shows the same
// run, layer, method, epoch and channel. TensorBoard keeps plugin state in its URL hash as
// `p.<plugin>.<key>=<value>` entries (what its plugin API's GetURLPluginData hands plugins);
// we write those entries into the top page's hash with replaceState (no history spam), and fall
// back to our own frame's hash where the top page is out of reach (the page opened on its own).

const PREFIX = 'p.featviz.';

/** The window whose hash holds the state: TensorBoard's page, or this frame. */
function hashWindow() {
  try {
    if (window.parent !== window && window.parent.location.href) return window.parent;
  } catch (error) {
    // another origin: keep the state in this frame
  }
  return window;
}

/** [[key, value]] pairs of a TensorBoard hash ("#featviz&p.featviz.run=a"), in order. */
function parseHash(hash) {
  return hash.replace(/^#/, '').split('&').filter(Boolean).map((part) => {
    const at = part.indexOf('=');
    if (at < 0) return [null, part];  // the tab name, TensorBoard's "__tab__" entry
    try {
      return [decodeURIComponent(part.slice(0, at)), decodeURIComponent(part.slice(at + 1))];
    } catch (error) {
      return [part.slice(0, at), part.slice(at + 1)];
    }
  });
}

/** Our keys and values from the URL: {run: 'a', step: '3', ...} (strings). */
export function readUrlState() {
  const state = {};
  for (const [key, value] of parseHash(hashWindow().location.hash)) {
    if (key && key.startsWith(PREFIX)) state[key.slice(PREFIX.length)] = value;
  }
  return state;
}

/** Replaces our keys in the URL by `values` (null/undefined/'' leave a key out). */
export function writeUrlState(values) {
  const target = hashWindow();
  const kept = parseHash(target.location.hash).filter(([key]) => !(key && key.startsWith(PREFIX)));
  if (target === window.parent && !kept.some(([key]) => key === null)) kept.unshift([null, 'featviz']);
  for (const [key, value] of Object.entries(values)) {
    if (value !== null && value !== undefined && value !== '') kept.push([PREFIX + key, String(value)]);
  }
  const hash = kept.map(([key, value]) => key === null ? value :
    `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join('&');
  if (target.location.hash.replace(/^#/, '') === hash) return;
  const url = new URL(target.location.href);
  url.hash = hash;
  target.history.replaceState(target.history.state, '', url.toString());
}
