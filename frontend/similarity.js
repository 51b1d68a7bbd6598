// The page of a method whose records hold centred Gram matrices (its view's `page`): numbers
// across steps and runs instead of a grid of channels. Linear CKA (Kornblith et al. 2019) comes
// from the plugin's /cka route: a layer × step heat map of each layer's CKA with its own state
// at the shown step (the latest while live: how settled each layer is), the chosen layer's
// step × step matrix, and with "Compare with" the layer's CKA between runs at the same epoch.

import {ApiError, fetchCka, fetchCkaBetween} from './api.js';
import {h, svg} from './dom.js';

// Viridis, dark = 0 (unrelated) to yellow = 1 (the same up to a rotation and a scale).
const SCALE = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const LABEL_WIDTH = 160;

/** A CSS colour for a CKA value in [0, 1]. */
export function colourOf(value) {
  const at = Math.max(0, Math.min(1, value)) * (SCALE.length - 1);
  const low = Math.min(SCALE.length - 2, Math.floor(at));
  const t = at - low;
  const rgb = SCALE[low].map((c, i) => Math.round(c + t * (SCALE[low + 1][i] - c)));
  return `rgb(${rgb.join(', ')})`;
}

/** CKA as people read it close to 1: four decimals. */
export function formatCka(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(4) : '–';
}

/** The page for the dashboard's state (`app`: the Dashboard); resolves to its element. */
export async function similarityPage(app) {
  const s = app.state;
  const others = app.shownRuns().filter((run) => run !== s.run);
  const [main, ...compared] = await Promise.all([
    fetchCka(s.run, s.method, s.layer, app.steps().includes(s.step) && !s.follow ? s.step : undefined)
        .catch((error) => ({error})),
    ...others.map((run) => fetchCkaBetween(s.run, s.method, s.layer, run).catch((error) => ({error, compare: run}))),
  ]);
  if (main.error) return h('section', {class: 'cka-page'}, h('p', {class: 'error'}, messageOf(main.error)));
  const axis = app.axis();
  const when = (step) => axis.detail(step);
  const readout = h('p', {class: 'readout cka-readout', 'aria-live': 'polite'}, 'hover a cell for its CKA');
  const settledText = (layer) => (layer.settled === null ? 'its record at the reference could not be read' :
    `≥ ${main.threshold} from ${axis.label(layer.settled)}`);
  const map = heatMap({
    kind: 'layers',
    columns: main.steps,
    rows: main.layers.map((layer) => ({
      label: layer.name,
      note: settledText(layer),
      current: layer.name === s.layer,
      onClick: () => app.setLayer(layer.name),
      cells: layer.cka.map((value, i) => ({
        value,
        mark: main.steps[i] === layer.settled,
        text: `${layer.name} at ${when(main.steps[i])}: CKA ${formatCka(value)} with its state at ` +
              `${axis.label(main.reference)}`,
      })),
    })),
    marked: main.steps.indexOf(main.reference),
    tick: (step) => axis.caption(step),
    readout,
  });
  const probes = main.layers.find((layer) => layer.probes)?.probes;
  const parts = [
    h('h3', {class: 'panel-title'}, `How settled each layer is · ${s.run}`),
    h('p', {class: 'panel-legend'},
        `Each cell: linear CKA between a layer's representation of the ${probes || ''} probe images at that ` +
        `step and its own at ${axis.detail(main.reference)}${s.follow ? ' (the latest: live)' : ''}; ` +
        `1 = the same up to a rotation and a scale. Outlined: from where it stays ≥ ${main.threshold}. ` +
        'Click a layer for its step × step matrix; move the slider to compare with another step.' +
        (main.recorded > main.steps.length ? ` ${main.steps.length} of the ${main.recorded} recorded steps, ` +
          'evenly spaced.' : '')),
    scaleLegend(),
    map,
  ];
  if (main.matrix) {
    const steps = main.matrix.steps;
    parts.push(h('h3', {class: 'panel-title'}, `${main.matrix.layer}: every recorded step against every other`),
        heatMap({
          kind: 'matrix',
          columns: steps,
          rows: main.matrix.cka.map((row, i) => ({
            label: axis.caption(steps[i]),
            cells: row.map((value, j) => ({
              value,
              text: `${main.matrix.layer}: ${when(steps[i])} vs ${when(steps[j])}: CKA ${formatCka(value)}`,
            })),
          })),
          square: true,
          tick: (step) => axis.caption(step),
          readout,
        }));
  }
  if (others.length && s.layer) {
    parts.push(h('h3', {class: 'panel-title'}, `${s.layer} between runs, at the same epoch`),
        h('p', {class: 'panel-legend'}, `CKA between ${s.run}'s ${s.layer} and the same layer of each ` +
          'compared run when both reached the same epoch (on the same probe images): do they learn the same ' +
          'representation?'),
        heatMap({kind: 'runs', columns: main.steps, rows: compared.map((answer) => comparison(app, answer, main.steps)),
          tick: (step) => axis.caption(step), readout}));
  }
  parts.push(readout);
  const problems = main.problems || [];
  if (problems.length) {
    parts.push(h('p', {class: 'warning', title: problems.join('\n')},
        `Some records could not be compared: ${problems.slice(0, 3).join('; ')}` +
        (problems.length > 3 ? `; and ${problems.length - 3} more` : '')));
  }
  return h('section', {class: 'cka-page', dataset: {run: s.run}}, parts);
}

/** One compared run's row: the layer's CKA with the main run at each epoch both recorded. */
function comparison(app, answer, steps) {
  const run = answer.compare;
  const axis = app.axis();
  const other = app.axis(run);
  const byStep = new Map((answer.pairs || []).map((pair) => [pair.step, pair]));
  const note = answer.error ? messageOf(answer.error) :
    answer.same_probes === false ? 'other probe images: not comparable' : '';
  return {
    label: run,
    colour: app.colour(run),
    note,
    noteTitle: answer.error ? note : (answer.problems || []).join('\n'),
    cells: steps.map((step) => {
      const pair = byStep.get(step);
      return {
        value: pair ? pair.cka : null,
        text: pair ? `${answer.layer || app.state.layer} at ${axis.label(step)}: ${app.state.run} (step ${step}) ` +
                     `vs ${run} (${other.detail(pair.other_step)}): CKA ${formatCka(pair.cka)}` :
          `${run}: no record at ${axis.label(step)}${note ? ` (${note})` : ''}`,
      };
    }),
  };
}

/**
 * A heat map of CKA values: rows of cells over `columns` (steps), a label (and note) per row,
 * every cell's number in its tooltip and, on hover, in `readout`.
 */
function heatMap({kind, columns, rows, marked = -1, square = false, tick, readout}) {
  const wide = Math.max(240, (document.body.clientWidth || 1000) - LABEL_WIDTH - 260);
  const available = square ? Math.min(wide, 600) : wide;  // a matrix stays on a screen, its rows too
  const width = Math.max(square ? 3 : 4, Math.min(28, Math.floor(available / Math.max(1, columns.length))));
  const height = square ? width : 22;
  const labelEvery = Math.ceil(14 / height);  // rows too thin for a label each: every few
  const plot = svg('svg', {class: `cka-map cka-${kind}`, width: columns.length * width,
                           height: rows.length * height + 18, role: 'img',
                           'aria-label': `CKA heat map, ${rows.length} × ${columns.length}`});
  rows.forEach((row, r) => row.cells.forEach((cell, c) => {
    const known = typeof cell.value === 'number';
    const rect = svg('rect', {x: c * width, y: r * height, width, height,
                              class: `cka-cell${known ? '' : ' cka-none'}${cell.mark ? ' cka-mark' : ''}`,
                              'data-row': r, 'data-column': c, 'data-value': known ? cell.value : '',
                              'data-readout': cell.text},
    svg('title', {}, cell.text));
    if (known) rect.setAttribute('fill', colourOf(cell.value));
    plot.append(rect);
  }));
  if (marked >= 0) {
    plot.append(svg('rect', {class: 'cka-reference', x: marked * width, y: 0, width, height: rows.length * height}));
  }
  const every = Math.max(1, Math.ceil(columns.length / Math.max(1, Math.floor(columns.length * width / 48))));
  columns.forEach((column, c) => {
    if (c % every === 0 || c === columns.length - 1 && c % every > every / 2) {
      plot.append(svg('text', {x: c * width + width / 2, y: rows.length * height + 13, 'text-anchor': 'middle'},
          tick(column)));
    }
  });
  plot.addEventListener('mouseover', (event) => {
    const text = event.target.getAttribute && event.target.getAttribute('data-readout');
    if (text) readout.textContent = text;
  });
  const labels = h('div', {class: 'cka-labels', style: `width: ${LABEL_WIDTH}px`}, rows.map((row, r) =>
    h(row.onClick ? 'button' : 'span', {
      type: row.onClick ? 'button' : null, class: `cka-label${row.current ? ' current' : ''}`,
      style: `height: ${height}px; line-height: ${height}px`, title: row.label,
      onclick: row.onClick || null,
    }, row.colour ? h('span', {class: 'swatch', style: `background: ${row.colour}`}) : null,
    r % labelEvery === 0 ? row.label : '')));
  const notes = rows.some((row) => row.note) ?
    h('div', {class: 'cka-notes'}, rows.map((row) => h('span', {class: 'cka-note', title: row.noteTitle || null,
      style: `height: ${height}px; line-height: ${height}px`}, row.note || ''))) : null;
  return h('div', {class: `cka-heat cka-heat-${kind}`}, labels, h('div', {class: 'cka-plot'}, plot), notes);
}

/** The colour scale, 0 to 1, with the threshold's place. */
function scaleLegend() {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((v) => `${colourOf(v)} ${v * 100}%`).join(', ');
  return h('div', {class: 'cka-scale'}, h('span', {}, 'CKA 0'),
      h('span', {class: 'colour-bar', style: `background: linear-gradient(to right, ${stops})`}),
      h('span', {}, '1'), h('span', {class: 'muted'}, ' (gray: no record, or records not comparable)'));
}

function messageOf(error) {
  return error instanceof ApiError ? error.message : String(error && error.message || error);
}
