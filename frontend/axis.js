// Where in training each recorded step is: the run's `axis` from /run. Records are at global
// training steps; the page speaks in epochs with their fraction (0.043 = 20 of 469 batches of
// the first epoch), with the step beside it, and falls back to steps where an epoch is unknown.

/** Epochs as people read them: whole ones plain ("3"), fractions to two significant digits
 *  below 1 ("0.021", "0.43") and two decimals above ("2.25"). */
export function formatEpoch(epoch) {
  if (Number.isInteger(epoch)) return String(epoch);
  if (epoch < 1) return String(Number(epoch.toPrecision(2)));
  return String(Number(epoch.toFixed(2)));
}

export class Axis {
  /** @param {!Array<{step: number, epoch: ?number, epochs_completed: ?number, batch: ?number,
   *                  steps_per_epoch: ?number, moment: ?string}>} points */
  constructor(points = []) {
    this.points = new Map(points.map((p) => [p.step, p]));
    const known = points.length > 0 && points.every((p) => typeof p.epoch === 'number' && Number.isFinite(p.epoch));
    /** The first step whose epoch is not above the one before: a second fit from epoch 0, or a
     *  BackupAndRestore that redoes an epoch. Keras numbers epochs that way; steps go on. */
    this.restartAt = known ? (points.find((p, i) => i > 0 && p.epoch <= points[i - 1].epoch)?.step ?? null) : null;
    /** Whether charts are drawn over epochs: every step has one and they never go back.
     *  Else over steps (see `why`). */
    this.byEpoch = known && this.restartAt === null;
  }

  /** Why a run with records is drawn over steps, or '' when it is drawn over epochs. */
  why() {
    if (this.byEpoch || !this.points.size) return '';
    if (this.restartAt !== null) {
      return `drawn over steps: the epochs go back or repeat at step ${this.restartAt} ` +
        '(a second fit from epoch 0, or an epoch redone after a restore)';
    }
    return 'drawn over steps: some records do not say their epoch';
  }

  /** The step's epoch, or null when the records do not say. */
  epoch(step) {
    const point = this.points.get(step);
    return point && typeof point.epoch === 'number' ? point.epoch : null;
  }

  /** The step of this run at `epoch` (within rounding), or null. */
  stepAt(epoch) {
    for (const [step, point] of this.points) {
      if (typeof point.epoch === 'number' && Math.abs(point.epoch - epoch) < 1e-9) return step;
    }
    return null;
  }

  /** The step's place on a chart's x axis (epochs, or steps when the run has no epochs). */
  x(step) {
    return this.byEpoch ? this.epoch(step) : step;
  }

  /** Whether the records show that an epoch has ended (Keras writes its epoch scalars then). */
  anEpochEnded() {
    return [...this.points.values()].some((p) => (typeof p.epoch === 'number' && p.epoch >= 1) ||
        (typeof p.epochs_completed === 'number' && p.epochs_completed >= 1));
  }

  /** The x axis's name. */
  unit() {
    return this.byEpoch ? 'epoch' : 'step';
  }

  /** "epoch 0.43" (epochs completed), "batch 50 of epoch 1" (its length unknown) or "step 200". */
  label(step) {
    const epoch = this.epoch(step);
    if (epoch !== null) return `epoch ${formatEpoch(epoch)}`;
    const point = this.points.get(step);
    if (point && typeof point.epochs_completed === 'number' && typeof point.batch === 'number') {
      return `batch ${point.batch} of epoch ${point.epochs_completed + 1}`;
    }
    return `step ${step}`;
  }

  /** A frame's caption: the epoch alone ("0.43"), else "s200". */
  caption(step) {
    const epoch = this.epoch(step);
    return epoch !== null ? formatEpoch(epoch) : `s${step}`;
  }

  /** The label with the step and, inside an epoch, the batch in Keras's numbering:
   *  "epoch 0.43 · step 200 (batch 200/469 of epoch 1)". */
  detail(step) {
    const point = this.points.get(step);
    const label = this.label(step);
    let text = label.startsWith('step') ? label : `${label} · step ${step}`;
    if (point && point.batch && point.steps_per_epoch && typeof point.epochs_completed === 'number' &&
        this.epoch(step) !== null) {
      text += ` (batch ${point.batch}/${point.steps_per_epoch} of epoch ${point.epochs_completed + 1})`;
    }
    if (point && point.moment === 'start') text += step === 0 ? ' · before training' : ' · start of a resumed fit';
    return text;
  }
}
