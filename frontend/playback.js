// Playing the steps like a film, and the keys that move through them. Methods of the Dashboard
// (index.js), kept here so that each file has one job.

export const PLAY_SPEEDS = [['1400', '0.5×'], ['700', '1×'], ['350', '2×'], ['150', '4×']];

export const playbackMethods = {
  stepBy(delta) {
    const steps = this.steps();
    if (steps.length) this.setStepIndex(Math.max(0, steps.indexOf(this.state.step)) + delta);
  },

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
    this.schedulePlay();
  },

  schedulePlay() {
    clearInterval(this.playTimer);
    this.playTimer = setInterval(() => {
      const all = this.steps();
      const next = all.indexOf(this.state.step) + 1;
      if (next >= all.length) this.stopPlay();
      else this.setStepIndex(next);
    }, this.state.playMs);
  },

  setPlaySpeed(ms) {
    this.state.playMs = ms;
    if (this.playTimer) this.schedulePlay();
    this.saveUrl();
  },

  stopPlay() {
    clearInterval(this.playTimer);
    this.playTimer = null;
    this.playButton.textContent = '▶';
    this.playButton.setAttribute('aria-label', 'play');
  },

  onKey(event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    const tag = event.target && event.target.tagName;
    const typing = tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA';
    if (event.key === 'Escape' && this.state.channel !== null) {
      this.closeEvolution();
      event.preventDefault();
    } else if (!typing && (event.key === 'ArrowLeft' || event.key === 'ArrowRight')) {
      this.stepBy(event.key === 'ArrowLeft' ? -1 : 1);
      event.preventDefault();
    }
  },
};
