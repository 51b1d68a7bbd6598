// The panels of the page: one grid per shown run at the shown step (its own step in a run of
// other batches per epoch), the empty page, and the line of records that could not be read.
// Methods of the Dashboard (index.js), kept here so that each file has one job.

import {ApiError, fetchGrid} from './api.js';
import {h, replace} from './dom.js';
import {describeGrid, legendOf, renderGrid} from './grid.js';
import {numberFormat} from './numbers.js';
import {viewOf} from './views.js';

export const panelMethods = {
  renderProblems() {
    const s = this.state;
    const messages = [];
    for (const run of s.runs) {
      const shown = this.details.get(run.name);
      const problems = shown ? shown.problems : run.problems;
      for (const problem of problems) messages.push(`${run.name}: ${problem}`);
    }
    const text = messages.length > 3 ?
      `${messages.slice(0, 3).join('; ')}; and ${messages.length - 3} more` : messages.join('; ');
    replace(this.problems, messages.length ?
      h('p', {class: 'warning', title: messages.join('\n')}, `Some records could not be read: ${text}`) :
      null);
  },

  showEmpty() {
    replace(this.panels, h('div', {class: 'empty'},
        h('h2', {}, 'No feature visualizations yet'),
        h('p', {}, 'Add the callback to your training and point TensorBoard at its logdir:'),
        h('pre', {}, 'from tb_featviz import FeatVizCallback\n' +
                     'model.fit(x, y, epochs=20, callbacks=[\n' +
                     '    FeatVizCallback(log_dir="runs/exp1", layers=["conv1", "conv2"],\n' +
                     '                    probe_images=x_val[:256])])'),
        h('p', {}, 'This page checks for new data every few seconds.')));
    this.clearEvolution();
  },

  showMessage(text) {
    replace(this.panels, h('div', {class: 'empty'}, h('p', {class: 'error'}, text)));
  },

  async loadGrids() {
    const s = this.state;
    if (!s.run || !s.layer || !s.method) {
      if (s.runs.length) this.showMessage('This run has no feature visualizations to show.');
      return;
    }
    const token = ++this.gridToken;
    const page = viewOf(s.method).page;
    if (page) {  // a method whose view is a page of its own: the shown runs and step, drawn its way
      const element = await page(this);
      if (token !== this.gridToken) return;
      this.panels.classList.remove('side-by-side');
      replace(this.panels, element);
      return;
    }
    const runs = this.shownRuns();
    const answers = await Promise.all(runs.map((run) => this.fetchPanel(run)));
    if (token !== this.gridToken) return;  // a newer request superseded this one
    // One number format for every panel shown together, so that runs compare at a glance.
    const headline = this.format().headline;
    const format = numberFormat(answers.flatMap((a) => (a.grid && a.grid.numbers[headline]) || []));
    this.panels.classList.toggle('side-by-side', runs.length > 1);
    this.panels.style.setProperty('--columns', String(Math.min(runs.length, 3)));
    replace(this.panels, answers.map((answer) => this.renderPanel(answer, format)));
    this.markSelected();
  },

  /** The step of `run` to show beside the main run's: the frame picked in the channel's
   *  evolution (`channelStep`), else the same epoch when both runs say their epochs (runs with
   *  other batch sizes reach it at other steps), else the same step. */
  stepFor(run) {
    const s = this.state;
    if (run === s.run) return s.step;
    if (run === s.channelRun && s.channel !== null && s.channelStep !== null &&
        this.steps(run).includes(s.channelStep)) {
      return s.channelStep;
    }
    return this.stepForEpoch(run, s.step);
  },

  /** `run`'s step at the main run's `mainStep` (by epoch, else the same step), or null. */
  stepForEpoch(run, mainStep) {
    if (run === this.state.run) return mainStep;
    const main = this.axis();
    const other = this.axis(run);
    const epoch = main.epoch(mainStep);
    const step = main.byEpoch && other.byEpoch && epoch !== null ? other.stepAt(epoch) : mainStep;
    return step !== null && this.steps(run).includes(step) ? step : null;
  },

  /** {run, grid} for a run with a record at the shown epoch, else {run, message}. */
  async fetchPanel(run) {
    const s = this.state;
    const step = this.stepFor(run);
    if (step === null) {
      const message = this.layerInfo(run) ?
        `no ${this.format().label} record at ${this.axis().label(s.step)} (step ${s.step} of ${s.run})` :
        `no layer ${s.layer} in this run`;
      return {run, message, empty: true};
    }
    try {
      const grid = await fetchGrid(run, s.layer, s.method, step);
      this.grids.set(run, grid);
      return {run, grid};
    } catch (error) {
      return {run, message: error instanceof ApiError ? error.message : String(error)};
    }
  },

  renderPanel({run, grid, message, empty}, format) {
    // Beside other runs, each panel says where in its own training it is.
    const where = grid && this.shownRuns().length > 1 ?
      h('span', {class: 'panel-step'}, ` · ${this.axis(run).detail(grid.step)}`) : null;
    const title = h('h3', {class: 'panel-title'},
        h('span', {class: 'swatch', style: `background: ${this.colour(run)}`}), run, where);
    const panel = (...content) => h('section', {class: 'panel', dataset: {run}}, title, ...content);
    if (!grid) return panel(h('p', {class: empty ? 'empty' : 'error'}, message));
    try {
      return this.renderGridPanel(panel, run, grid, format);
    } catch (error) {  // a record this page cannot draw loses only its own panel, and says why
      return panel(h('p', {class: 'error'}, `This record could not be drawn: ${error.message}`));
    }
  },

  renderGridPanel(panel, run, grid, format) {
    const s = this.state;
    return panel(
        h('p', {class: 'panel-legend'}, describeGrid(grid, s.contrast, this.format())),
        legendOf(grid),
        renderGrid(grid, {
          selected: run === s.channelRun ? s.channel : null,
          onSelect: (channel) => this.selectChannel(channel, run),
          contrast: s.contrast,
          format: this.format(),
          numbers: format,
          moment: this.axis(run).detail(grid.step),
        }));
  },
};
