// The evolution panel: one channel of the shown runs at every recorded step, beside the run's
// Keras curves. Methods of the Dashboard (index.js), kept here so that each file has one job.

import {fetchEvolution, fetchScalars} from './api.js';
import {h, replace} from './dom.js';
import {renderEvolution} from './evolution.js';
import {itemNames} from './grid.js';
import {viewOf} from './views.js';

export const evolutionMethods = {
  async loadEvolution() {
    const s = this.state;
    if (s.channel === null) return;
    if (viewOf(s.method).page) {  // a page of its own has no channels: the channel waits for another method
      this.clearEvolution();
      return;
    }
    const token = ++this.evolutionToken;
    const run = this.evolutionRun();
    const others = this.shownRuns().filter((r) => r !== run && this.steps(r).length);
    let content;
    try {
      const [evolution, overlays, scalars] = await Promise.all([
        fetchEvolution(run, s.layer, s.method, s.channel, s.role),
        Promise.all(others.map((other) =>
          fetchEvolution(other, s.layer, s.method, s.channel, s.role).catch(() => null))),
        fetchScalars(run).catch(() => null),
      ]);
      content = renderEvolution(evolution, {
        step: this.stepFor(run),  // the run's own step: other runs reach an epoch at other steps
        contrast: s.contrast,
        roles: this.roles(),
        format: this.format(),
        overlays: overlays.filter(Boolean),
        scalars,
        axes: this.axes,
        name: this.channelName(run),
        colours: Object.fromEntries(this.shownRuns().map((r) => [r, this.colour(r)])),
        onStep: (step) => this.pickStep(run, step),
        onRole: (role) => {
          this.state.role = role;
          this.loadEvolution();
          this.saveUrl();
        },
        onClose: () => this.closeEvolution(),
      });
    } catch (error) {
      const element = h('section', {class: 'evolution'},
          h('p', {class: 'error'}, error.message),
          h('button', {type: 'button', class: 'close', 'aria-label': 'close',
                       onclick: () => this.closeEvolution()}, '✕'));
      content = {element, setStep: () => {}};
    }
    if (token !== this.evolutionToken) return;
    this.evolution = content;
    replace(this.evolutionArea, content.element);
    content.setStep(this.stepFor(run));
    this.revealSelected();
  },

  /** Scrolls the chosen tile into the space left between the epoch bar and the evolution panel. */
  revealSelected() {
    const root = document.documentElement;
    root.style.scrollPaddingTop = `${this.epochBar.getBoundingClientRect().height}px`;
    root.style.scrollPaddingBottom = `${this.evolutionArea.getBoundingClientRect().height + 8}px`;
    const tile = this.panels.querySelector('.tile.selected');
    if (tile) {
      tile.scrollIntoView({block: 'nearest'});
      // once more after the panel's first layout (its strip and charts may still be sizing)
      requestAnimationFrame(() => requestAnimationFrame(() => tile.scrollIntoView({block: 'nearest'})));
    }
  },

  /** The user's name of the chosen channel (a class name), from the grid shown for `run`. */
  channelName(run) {
    const grid = this.grids.get(run);
    return grid ? itemNames(grid)[grid.channels.indexOf(this.state.channel)] || '' : '';
  },

  clearEvolution() {
    this.evolutionToken++;
    this.evolution = null;
    replace(this.evolutionArea);
    document.documentElement.style.scrollPaddingBottom = '';
  },

  closeEvolution() {
    const picked = this.state.channelStep !== null;
    this.state.channel = null;
    this.state.channelStep = null;
    if (picked) this.loadGrids();  // the compared run shown at a picked frame follows the page again
    this.clearEvolution();
    this.markSelected();
    this.saveUrl();
  },
};
