"""What `tb-featviz render` writes: a labelled PNG grid (--out) or records (--logdir), and its
progress on stderr."""

from __future__ import annotations

import os
import re
import sys

from tb_featviz.cli.errors import UserError

_LEGEND_WIDTH = 360  # px: a colour scale with its words at both ends


def write_grid(path: str, method, result, contrast: str = "absolute") -> None:
    import numpy as np

    from tb_featviz import imaging, labels

    tiles, names, captions = method.grid(result, contrast)
    if contrast == "stretch" and method.stretchable:
        captions.append("CONTRAST STRETCHED PER TILE")
    scale = max(1, 96 // tiles.shape[1])  # tiles at least 96 px high (two images side by side stay so)
    copies = int(getattr(result, "copies", 1))
    grid = labels.labelled_grid(tiles, names, scale=scale, columns=copies if copies > 1 else None)
    legend = method.legend(result, max(grid.shape[1], _LEGEND_WIDTH))
    if legend is not None:
        width = max(grid.shape[1], legend.shape[1])  # a grid of one or two images is narrower than its legend
        grid = np.concatenate([np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0)), constant_values=255)
                               for part in (grid, legend)])
    for caption in reversed(captions):
        grid = labels.captioned(grid, caption)
    data = imaging.encode_png(grid)  # encoded first: a failure leaves an earlier file as it was
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "wb") as f:
        f.write(data)
    os.replace(partial, path)


def open_writer(logdir: str):
    """The summary writer for `logdir`, opened before any work: a file system it cannot write (an
    unknown scheme, a bucket out of reach) is a one-line error, not a lost render. TensorFlow's
    under TensorFlow, else TensorBoard's own (the records are the same bytes)."""
    import keras

    from tb_featviz import gfile
    from tb_featviz.errors import ConfigurationError

    try:
        gfile.check_reachable(logdir)
    except ConfigurationError as error:
        raise UserError(str(error)) from None
    if keras.backend.backend() != "tensorflow":
        from tb_featviz.event_writer import WriteFailed
        from tb_featviz.summary import EventWriter

        writer = EventWriter(logdir)
        try:
            writer.open()
        except WriteFailed as error:
            raise UserError(f"cannot write to {logdir}: {error}") from None
        return writer
    import tensorflow as tf

    try:
        return tf.summary.create_file_writer(logdir)
    except (tf.errors.OpError, ValueError) as error:  # TensorFlow's errors are not OSErrors
        raise UserError(f"cannot write to {logdir}: {tf_message(error)}") from None


def write_result(args, method, layer: str, result, writer) -> None:
    """The grid PNG (--out) or the records at step 0 (--logdir); a failure is one line."""
    import tensorflow as tf

    try:
        if args.out:
            write_grid(args.out, method, result, args.contrast)
        else:
            write_records(writer, layer, method, result)
    except OSError as error:
        raise UserError(f"cannot write {args.out or args.logdir}: {error.strerror or error}") from None
    except (tf.errors.OpError, ValueError) as error:  # TensorFlow's errors are not OSErrors
        raise UserError(f"cannot write {args.out or args.logdir}: {tf_message(error)}") from None


def write_records(writer, layer: str, method, result) -> None:
    from tb_featviz.summary import EventWriter

    if isinstance(writer, EventWriter):
        method.record(layer, result).write_to(writer, 0)
        writer.close()
        return
    with writer.as_default():
        method.record(layer, result).write(step=0)
    writer.close()


def progress_bar(title: str, stream=None):
    """A progress callback on stderr, never stdout (which may be a pipe or a file of results):
    one line redrawn in place on a terminal, a line per quarter otherwise; no colours."""
    stream = stream or sys.stderr
    state = {"shown": -1}

    def update(done: int, total: int) -> None:
        total = max(1, total)
        if done == state.get("done"):
            return
        state["done"] = done
        if stream.isatty():
            end = "\n" if done >= total else ""
            stream.write(f"\r{title}: {done}/{total} steps{end}")
        else:
            quarter = 4 * done // total
            if quarter <= state["shown"]:
                return
            state["shown"] = quarter
            stream.write(f"{title}: {done}/{total} steps\n")
        stream.flush()

    return update


def tf_message(error) -> str:
    """TensorFlow's error message without its op and function-node wrapping, one line."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(getattr(error, "message", error)))
    text = re.sub(r"\s*\[Op:[^\]]*\].*$", "", text.strip().splitlines()[0] if text.strip() else "")
    return text[:300] or type(error).__name__
