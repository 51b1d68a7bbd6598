"""Train a CNN on Fashion-MNIST with FeatVizCallback, then serve TensorBoard with the dashboard.

    make demo                                   # sets everything up, then runs this
    .venv/bin/python -m demo [--epochs 5] [--logdir runs/demo] [--port 6006] [--fresh | --resume]

TensorBoard starts first, so features can be watched while they emerge; it keeps serving after
training until Ctrl+C. An existing demo log is never mixed with a new run silently: the demo
asks whether to continue training it or to start fresh (or takes --resume / --fresh).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time

_STARTED = time.perf_counter()

from tb_featviz.quiet_import import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402

from demo import fashion_mnist  # noqa: E402
from demo.pictures import write_pictures  # noqa: E402
from demo.tensorboard_process import TensorBoardProcess  # noqa: E402
from tb_featviz import FeatVizCallback  # noqa: E402

FEATVIZ_RUN = "featviz"
MODEL_FILE = "model.keras"
STATE_FILE = "demo_state.json"
PROBE_IMAGES = 256  # the first test images: the same probe set at every epoch
LAYERS = {"conv1": "all", "conv2": "all", "conv3": "all", "logits": "all"}


def build_model(channels: int = 1) -> keras.Model:
    """Three conv-ReLU-maxpool blocks, then dense layers: a classic small image classifier."""
    blocks = []
    for index, filters in enumerate((32, 64, 64), start=1):
        blocks += [
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{index}"),
            keras.layers.MaxPooling2D(name=f"pool{index}"),
        ]
    model = keras.Sequential(
        [keras.Input((28, 28, channels)), *blocks,
         keras.layers.Flatten(name="flatten"),
         keras.layers.Dense(128, activation="relu", name="fc"),
         keras.layers.Dropout(0.3, name="dropout"),
         keras.layers.Dense(10, activation="softmax", name="logits")],
        name="fashion_cnn",
    )
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs to train (default 5)")
    parser.add_argument("--logdir", default="runs/demo", help="where logs go (default runs/demo)")
    parser.add_argument("--port", type=int, default=6006, help="TensorBoard port (default 6006)")
    parser.add_argument("--train-images", type=int, default=60000,
                        help="train on the first N of the 60,000 training images")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--fresh", action="store_true", help="delete an existing demo log first")
    existing.add_argument("--resume", action="store_true", help="continue an existing demo log")
    parser.add_argument("--no-tensorboard", action="store_true", help="train only, serve nothing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1 or not 1 <= args.train_images <= 60000:
        parser.error("--epochs must be >= 1 and --train-images between 1 and 60000")
    return args


def existing_epochs(logdir: str) -> int | None:
    """Epochs of an earlier demo run in `logdir`, or None if there is none."""
    try:
        with open(os.path.join(logdir, STATE_FILE)) as f:
            return int(json.load(f)["epochs_done"])
    except (OSError, ValueError, KeyError):
        pass
    has_events = any(
        name.startswith("events.out.tfevents") for _, _, files in os.walk(logdir) for name in files
    )
    return 0 if has_events else None


def choose_start(args) -> str:
    """'new', 'resume' or 'quit', asking the user when a log exists and no flag decided."""
    done = existing_epochs(args.logdir)
    if done is None:
        return "new"
    described = f"{done} epochs" if done else "logs of another run"
    if args.fresh:
        return "fresh"
    if args.resume:
        return "resume" if done and os.path.exists(os.path.join(args.logdir, MODEL_FILE)) else "cannot-resume"
    print(f"{args.logdir} already holds a demo log ({described}).")
    if not sys.stdin.isatty():
        print("Run again with --resume to continue training it, or --fresh to delete it and start "
              "over (or pick another --logdir).")
        return "quit"
    while True:
        answer = input("[c]ontinue training it, start [f]resh (deletes it), or [q]uit? ").strip().lower()
        if answer[:1] in ("c", "f", "q"):
            return {"c": "resume", "f": "fresh", "q": "quit"}[answer[0]]


def clear_demo_log(logdir: str) -> None:
    """Deletes what the demo writes (and only that) so a fresh run starts from nothing."""
    for name in (FEATVIZ_RUN, "train", "validation", "pictures"):
        shutil.rmtree(os.path.join(logdir, name), ignore_errors=True)
    for name in (MODEL_FILE, STATE_FILE):
        if os.path.exists(os.path.join(logdir, name)):
            os.remove(os.path.join(logdir, name))


class SaveProgress(keras.callbacks.Callback):
    """Saves the model and the epoch count after every epoch, so a run can be continued."""

    def __init__(self, logdir: str):
        super().__init__()
        self.logdir = logdir

    def on_epoch_end(self, epoch, logs=None):
        self.model.save(os.path.join(self.logdir, MODEL_FILE))
        with open(os.path.join(self.logdir, STATE_FILE), "w") as f:
            json.dump({"epochs_done": epoch + 1}, f)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    # Ctrl+C and `kill` must stop training and TensorBoard alike, even when this process was
    # started from a shell that ignores SIGINT for background jobs.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\nInterrupted.")
        return 130


def _run(args) -> int:
    start = choose_start(args)
    if start == "quit":
        return 2
    if start == "cannot-resume":
        print(f"{args.logdir} has no saved demo model to continue from; use --fresh.")
        return 2
    if start == "fresh":
        print(f"Deleting the earlier demo log in {args.logdir}.")
        clear_demo_log(args.logdir)
    os.makedirs(args.logdir, exist_ok=True)

    try:
        x_train, y_train = fashion_mnist.load("train")
        x_test, y_test = fashion_mnist.load("test")
    except fashion_mnist.DatasetMissing as error:
        print(error)
        return 2
    x_train, y_train = x_train[: args.train_images], y_train[: args.train_images]

    keras.utils.set_random_seed(args.seed)
    if start == "resume":
        initial_epoch = existing_epochs(args.logdir)
        model = keras.saving.load_model(os.path.join(args.logdir, MODEL_FILE))
        print(f"Continuing the demo run from epoch {initial_epoch}.")
    else:
        initial_epoch = 0
        model = build_model()

    tensorboard = None
    if not args.no_tensorboard:
        tensorboard = TensorBoardProcess.start(args.logdir, args.port)
        if tensorboard:
            print(f"TensorBoard: {tensorboard.url}/#featviz (features appear from the first steps on)")
    try:
        return _train_and_report(args, model, initial_epoch, x_train, y_train, x_test, y_test, tensorboard)
    finally:
        if tensorboard is not None:
            tensorboard.stop()


def _train_and_report(args, model, initial_epoch, x_train, y_train, x_test, y_test, tensorboard) -> int:
    featviz = FeatVizCallback(
        os.path.join(args.logdir, FEATVIZ_RUN), LAYERS, probe_images=x_test[:PROBE_IMAGES],
        probe_labels=y_test[:PROBE_IMAGES], class_names=fashion_mnist.CLASS_NAMES,
    )
    callbacks = [
        featviz,
        keras.callbacks.TensorBoard(args.logdir, write_graph=False),
        SaveProgress(args.logdir),
    ]
    setup_seconds = time.perf_counter() - _STARTED
    fit_started = time.perf_counter()
    model.fit(
        x_train, y_train, batch_size=128, epochs=initial_epoch + args.epochs,
        initial_epoch=initial_epoch, validation_data=(x_test, y_test), callbacks=callbacks,
    )
    fit_seconds = time.perf_counter() - fit_started
    visualize_seconds = sum(seconds for _, seconds in featviz.timings)
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    pictures = write_pictures(os.path.join(args.logdir, FEATVIZ_RUN), os.path.join(args.logdir, "pictures"))

    print()
    print(f"Test accuracy: {accuracy:.4f} after {initial_epoch + args.epochs} epochs")
    print(f"Time: set-up {setup_seconds:.0f} s, training {fit_seconds - visualize_seconds:.0f} s, "
          f"visualization {visualize_seconds:.0f} s "
          f"({100 * visualize_seconds / max(fit_seconds - visualize_seconds, 1e-9):.0f} % of training)")
    print(f"Pictures of what the dashboard shows: {os.path.dirname(pictures[0])}/")
    if tensorboard is None:
        return 0
    print(f"TensorBoard is serving the FeatViz dashboard at {tensorboard.url}/#featviz "
          "- press Ctrl+C to stop.", flush=True)
    return tensorboard.wait()


if __name__ == "__main__":
    sys.exit(main())
