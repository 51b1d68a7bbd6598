// tb-featviz dashboard: TensorBoard imports this module in the plugin's iframe and calls render().
// Pick runs, a layer and a method; scrub or play the epochs; click a tile to follow one channel
// through training beside the run's own loss and accuracy; compare any number of runs side by
// side. New epochs appear while training runs; the view lives in the URL.

import {Axis} from './axis.js';
import {fetchRun, fetchRuns, onActivity} from './api.js';
import {PALETTE} from './chart.js';
import {h, replace} from './dom.js';
import {evolutionMethods} from './evolution_panel.js';
import {CONTRASTS} from './contrast.js';
import {panelMethods} from './panels.js';
import {PLAY_SPEEDS, playbackMethods} from './playback.js';
import {Poller} from './poller.js';
import {RunPicker, fillSelect, runMatcher} from './runpicker.js';
import {followTheme} from './theme.js';
import {readUrlState, writeUrlState} from './urlstate.js';
import {viewOf} from './views.js';

const NO_FORMAT = {name: '', label: '', roles: [], headline: '', meaning: '', missing: '', item: 'channel',
                   role_labels: {}, stretchable: []};

export async function render() {
  const stylesheet = h('link', {rel: 'stylesheet', href: new URL('./style.css', import.meta.url).href});
  document.head.append(stylesheet);
  followTheme();
  const app = new Dashboard(document.body);
  window.featviz = app;  // for debugging from the console (and for the browser tests)
  await app.start();
}

class Dashboard {
  constructor(root) {
    this.state = {
      runs: [], filter: '', run: null, compare: [], layer: null, method: null, step: null,
      follow: true, channel: null, channelRun: null, channelStep: null, role: null, tileSize: 96,
      contrast: 'absolute', playMs: 700,
    };
    this.details = new Map();  // run name → its /run answer
    this.grids = new Map();  // run name → the /grid answer shown for it
    this.listingText = '';
    this.detailsText = '';
    this.formats = {};  // method name → its format (/runs): label, roles, headline number, item
    this.methods = [];  // method names in the engine's order
    this.gridToken = 0;
    this.evolutionToken = 0;
    this.evolution = null;
    this.playTimer = null;
    this.build(root);
  }

  // ---- layout -----------------------------------------------------------------------------

  build(root) {
    const s = this.state;
    this.picker = new RunPicker({
      onRun: (run) => this.setRun(run),
      onCompare: (runs) => this.setCompare(runs),
      onFilter: (filter) => {
        const before = this.shownRuns().join('\n');
        s.filter = filter;
        this.renderControls();
        if (this.shownRuns().join('\n') !== before) this.afterSeriesChange();
        this.saveUrl();
      },
    });
    this.layerSelect = h('select', {id: 'layer', onchange: (e) => this.setLayer(e.target.value)});
    this.methodButtons = h('div', {class: 'methods', role: 'radiogroup'});
    this.tileInput = h('input', {type: 'range', id: 'tile-size', min: '48', max: '256', step: '8',
      value: String(s.tileSize), 'aria-label': 'tile size',
      oninput: (e) => this.setTileSize(Number(e.target.value))});
    this.contrastSelect = h('select', {id: 'contrast', 'aria-label': 'contrast',
      onchange: (e) => this.update({contrast: e.target.value})},
    Object.entries(CONTRASTS).map(([value, label]) => h('option', {value}, label)));
    this.playButton = h('button', {type: 'button', id: 'play', 'aria-label': 'play',
      title: 'play the epochs', onclick: () => this.togglePlay()}, '▶');
    this.speedSelect = h('select', {id: 'play-speed', 'aria-label': 'play speed', title: 'play speed',
      onchange: (e) => this.setPlaySpeed(Number(e.target.value))},
    PLAY_SPEEDS.map(([value, label]) => h('option', {value}, label)));
    this.slider = h('input', {type: 'range', id: 'epoch', min: '0', max: '0', value: '0',
      'aria-label': 'epoch', oninput: (e) => this.setStepIndex(Number(e.target.value))});
    this.epochLabel = h('span', {id: 'epoch-label', class: 'epoch-label'});
    this.liveLabel = h('span', {class: 'live', title: 'new epochs are shown as they arrive'});
    this.loading = h('span', {id: 'loading', class: 'loading', role: 'status', hidden: true}, 'loading…');
    onActivity((count) => {
      this.loading.hidden = count === 0;
    });
    this.problems = h('div', {class: 'problems'});
    this.panels = h('div', {class: 'panels'});
    this.evolutionArea = h('div', {class: 'evolution-area'});
    // Two fixed rows (which runs; what of them), so that the layout never jumps as text changes.
    this.toolbar = h('div', {class: 'toolbar'},
        h('div', {class: 'toolbar-row'}, this.picker.element),
        h('div', {class: 'toolbar-row'},
            h('label', {}, 'Layer ', this.layerSelect),
            this.methodButtons,
            h('label', {class: 'for-grids'}, 'Images ', this.contrastSelect),
            h('label', {class: 'tile-size for-grids'}, 'Tile size ', this.tileInput)));
    this.epochBar = h('div', {class: 'epoch-bar'},
        this.playButton, this.speedSelect, this.slider, this.epochLabel, this.liveLabel, this.loading);
    this.main = h('main', {}, this.problems, this.panels);
    replace(root, h('div', {class: 'featviz'},
        this.toolbar, this.epochBar, this.main, this.evolutionArea));
    this.applyTileSize();
    document.addEventListener('keydown', (event) => this.onKey(event));
    // While the evolution panel is open, scrolling (by focus or to a chosen tile) keeps clear of
    // it, whatever its height once its images and charts are in.
    new ResizeObserver(() => {
      const height = this.evolution ? this.evolutionArea.getBoundingClientRect().height : 0;
      document.documentElement.style.scrollPaddingBottom = height ? `${height + 8}px` : '';
    }).observe(this.evolutionArea);
    // Panel titles stick just under the (sticky) epoch bar, whatever its height.
    new ResizeObserver(() => document.documentElement.style.setProperty(
        '--bar-height', `${this.epochBar.getBoundingClientRect().height}px`)).observe(this.epochBar);
  }

  async start() {
    this.restoreUrl();
    await this.refresh();
    this.poller = new Poller(() => this.refresh());
    this.poller.start();
  }

  // ---- the URL ------------------------------------------------------------------------------

  restoreUrl() {
    const saved = readUrlState();
    const s = this.state;
    if (saved.run) s.run = saved.run;
    if (saved.filter) s.filter = saved.filter;
    if (saved.compare) {
      try {
        const list = JSON.parse(saved.compare);
        if (Array.isArray(list)) s.compare = list.filter((n) => typeof n === 'string');
      } catch (error) {
        // a hand-edited link: ignore the comparison
      }
    }
    if (saved.layer) s.layer = saved.layer;
    if (/^[a-z_]+$/.test(saved.method || '')) s.method = saved.method;  // checked against the run's methods
    if (/^\d+$/.test(saved.step || '')) {
      s.step = Number(saved.step);
      s.follow = false;
    }
    if (/^\d+$/.test(saved.channel || '')) {
      s.channel = Number(saved.channel);
      s.channelRun = saved.channelRun || s.run;
      if (/^\d+$/.test(saved.channelStep || '') && s.channelRun !== s.run) s.channelStep = Number(saved.channelStep);
    }
    if (saved.role) s.role = saved.role;
    if (saved.contrast in CONTRASTS) s.contrast = saved.contrast;
    if (PLAY_SPEEDS.some(([ms]) => ms === saved.speed)) s.playMs = Number(saved.speed);
    if (/^\d+$/.test(saved.tile || '')) s.tileSize = Math.max(48, Math.min(256, Number(saved.tile)));
    this.tileInput.value = String(s.tileSize);
    this.applyTileSize();
  }

  saveUrl() {
    const s = this.state;
    writeUrlState({
      run: s.run, filter: s.filter, compare: s.compare.length ? JSON.stringify(s.compare) : null,
      layer: s.layer, method: s.method, step: s.follow ? null : s.step,
      channel: s.channel, channelRun: s.channel !== null && s.channelRun !== s.run ? s.channelRun : null,
      channelStep: s.channel !== null && s.channelRun !== s.run ? s.channelStep : null,
      role: s.channel !== null ? s.role : null,
      contrast: s.contrast === 'absolute' ? null : s.contrast,
      speed: s.playMs === 700 ? null : s.playMs,
      tile: s.tileSize === 96 ? null : s.tileSize,
    });
  }

  // ---- data -------------------------------------------------------------------------------

  /** The main run, then the compared runs that match the run filter (the others stay ticked). */
  shownRuns() {
    const s = this.state;
    const matcher = runMatcher(s.filter);
    return s.run ? [s.run, ...s.compare.filter((r) => r !== s.run && matcher.test(r))] : [];
  }

  /** Reloads the run list and the shown runs; keeps every selection that still exists.
   *  Resolves true when something changed (the poller backs off otherwise). */
  async refresh() {
    let listing;
    try {
      listing = await fetchRuns();
    } catch (error) {
      this.showMessage(`Could not load the run list: ${error.message}`);
      return true;
    }
    const s = this.state;
    const listingText = JSON.stringify(listing);
    const listingChanged = listingText !== this.listingText;
    this.listingText = listingText;
    this.formats = listing.formats || {};
    this.methods = listing.methods || Object.keys(this.formats);
    s.runs = listing.runs;
    const names = new Set(s.runs.map((r) => r.name));
    if (!names.has(s.run)) s.run = s.runs.length ? s.runs[0].name : null;
    s.compare = s.compare.filter((r) => names.has(r) && r !== s.run);
    if (s.channel !== null && !s.channelRun) s.channelRun = s.run;
    if (!s.runs.length) {
      this.renderControls();
      this.renderProblems();
      this.showEmpty();
      return listingChanged;
    }
    const previousSteps = this.steps().join(',');
    const detailsChanged = await this.loadDetails();
    if (!listingChanged && !detailsChanged) return false;
    this.chooseLayerAndMethod();
    const steps = this.steps();
    const before = s.step;
    if (s.follow || !steps.includes(s.step)) s.step = steps.length ? steps[steps.length - 1] : null;
    if (before !== null && s.step !== before) s.channelStep = null;  // new records moved the page
    this.renderControls();
    this.renderProblems();
    await this.loadGrids();
    if (s.channel !== null && steps.join(',') !== previousSteps) await this.loadEvolution();
    this.saveUrl();
    return true;
  }

  /** Fetches /run for every shown run; true when any answer changed. */
  async loadDetails() {
    const runs = this.shownRuns();
    const answers = await Promise.all(runs.map((run) => fetchRun(run).catch((error) => ({
      name: run, layers: [], problems: [error.message],
    }))));
    this.details = new Map(answers.map((answer, i) => [runs[i], answer]));
    this.axes = new Map(answers.map((answer, i) => [runs[i], new Axis(answer.axis || [])]));
    const text = JSON.stringify(answers);
    const changed = text !== this.detailsText;
    this.detailsText = text;
    return changed;
  }

  chooseLayerAndMethod() {
    const s = this.state;
    const layers = this.details.get(s.run)?.layers || [];
    if (!layers.some((l) => l.name === s.layer)) {
      s.layer = layers.length ? layers[0].name : null;
      s.channel = null;
    }
    const methods = this.layerInfo()?.methods || {};
    if (!(s.method in methods)) {
      if (s.method !== null) s.channel = null;  // a link without a method keeps its channel
      s.method = this.methods.find((m) => m in methods) || Object.keys(methods)[0] || null;
    }
    if (s.method && !(s.role && this.roles().includes(s.role))) s.role = this.roles()[0];
  }

  layerInfo(runName = this.state.run) {
    const detail = this.details.get(runName);
    return detail ? detail.layers.find((l) => l.name === this.state.layer) || null : null;
  }

  /** Where in training each step of a run is (epochs with their fraction). */
  axis(runName = this.state.run) {
    return (this.axes && this.axes.get(runName)) || new Axis();
  }

  steps(runName = this.state.run) {
    const layer = this.layerInfo(runName);
    const series = layer && this.state.method ? layer.methods[this.state.method] : null;
    return series ? series.steps : [];
  }

  /** The method's format from /runs (every method with records has one); before the first
   *  listing, none: no roles, no words. */
  format(method = this.state.method) {
    return this.formats[method] || NO_FORMAT;
  }

  /** The image roles of the shown records (an occlusion record of a feature layer has no class
   *  map), else the method's. */
  roles() {
    const grid = this.grids.get(this.state.run);
    if (grid && grid.layer === this.state.layer && grid.method === this.state.method && grid.roles.length) {
      return grid.roles;
    }
    const roles = this.format().roles;
    return roles && roles.length ? roles : ['image'];
  }

  /** One colour per run for as long as the run list stands, wherever the run is shown
   *  (TensorBoard's convention): by its place in the whole sorted list. */
  colour(run) {
    const index = this.state.runs.findIndex((r) => r.name === run);
    return PALETTE[Math.max(0, index) % PALETTE.length];
  }

  // ---- user actions ------------------------------------------------------------------------

  update(changes) {
    Object.assign(this.state, changes);
    this.renderControls();
    this.loadGrids();
    if (this.state.channel !== null && 'contrast' in changes) this.loadEvolution();
    this.saveUrl();
  }

  async setRun(run) {
    const s = this.state;
    s.run = run;
    s.compare = s.compare.filter((r) => r !== run);
    if (s.channelRun !== run && !s.compare.includes(s.channelRun)) s.channel = null;
    await this.loadDetails();
    this.afterSeriesChange();
  }

  async setCompare(runs) {
    const s = this.state;
    s.compare = runs.filter((r) => r !== s.run);
    if (s.channel !== null && s.channelRun !== s.run && !s.compare.includes(s.channelRun)) {
      s.channelRun = s.run;
    }
    await this.loadDetails();
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
    s.channelStep = null;
    this.chooseLayerAndMethod();
    const steps = this.steps();
    if (s.follow || !steps.includes(s.step)) s.step = steps.length ? steps[steps.length - 1] : null;
    this.renderControls();
    this.loadGrids();
    if (s.channel !== null) this.loadEvolution();
    else this.clearEvolution();
    this.saveUrl();
  }

  /** Shows the main run's `index`-th record; the compared runs follow at the same epoch, except
   *  the chosen channel's run at `channelStep` when one of its own frames was picked. */
  setStepIndex(index, channelStep = null) {
    const steps = this.steps();
    if (!steps.length) return;
    index = Math.max(0, Math.min(steps.length - 1, index));
    this.state.step = steps[index];
    this.state.follow = index === steps.length - 1;
    this.state.channelStep = channelStep;
    this.renderEpoch();
    this.loadGrids();
    if (this.evolution) this.evolution.setStep(this.stepFor(this.evolutionRun()));
    this.saveUrl();
  }

  setStep(step) {
    const index = this.steps().indexOf(step);
    if (index >= 0) this.setStepIndex(index);
  }

  /** A frame (or chart point) of the open evolution was picked: `step` is a step of `run`, the
   *  channel's run. A compared run's step is its own: the main run moves to the same epoch (steps
   *  per epoch differ between runs), or to its last record before it when it has none there. */
  pickStep(run, step) {
    if (run === this.state.run) {
      this.setStep(step);
      return;
    }
    const steps = this.steps();
    if (!steps.length || !this.steps(run).includes(step)) return;
    const main = this.axis();
    const other = this.axis(run);
    const byEpoch = main.byEpoch && other.byEpoch;
    const when = byEpoch ? other.epoch(step) : step;
    const whenOf = (mainStep) => (byEpoch ? main.epoch(mainStep) : mainStep);
    let index = 0;
    steps.forEach((mainStep, i) => {
      if (whenOf(mainStep) <= when + 1e-9) index = i;
    });
    this.setStepIndex(index, this.stepForEpoch(run, steps[index]) === step ? null : step);
  }

  /** The run whose channel the evolution shows: the clicked one while it is shown. */
  evolutionRun() {
    const s = this.state;
    return this.shownRuns().includes(s.channelRun) ? s.channelRun : s.run;
  }

  selectChannel(channel, run) {
    const moved = this.state.channelStep !== null && run !== this.state.channelRun;
    this.state.channel = channel;
    this.state.channelRun = run;
    if (moved) {  // the run shown at a frame picked in its evolution goes back to the main epoch
      this.state.channelStep = null;
      this.loadGrids();
    }
    this.markSelected();
    this.loadEvolution();
    this.saveUrl();
  }

  markSelected() {
    const s = this.state;
    for (const tile of this.panels.querySelectorAll('.tile')) {
      const panel = tile.closest('.panel');
      tile.classList.toggle('selected', s.channel !== null && panel.dataset.run === s.channelRun &&
          Number(tile.dataset.channel) === s.channel);
    }
  }

  setTileSize(size) {
    this.state.tileSize = size;
    this.applyTileSize();
    this.saveUrl();
  }

  applyTileSize() {
    this.main.style.setProperty('--tile-size', `${this.state.tileSize}px`);
  }

  // ---- rendering ---------------------------------------------------------------------------

  renderControls() {
    const s = this.state;
    this.picker.render(s.runs.map((r) => r.name), {filter: s.filter, run: s.run, compared: s.compare});
    const layers = this.details.get(s.run)?.layers || [];
    fillSelect(this.layerSelect, layers.map((l) => l.name), s.layer);
    this.contrastSelect.value = s.contrast;
    this.toolbar.classList.toggle('page-view', Boolean(viewOf(s.method).page));  // no tiles: no image controls
    this.speedSelect.value = String(s.playMs);
    const methods = this.layerInfo()?.methods || {};
    const shown = [...this.methods, ...Object.keys(methods).filter((m) => !this.methods.includes(m))];
    replace(this.methodButtons, shown.map((method) => h('button', {
      type: 'button',
      role: 'radio',
      class: method === s.method ? 'active' : '',
      'aria-checked': String(method === s.method),
      dataset: {method},
      disabled: !(method in methods),
      title: method in methods ? this.format(method).label : this.format(method).missing,
      onclick: () => this.setMethod(method),
    }, this.format(method).label)));
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
      `${this.axis().detail(this.state.step)} · ${index + 1} of ${steps.length} recorded` : 'no records yet';
    this.slider.setAttribute('aria-valuetext', steps.length ? this.axis().label(this.state.step) : '');
    this.liveLabel.textContent = this.state.follow ? '● live' : '';
  }
}

// The page's other parts, each in a file of its own (they use `this` as the Dashboard).
Object.assign(Dashboard.prototype, panelMethods, evolutionMethods, playbackMethods);
