// How images are drawn. By default exactly as recorded: AM images and probe patches in the
// model's input range (black..white), so a strong uniform optimum is white and a weak one faint.
// Which roles a viewer may stretch is the method's format's `stretchable` (from /runs).
// "Stretched per tile" is a viewer's choice, made here in the browser and labelled on the page:
// each image is stretched between its 0.5th and 99.5th percentiles (a flat image stays gray).

export const CONTRASTS = {
  absolute: 'as the model sees it',
  stretch: 'stretched per tile',
};

/** Replaces `img`'s pixels by their per-image stretch once it has loaded. */
export function stretchImage(img) {
  const apply = () => {
    if (img.dataset.stretched || !img.naturalWidth) return;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
    const data = pixels.data;
    const values = [];
    for (let i = 0; i < data.length; i += 4) values.push(data[i], data[i + 1], data[i + 2]);
    values.sort((a, b) => a - b);
    const low = percentile(values, 0.005);
    const high = percentile(values, 0.995);
    for (let i = 0; i < data.length; i += 4) {
      for (let c = 0; c < 3; c++) {
        data[i + c] = high - low > 1e-9 ?
          Math.round(255 * Math.min(1, Math.max(0, (data[i + c] - low) / (high - low)))) : 128;
      }
    }
    context.putImageData(pixels, 0, 0);
    img.dataset.stretched = 'true';
    img.src = canvas.toDataURL('image/png');
  };
  if (img.complete && img.naturalWidth) apply();
  else img.addEventListener('load', apply, {once: true});
}

/** Linear interpolation between the closest ranks, as NumPy's default percentile does. */
function percentile(sorted, fraction) {
  const position = fraction * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}
