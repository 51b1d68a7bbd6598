// tb-featviz dashboard: TensorBoard imports this module in the plugin's iframe and calls render().
// Pick a run, layer and method; scrub or play the epochs; click a tile to follow one channel
// through training; compare two runs side by side. New epochs appear while training runs.

import {ApiError, fetchEvolution, fetchGrid, fetchRuns} from './api.js';
import {h, replace} from './dom.js';
import {renderEvolution} from './evolution.js';
import {CONTRASTS} from './contrast.js';
import {describeGrid, renderGrid} from './grid.js';

const POLL_MS = 5000;
const PLAY_MS = 700;
const METHOD_LABELS = {am: 'Activation max.', deconv: 'Deconvnet', weights: 'Weights'};
const MISSING_METHOD_HINT = {
  am: 'no activation-maximization records for this layer',
  deconv: 'no deconvnet records: pass probe_images=... to FeatVizCallback',
  weights: 'this layer has no filter weights to show',
};

export async function render() {
  const stylesheet = h('link', {rel: 'stylesheet', href: new URL('./style.css', import.meta.url).href});
  document.head.append(stylesheet);
  const app = new Dashboard(document.body);
  window.featviz = app;  // for debugging from the console (and for the browser tests)
  await app.start();
}

class Dashboard {
  constructor(root) {
    this.state = {
      runs: [], run: null, compare: '', layer: null, method: null, step: null,
      follow: true, channel: null, role: null, tileSize: 96, contrast: 'absolute',
    };
    this.listingText = '';
    this.rolesByMethod = {};
    this.gridToken = 0;
    this.evolutionToken = 0;
    this.playTimer = null;
    this.build(root);
  }

  // ---- layout -----------------------------------------------------------------------------

  build(root) {
    const s = this.state;
    this.runSelect = h('select', {id: 'run', onchange: (e) => this.setRun(e.target.value)});
    this.compareSelect = h('select', {id: 'compare',
      onchange: (e) => this.update({compare: e.target.value})});
    this.layerSelect = h('select', {id: 'layer', onchange: (e) => this.setLayer(e.target.value)});
    this.methodButtons = h('div', {class: 'methods', role: 'radiogroup'});
    this.tileInput = h('input', {type: 'range', id: 'tile-size', min: '48', max: '256', step: '8',
      value: String(s.tileSize), 'aria-label': 'tile size',
      oninput: (e) => this.setTileSize(Number(e.target.value))});
    this.contrastSelect = h('select', {id: 'contrast', 'aria-label': 'contrast',
      onchange: (e) => this.update({contrast: e.target.value})},
    Object.entries(CONTRASTS).map(([value, label]) => h('option', {value}, label)));
    this.playButton = h('button', {type: 'button', id: 'play', onclick: () => this.togglePlay()}, '▶');
    this.slider = h('input', {type: 'range', id: 'epoch', min: '0', max: '0', value: '0',
      'aria-label': 'epoch', oninput: (e) => this.setStepIndex(Number(e.target.value))});
    this.epochLabel = h('span', {id: 'epoch-label', class: 'epoch-label'});
    this.liveLabel = h('span', {class: 'live', title: 'new epochs are shown as they arrive'});
    this.problems = h('div', {class: 'problems'});
    this.panels = h('div', {class: 'panels'});
    this.evolutionArea = h('div', {class: 'evolution-area'});
    this.toolbar = h('div', {class: 'toolbar'},
        h('label', {}, 'Run ', this.runSelect),
        h('label', {}, 'Layer ', this.layerSelect),
        this.methodButtons,
        h('label', {}, 'Compare with ', this.compareSelect),
        h('label', {}, 'Images ', this.contrastSelect),
        h('label', {class: 'tile-size'}, 'Tile size ', this.tileInput));
    this.epochBar = h('div', {class: 'epoch-bar'},
        this.playButton, this.slider, this.epochLabel, this.liveLabel);
    this.main = h('main', {}, this.problems, this.panels);
    replace(root, h('div', {class: 'featviz'},
        this.toolbar, this.epochBar, this.main, this.evolutionArea));
    this.applyTileSize();
  }

  async start() {
    await this.refreshRuns();
    this.pollTimer = setInterval(() => {
      if (!document.hidden) this.refreshRuns();
    }, POLL_MS);
  }

  // ---- data -------------------------------------------------------------------------------

  /** Reloads the run listing; keeps every selection that still exists. */
  async refreshRuns() {
    let listing;
    try {
      listing = await fetchRuns();
    } catch (error) {
      this.showMessage(`Could not load the run list: ${error.message}`);
      return;
    }
    const text = JSON.stringify(listing);
    if (text === this.listingText) return;
    this.listingText = text;
    this.rolesByMethod = listing.roles || {};
    const s = this.state;
    const previousSteps = this.steps().join(',');
    s.runs = listing.runs;
    if (!s.runs.some((r) => r.name === s.run)) s.run = s.runs.length ? s.runs[0].name : null;
    if (s.compare && !s.runs.some((r) => r.name === s.compare)) s.compare = '';
    this.chooseLayerAndMethod();
    const steps = this.steps();
    if (s.follow || !steps.includes(s.step)) s.step = steps.length ? steps[steps.length - 1] : null;
    this.renderControls();
    this.renderProblems();
    const stepsChanged = steps.join(',') !== previousSteps;
    if (!s.runs.length) {
      this.showEmpty();
      return;
    }
    await this.loadGrids();
    if (s.channel !== null && stepsChanged) await this.loadEvolution();
  }

  chooseLayerAndMethod() {
    const s = this.state;
    const run = this.runInfo(s.run);
    const layers = run ? run.layers : [];
    if (!layers.some((l) => l.name === s.layer)) {
      s.layer = layers.length ? layers[0].name : null;
      s.channel = null;
    }
    const methods = this.layerInfo()?.methods || {};
    if (!(s.method in methods)) {
      s.method = ['am', 'deconv', 'weights'].find((m) => m in methods) || null;
      s.channel = null;
    }
    if (s.method && !(s.role && this.roles().includes(s.role))) s.role = this.roles()[0];
  }

  runInfo(name) {
    return this.state.runs.find((r) => r.name === name) || null;
  }

  layerInfo(runName = this.state.run) {
    const run = this.runInfo(runName);
    return run ? run.layers.find((l) => l.name === this.state.layer) || null : null;
  }

  steps(runName = this.state.run) {
    const layer = this.layerInfo(runName);
    const series = layer && this.state.method ? layer.methods[this.state.method] : null;
    return series ? series.steps : [];
  }

  roles() {
    return this.rolesByMethod[this.state.method] || ['image'];
  }

  // ---- user actions ------------------------------------------------------------------------

  update(changes) {
    Object.assign(this.state, changes);
    this.renderControls();
    this.loadGrids();
  }

  setRun(run) {
    this.state.run = run;
    if (this.state.compare === run) this.state.compare = '';
    this.afterSeriesChange();
  }

  setLayer(layer) {
    this.state.layer = layer;
    this.state.channel = null;
    this.afterSeriesChange();
  }

  setMethod(method) {
    this.state.method = method;
    this.state.role = null;
    this.afterSeriesChange();
  }

  afterSeriesChange() {
    const s = this.state;
    this.chooseLayerAndMethod();
    const steps = this.steps();
    if (s.follow || !steps.includes(s.step)) s.step = steps.length ? steps[steps.length - 1] : null;
    this.renderControls();
    this.loadGrids();
    if (s.channel !== null) this.loadEvolution();
    else replace(this.evolutionArea);
  }

  setStepIndex(index) {
    const steps = this.steps();
    if (!steps.length) return;
    index = Math.max(0, Math.min(steps.length - 1, index));
    this.state.step = steps[index];
    this.state.follow = index === steps.length - 1;
    this.renderEpoch();
    this.loadGrids();
    this.markEvolutionStep();
  }

  setStep(step) {
    const index = this.steps().indexOf(step);
    if (index >= 0) this.setStepIndex(index);
  }

  togglePlay() {
    if (this.playTimer) {
      this.stopPlay();
      return;
    }
    const steps = this.steps();
    if (steps.length < 2) return;
    if (steps.indexOf(this.state.step) === steps.length - 1) this.setStepIndex(0);
    this.playButton.textContent = '❚❚';
    this.playButton.setAttribute('aria-label', 'pause');
    this.playTimer = setInterval(() => {
      const all = this.steps();
      const next = all.indexOf(this.state.step) + 1;
      if (next >= all.length) this.stopPlay();
      else this.setStepIndex(next);
    }, PLAY_MS);
  }

  stopPlay() {
    clearInterval(this.playTimer);
    this.playTimer = null;
    this.playButton.textContent = '▶';
    this.playButton.setAttribute('aria-label', 'play');
  }

  selectChannel(channel) {
    this.state.channel = channel;
    for (const tile of this.panels.querySelectorAll('.tile')) {
      tile.classList.toggle('selected', Number(tile.dataset.channel) === channel);
    }
    this.loadEvolution();
  }

  setTileSize(size) {
    this.state.tileSize = size;
    this.applyTileSize();
  }

  applyTileSize() {
    this.main.style.setProperty('--tile-size', `${this.state.tileSize}px`);
  }

  // ---- rendering ---------------------------------------------------------------------------

  renderControls() {
    const s = this.state;
    const runNames = s.runs.map((r) => r.name);
    fillSelect(this.runSelect, runNames.map((n) => [n, n]), s.run);
    fillSelect(this.compareSelect,
        [['', '— none —'], ...runNames.filter((n) => n !== s.run).map((n) => [n, n])], s.compare);
    const run = this.runInfo(s.run);
    fillSelect(this.layerSelect, (run ? run.layers : []).map((l) => [l.name, l.name]), s.layer);
    this.contrastSelect.value = s.contrast;
    const methods = this.layerInfo()?.methods || {};
    replace(this.methodButtons, ['am', 'deconv', 'weights'].map((method) => h('button', {
      type: 'button',
      role: 'radio',
      class: method === s.method ? 'active' : '',
      'aria-checked': String(method === s.method),
      dataset: {method},
      disabled: !(method in methods),
      title: method in methods ? METHOD_LABELS[method] : MISSING_METHOD_HINT[method],
      onclick: () => this.setMethod(method),
    }, METHOD_LABELS[method])));
    this.renderEpoch();
  }

  renderEpoch() {
    const steps = this.steps();
    const index = Math.max(0, steps.indexOf(this.state.step));
    this.slider.max = String(Math.max(0, steps.length - 1));
    this.slider.value = String(index);
    this.slider.disabled = steps.length < 2;
    this.playButton.disabled = steps.length < 2;
    this.epochLabel.textContent = steps.length ?
      `epoch ${this.state.step} · ${index + 1} of ${steps.length} recorded` : 'no epochs yet';
    this.liveLabel.textContent = this.state.follow ? '● live' : '';
  }

  renderProblems() {
    const messages = this.state.runs.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
    replace(this.problems, messages.length ?
      h('p', {class: 'warning'}, `Some records could not be read: ${messages.join('; ')}`) : null);
  }

  showEmpty() {
    replace(this.panels, h('div', {class: 'empty'},
        h('h2', {}, 'No feature visualizations yet'),
        h('p', {}, 'Add the callback to your training and point TensorBoard at its logdir:'),
        h('pre', {}, 'from tb_featviz import FeatVizCallback\n' +
                     'model.fit(x, y, epochs=20, callbacks=[\n' +
                     '    FeatVizCallback("runs/exp1", layers=["conv1", "conv2"],\n' +
                     '                    probe_images=x_val[:256])])'),
        h('p', {}, 'This page checks for new data every few seconds.')));
    replace(this.evolutionArea);
  }

  showMessage(text) {
    replace(this.panels, h('div', {class: 'empty'}, h('p', {}, text)));
  }

  async loadGrids() {
    const s = this.state;
    if (!s.run || !s.layer || !s.method) {
      if (s.runs.length) this.showMessage('This run has no feature visualizations to show.');
      return;
    }
    const token = ++this.gridToken;
    const runs = s.compare ? [s.run, s.compare] : [s.run];
    const panels = await Promise.all(runs.map((run) => this.loadPanel(run)));
    if (token !== this.gridToken) return;  // a newer request superseded this one
    this.panels.classList.toggle('side-by-side', runs.length > 1);
    replace(this.panels, panels);
  }

  async loadPanel(run) {
    const s = this.state;
    const title = h('h3', {class: 'panel-title'}, run);
    if (!this.steps(run).includes(s.step)) {
      const reason = this.layerInfo(run) ?
        `no ${METHOD_LABELS[s.method]} record at epoch ${s.step}` :
        `no layer ${s.layer} in this run`;
      return h('section', {class: 'panel', dataset: {run}}, title, h('p', {class: 'empty'}, reason));
    }
    try {
      const grid = await fetchGrid(run, s.layer, s.method, s.step);
      return h('section', {class: 'panel', dataset: {run}}, title,
          h('p', {class: 'panel-legend'}, describeGrid(grid, s.contrast)),
          renderGrid(grid, {
            selected: run === s.run ? s.channel : null,
            onSelect: (channel) => this.selectChannel(channel),
            contrast: s.contrast,
          }));
    } catch (error) {
      const text = error instanceof ApiError ? error.message : String(error);
      return h('section', {class: 'panel', dataset: {run}}, title, h('p', {class: 'error'}, text));
    }
  }

  async loadEvolution() {
    const s = this.state;
    if (s.channel === null) return;
    const token = ++this.evolutionToken;
    let content;
    try {
      const evolution = await fetchEvolution(s.run, s.layer, s.method, s.channel, s.role);
      content = renderEvolution(evolution, {
        step: s.step,
        contrast: s.contrast,
        roles: this.roles(),
        onStep: (step) => this.setStep(step),
        onRole: (role) => {
          this.state.role = role;
          this.loadEvolution();
        },
        onClose: () => this.closeEvolution(),
      });
    } catch (error) {
      content = h('section', {class: 'evolution'}, h('p', {class: 'error'}, error.message));
    }
    if (token !== this.evolutionToken) return;
    replace(this.evolutionArea, content);
    this.markEvolutionStep();
  }

  markEvolutionStep() {
    for (const frame of this.evolutionArea.querySelectorAll('.frame')) {
      const current = Number(frame.dataset.step) === this.state.step;
      frame.classList.toggle('current', current);
      if (current) frame.scrollIntoView({block: 'nearest', inline: 'nearest'});
    }
  }

  closeEvolution() {
    this.state.channel = null;
    this.evolutionToken++;
    replace(this.evolutionArea);
    for (const tile of this.panels.querySelectorAll('.tile.selected')) {
      tile.classList.remove('selected');
    }
  }
}

/** Sets a select's options ([value, label] pairs) and its value, without extra DOM churn. */
function fillSelect(select, options, value) {
  const current = Array.from(select.options, (o) => [o.value, o.text]);
  if (JSON.stringify(current) !== JSON.stringify(options)) {
    replace(select, options.map(([v, label]) => h('option', {value: v}, label)));
  }
  select.value = value ?? '';
  select.disabled = options.length === 0;
}
