// One channel across all epochs (Zeiler & Fergus 2013, Fig. 4): a strip with a frame per epoch,
// its number over epochs as a chart, and downloads of the strip (PNG) and the animation (GIF).

import {lineChart} from './chart.js';
import {CONTRASTS, STRETCHABLE, stretchImage} from './contrast.js';
import {download, fileSafe, formatNumber, h, loadImage} from './dom.js';
import {encodeGif} from './gif.js';
import {HEADLINE} from './grid.js';

const STRIP_COLUMNS = 20;
const LABEL_BAND = 16;

/**
 * @param {!Object} evolution  the /evolution answer
 * @param {{step: ?number, roles: !Array<string>, onStep: function(number),
 *          onRole: function(string), onClose: function(), contrast: string}} options
 * @return {!HTMLElement}
 */
export function renderEvolution(evolution, {step, roles, onStep, onRole, onClose, contrast = 'absolute'}) {
  const stretch = contrast === 'stretch' && STRETCHABLE.has(evolution.role);
  const headline = HEADLINE[evolution.method];
  const title = `${evolution.layer} · channel ${evolution.channel} · ${evolution.method}`;
  const frames = evolution.frames.map((frame) => {
    const dead = frame.numbers.dead === true;
    return h('figure', {
      class: ['frame', frame.step === step ? 'current' : '', dead ? 'dead' : '']
          .filter(Boolean).join(' '),
      dataset: {step: String(frame.step)},
      title: `epoch ${frame.step}: ${headline} ${formatNumber(frame.numbers[headline])}`,
      onclick: () => onStep(frame.step),
    },
    withContrast(h('img', {src: frame.image, alt: `channel ${evolution.channel} at epoch ${frame.step}`,
                           draggable: 'false'}), stretch),
    h('figcaption', {}, `${frame.step}`, dead ? ' ✝' : ''));
  });
  const roleChooser = roles.length > 1 ?
    h('select', {class: 'role-select', 'aria-label': 'image',
                 onchange: (event) => onRole(event.target.value)},
    roles.map((role) => h('option', {value: role, selected: role === evolution.role}, role))) :
    null;
  const points = evolution.frames.map((f) => ({x: f.step, y: f.numbers[headline]}));
  return h('section', {class: 'evolution', 'aria-label': 'channel evolution'},
      h('header', {class: 'evolution-header'},
          h('h2', {}, title),
          h('span', {class: 'evolution-run'}, `run ${evolution.run}`),
          stretch ? h('span', {class: 'contrast-note'}, CONTRASTS.stretch) : null,
          h('span', {class: 'spacer'}),
          roleChooser,
          h('button', {type: 'button', class: 'download-png',
                       onclick: () => downloadStrip(evolution, title)}, 'Strip PNG'),
          h('button', {type: 'button', class: 'download-gif',
                       onclick: () => downloadGif(evolution, title)}, 'GIF'),
          h('button', {type: 'button', class: 'close', 'aria-label': 'close',
                       onclick: onClose}, '✕')),
      evolution.problems.length ?
        h('p', {class: 'problems'}, evolution.problems.join('; ')) : null,
      h('div', {class: 'strip'}, frames),
      lineChart(points, {label: headline, marker: step, width: 420, height: 130}));
}

function withContrast(img, stretch) {
  if (stretch) stretchImage(img);
  return img;
}

/** Draws frames into a canvas: `columns` per row, each with its epoch written below. */
async function composeStrip(evolution, title, columns) {
  const images = await Promise.all(evolution.frames.map((f) => loadImage(f.image)));
  const cell = cellSize(images);
  const rows = Math.ceil(images.length / columns);
  const top = title ? 22 : 0;
  const canvas = document.createElement('canvas');
  canvas.width = Math.min(images.length, columns) * (cell.width + 2) + 2;
  canvas.height = top + rows * (cell.height + LABEL_BAND + 2) + 2;
  const context = canvas.getContext('2d');
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.fillStyle = '#222';
  context.font = '13px sans-serif';
  if (title) context.fillText(title, 4, 15);
  context.imageSmoothingEnabled = false;
  context.textAlign = 'center';
  context.font = '11px sans-serif';
  images.forEach((image, i) => {
    const x = 2 + (i % columns) * (cell.width + 2);
    const y = top + Math.floor(i / columns) * (cell.height + LABEL_BAND + 2);
    context.drawImage(image, x, y, cell.width, cell.height);
    context.fillText(`epoch ${evolution.frames[i].step}`, x + cell.width / 2, y + cell.height + 12);
  });
  return canvas;
}

function cellSize(images) {
  const width = Math.max(...images.map((i) => i.naturalWidth));
  const height = Math.max(...images.map((i) => i.naturalHeight));
  const scale = Math.max(1, Math.floor(96 / Math.max(width, height)));  // small tiles scale up
  return {width: width * scale, height: height * scale};
}

async function downloadStrip(evolution, title) {
  const canvas = await composeStrip(evolution, title, STRIP_COLUMNS);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  download(blob, `${fileSafe(title)}.png`);
}

/** Every epoch's frame, labelled, as ImageData of one size: the GIF's frames. */
export async function gifFrames(evolution) {
  const images = await Promise.all(evolution.frames.map((f) => loadImage(f.image)));
  const cell = cellSize(images);
  const canvas = document.createElement('canvas');
  canvas.width = cell.width;
  canvas.height = cell.height + LABEL_BAND;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  return images.map((image, i) => {
    context.fillStyle = '#000';
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.imageSmoothingEnabled = false;
    context.drawImage(image, 0, 0, cell.width, cell.height);
    context.fillStyle = '#fff';
    context.font = '11px sans-serif';
    context.textAlign = 'center';
    context.fillText(`epoch ${evolution.frames[i].step}`, cell.width / 2, cell.height + 12);
    return context.getImageData(0, 0, canvas.width, canvas.height);
  });
}

async function downloadGif(evolution, title) {
  const bytes = encodeGif(await gifFrames(evolution), 400);
  download(new Blob([bytes], {type: 'image/gif'}), `${fileSafe(title)}.gif`);
}
