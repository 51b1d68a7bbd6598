// One channel across training (Zeiler & Fergus 2013, Fig. 4): a strip with a frame per recorded
// step (labelled by epoch, with its fraction inside the first epochs), its number over epochs as a
// chart, and downloads of the strip (PNG) and the animation (GIF).

import {Axis, formatEpoch} from './axis.js';
import {PALETTE, lineChart} from './chart.js';
import {CONTRASTS, stretchImage} from './contrast.js';
import {download, fileSafe, formatNumber, h, loadImage} from './dom.js';
import {encodeGif} from './gif.js';
import {isStretchable} from './grid.js';
import {significant} from './numbers.js';

const STRIP_COLUMNS = 20;
const LABEL_BAND = 16;

/**
 * @param {!Object} evolution  the /evolution answer of the run whose tile was clicked
 * @param {{step: ?number, roles: !Array<string>, onStep: function(number),
 *          onRole: function(string), onClose: function(), contrast: string,
 *          overlays: !Array<!Object>, scalars: ?Object, colours: !Object<string, string>,
 *          axes: !Map<string, !Axis>}} options
 *     step (and setStep's, onStep's): a step of the clicked run, not of the main run's axis;
 *     overlays: the same channel's /evolution in the other runs shown; scalars: /scalars;
 *     axes: each run's axis (epochs of its steps)
 * @return {{element: !HTMLElement, setStep: function(?number)}}
 */
export function renderEvolution(evolution, {step, roles, format, onStep, onRole, onClose, contrast = 'absolute',
                                            overlays = [], scalars = null, colours = {}, name = '',
                                            axes = new Map()}) {
  const axisOf = (run) => axes.get(run) || new Axis();
  const axis = axisOf(evolution.run);
  const stretch = contrast === 'stretch' && isStretchable(format, evolution.role);
  const headline = format.headline;
  const item = `${format.item} ${evolution.channel}`;
  const title = `${evolution.layer} · ${item}${name ? ` (${name})` : ''} · ${evolution.method}`;
  const frames = evolution.frames.map((frame) => {
    const dead = frame.numbers.dead === true;
    return h('figure', {
      class: ['frame', frame.step === step ? 'current' : '', dead ? 'dead' : '']
          .filter(Boolean).join(' '),
      dataset: {step: String(frame.step)},
      title: `${axis.detail(frame.step)}: ${headline} ${formatNumber(frame.numbers[headline])}`,
      onclick: () => onStep(frame.step),
    },
    withContrast(h('img', {src: frame.image, alt: `${item} at ${axis.label(frame.step)}`,
                           draggable: 'false'}), stretch),
    h('figcaption', {}, axis.caption(frame.step), dead ? ' ✝' : ''));
  });
  const roleChooser = roles.length > 1 ?
    h('select', {class: 'role-select', 'aria-label': 'image',
                 onchange: (event) => onRole(event.target.value)},
    roles.map((role) => h('option', {value: role, selected: role === evolution.role},
        (format.role_labels && format.role_labels[role]) || role))) :
    null;

  // The channel's number in every shown run, then the run's Keras curves, on one epoch axis
  // (steps where a run's epochs are unknown: then without Keras's curves, which are per epoch).
  const runs = [evolution, ...overlays].filter((e) => axisOf(e.run).byEpoch === axis.byEpoch);
  // The clicked run's points keep their step: two records may share an epoch (an epoch redone
  // after a restore). Other runs' steps are not comparable with it (other batches per epoch):
  // their points are found by x.
  const activationSeries = runs.map((e) => ({
    label: e.run, colour: colours[e.run] || PALETTE[0], run: e.run,
    points: e.frames.map((f) => ({x: axisOf(e.run).x(f.step), y: f.numbers[headline],
                                  ...(e === evolution ? {step: f.step} : {})}))
        .filter((p) => p.x !== null),
  }));
  const runColour = colours[evolution.run] || PALETTE[0];
  const metrics = axis.byEpoch ? groupScalars(scalars, runColour) : [];
  // x on the charts ↔ the clicked run's steps.
  const stepAt = (x) => {
    let best = null;
    for (const frame of evolution.frames) {
      const fx = axis.x(frame.step);
      if (fx !== null && (best === null || Math.abs(fx - x) < Math.abs(axis.x(best) - x))) best = frame.step;
    }
    return best;
  };
  const xOf = (step) => (step === null || step === undefined ? null : axis.x(step));
  const moment = (x) => {
    const nearest = stepAt(x);
    return nearest !== null && axis.x(nearest) === x ? axis.label(nearest) :
      (axis.byEpoch ? `after epoch ${formatEpoch(x)}` : `step ${x}`);
  };
  // The shown step's own record in the clicked run; other runs and Keras's curves by x.
  const read = (x, step) => describeMoment(x, step, moment, headline, activationSeries, metrics, evolution.run);
  const allX = [...activationSeries, ...metrics.flatMap((m) => m.series)]
      .flatMap((s) => s.points.map((p) => p.x));
  const xDomain = allX.length ? [Math.min(...allX), Math.max(...allX)] : [0, 1];
  const readout = h('p', {class: 'readout', 'aria-live': 'polite'});
  const charts = [];
  const hover = (x) => {
    for (const chart of charts) chart.setHover(x);
    readout.textContent = x === null || x === undefined ? read(xOf(current), current) : read(x, null);
  };
  let current = step;
  const chartOptions = {xDomain, marker: xOf(step), markerStep: step, width: 380, height: 130, onHover: hover,
                        xLabel: axis.unit(), onClick: (x) => {
                          const target = stepAt(x);
                          if (target !== null) onStep(target);
                        }};
  charts.push(lineChart({...chartOptions, title: `${headline} of ${item}`,
                         series: activationSeries}));
  for (const metric of metrics) {
    charts.push(lineChart({...chartOptions, title: `${metric.name} of run ${evolution.run} (Keras)`,
                           series: metric.series}));
  }
  readout.textContent = read(xOf(step), step);
  const scalarNote = scalars && !axis.byEpoch ?
    h('p', {class: 'note'}, `This run is ${axis.why()}; Keras's per-epoch curves are not drawn beside it.`) :
    scalars && !metrics.length && !axis.anEpochEnded() ?
    h('p', {class: 'note'}, 'No epoch has ended yet: Keras writes its epoch scalars (loss, accuracy) ' +
        'when the first one ends.') :
    scalars && !metrics.length ?
    h('p', {class: 'note'}, 'No Keras epoch scalars beside this run (looked in ',
        scalars.searched.join(', '), '): add keras.callbacks.TensorBoard(log_dir=<the same logdir>)') :
    null;
  const element = h('section', {class: 'evolution', 'aria-label': 'channel evolution'},
      h('header', {class: 'evolution-header'},
          h('h2', {}, title),
          h('span', {class: 'evolution-run'}, `run ${evolution.run}`),
          stretch ? h('span', {class: 'contrast-note'}, CONTRASTS.stretch) : null,
          h('span', {class: 'spacer'}),
          roleChooser,
          h('button', {type: 'button', class: 'download-png',
                       onclick: () => downloadStrip(evolution, title, axis)}, 'Strip PNG'),
          h('button', {type: 'button', class: 'download-gif',
                       onclick: () => downloadGif(evolution, title, axis)}, 'GIF'),
          h('button', {type: 'button', class: 'close', 'aria-label': 'close', title: 'close (Esc)',
                       onclick: onClose}, '✕')),
      evolution.problems.length ?
        h('p', {class: 'problems'}, evolution.problems.join('; ')) : null,
      h('div', {class: 'strip'}, frames),
      readout,
      h('div', {class: 'charts'}, charts.map((c) => c.element)),
      scalarNote);
  return {
    element,
    setStep(newStep) {
      current = newStep;
      for (const chart of charts) chart.setMarker(xOf(newStep), newStep);
      for (const frame of element.querySelectorAll('.frame')) {
        const isCurrent = Number(frame.dataset.step) === newStep;
        frame.classList.toggle('current', isCurrent);
        if (isCurrent) frame.scrollIntoView({block: 'nearest', inline: 'nearest'});
      }
      readout.textContent = read(xOf(newStep), newStep);
    },
  };
}

/** Keras curves grouped by metric: [{name: 'loss', series: [train, validation]}], in the run's
 *  own colour (train solid, validation dashed): they belong to that run, not to another. */
function groupScalars(scalars, colour) {
  const byMetric = new Map();
  for (const s of (scalars && scalars.series) || []) {
    if (!byMetric.has(s.metric)) byMetric.set(s.metric, []);
    byMetric.get(s.metric).push({
      label: s.split, colour, dashed: s.split === 'validation',
      points: s.points.map((p) => ({x: p.epoch, y: p.value})),
    });
  }
  const rank = (name) => (name === 'loss' ? 0 : /acc/.test(name) ? 1 : name === 'learning_rate' ? 3 : 2);
  return [...byMetric].sort((a, b) => rank(a[0]) - rank(b[0])).slice(0, 2)
      .map(([name, series]) => ({name, series}));
}

/** Every number shown at one point of the x axis, in one line: the channel's in each run, then
 *  the clicked run's own curves, each to three significant digits (trailing zeros kept: 1.00). */
function describeMoment(x, step, moment, headline, activationSeries, metrics, run) {
  if (x === null || x === undefined) return '';
  const at = (s) => (step !== null && s.run === run ? s.points.find((p) => p.step === step) :
    s.points.find((p) => p.x === x))?.y;
  const formatOf = () => significant;
  const parts = [moment(x)];
  const formatActivation = formatOf(activationSeries);
  const activations = activationSeries.filter((s) => typeof at(s) === 'number')
      .map((s) => activationSeries.length > 1 ?
        `${formatActivation(at(s))} (${s.label})` : formatActivation(at(s)));
  if (activations.length) parts.push(`${headline} ${activations.join(', ')}`);
  for (const metric of metrics) {
    const format = formatOf(metric.series);
    const values = metric.series.filter((s) => typeof at(s) === 'number')
        .map((s) => `${s.label} ${format(at(s))}`);
    if (values.length) parts.push(`${metric.name}${activationSeries.length > 1 ? ` (${run})` : ''}: ${values.join(', ')}`);
  }
  return parts.join(' · ');
}

function withContrast(img, stretch) {
  if (stretch) stretchImage(img);
  return img;
}

/** Draws frames into a canvas: `columns` per row, each with its epoch written below. */
async function composeStrip(evolution, title, columns, axis) {
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
    context.fillText(axis.label(evolution.frames[i].step), x + cell.width / 2, y + cell.height + 12);
  });
  return canvas;
}

function cellSize(images) {
  const width = Math.max(...images.map((i) => i.naturalWidth));
  const height = Math.max(...images.map((i) => i.naturalHeight));
  const scale = Math.max(1, Math.floor(96 / Math.max(width, height)));  // small tiles scale up
  return {width: width * scale, height: height * scale};
}

async function downloadStrip(evolution, title, axis) {
  const canvas = await composeStrip(evolution, title, STRIP_COLUMNS, axis);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  download(blob, `${fileSafe(title)}.png`);
}

/** Every recorded step's frame, labelled by its epoch, as ImageData of one size: the GIF's frames. */
export async function gifFrames(evolution, axis = new Axis()) {
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
    context.fillText(axis.label(evolution.frames[i].step), cell.width / 2, cell.height + 12);
    return context.getImageData(0, 0, canvas.width, canvas.height);
  });
}

async function downloadGif(evolution, title, axis) {
  const bytes = encodeGif(await gifFrames(evolution, axis), 400);
  download(new Blob([bytes], {type: 'image/gif'}), `${fileSafe(title)}.gif`);
}
