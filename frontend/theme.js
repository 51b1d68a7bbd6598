// Light or dark, as TensorBoard shows itself: its theme toggle puts `dark-mode` on the top
// page's body (its "browser default" follows prefers-color-scheme the same way). We mirror that
// class onto our own body and follow every change.

/** Starts following TensorBoard's theme; returns a function that stops it. */
export function followTheme(body = document.body) {
  let source = null;
  try {
    if (window.parent !== window) source = window.parent.document.body;
  } catch (error) {
    source = null;  // another origin: follow the browser's preference instead
  }
  const media = window.matchMedia('(prefers-color-scheme: dark)');
  const apply = () => {
    const dark = source ? source.classList.contains('dark-mode') : media.matches;
    body.classList.toggle('dark', dark);
  };
  apply();
  if (source) {
    const observer = new MutationObserver(apply);
    observer.observe(source, {attributes: true, attributeFilter: ['class']});
    return () => observer.disconnect();
  }
  media.addEventListener('change', apply);
  return () => media.removeEventListener('change', apply);
}
