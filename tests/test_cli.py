"""`tb-featviz` on a saved model: each method to a labelled PNG or a logdir; one clear line for
every user error, exit status 2, never a traceback."""

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_featviz
from tb_featviz import cli, metadata
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small trained CNN saved as .keras, probe images as .npy and as a folder of PNGs."""
    root = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(32)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(root / "model.keras")
    np.save(root / "probes.npy", x[:12])
    np.save(root / "labels.npy", y[:12])
    np.save(root / "pixels.npy", np.round(x[:12] * 255).astype(np.uint8))
    folder = root / "probes"
    folder.mkdir()
    for i in range(5):
        png = tf.io.encode_png(tf.cast(x[i] * 255, tf.uint8)).numpy()
        (folder / f"probe{i}.png").write_bytes(png)
    (folder / "notes.txt").write_text("not an image")
    return root


def run(capsys, *args):
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as stop:  # argparse's own errors, --help and --version
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def decode(path):
    return tf.io.decode_png(path.read_bytes()).numpy()


def test_layers_lists_shapes_and_methods(saved, capsys):
    code, out, _ = run(capsys, "layers", saved / "model.keras")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "(None, 32, 32, 8)" in lines["conv1"] and "am, deconv, weights" in lines["conv1"]
    assert "weights" not in lines["pool1"]
    assert "(None, 5)" in lines["logits"]


@pytest.mark.parametrize(
    "method,extra,channels",
    [
        ("am", ["--steps", "6"], 8),
        ("deconv", ["--probe-images", "probes.npy", "--top-k", "4"], 8),
        ("deconv", ["--probe-images", "probes"], 8),  # a folder of PNGs, resized and scaled
        ("weights", [], 8),
    ],
    ids=["am", "deconv-npy", "deconv-folder", "weights"],
)
def test_render_writes_a_labelled_grid(saved, capsys, method, extra, channels):
    out_png = saved / f"grid-{method}-{len(extra)}.png"
    extra = [saved / e if e.startswith("probes") else e for e in extra]
    code, out, err = run(capsys, "render", saved / "model.keras", "--layer", "conv1",
                         "--method", method, *extra, "--out", out_png)
    assert code == 0, err
    assert f"wrote {out_png} ({channels} channels of conv1)" in out
    grid = decode(out_png)
    assert grid.shape[2] == 3 and grid.shape[0] > 96 and grid.shape[1] > 96
    # Labels are dark text on the white band under each tile.
    assert (grid == 0).all(axis=2).any() and (grid == 255).all(axis=2).mean() > 0.1


def test_render_objectives_and_presets(saved, capsys, tmp_path):
    """--objective diversity:3 draws three images per channel; --preset fast is the callback's."""
    code, out, err = run(capsys, "render", saved / "model.keras", "--layer", "conv2", "--channels", "0-1",
                         "--steps", "4", "--objective", "diversity:3", "--out", tmp_path / "d.png")
    assert code == 0, err
    assert "(2 channels x 3 images of conv2)" in out
    code, _, err = run(capsys, "render", saved / "model.keras", "--layer", "conv2", "--channels", "0",
                       "--preset", "fast", "--objective", "neuron:3,4", "--logdir", tmp_path / "logs")
    assert code == 0, err
    settings = read_records(str(tmp_path / "logs"))[("conv2", "am")][0][0]["settings"]
    assert settings["steps"] == 48 and settings["objective"] == "neuron_3_4"


def test_render_channel_ranges_choose_tiles(saved, capsys):
    code, out, _ = run(capsys, "render", saved / "model.keras", "--layer", "conv2", "--channels",
                       "0-3,9", "--steps", "4", "--out", saved / "five.png")
    assert code == 0 and "(5 channels of conv2)" in out


def test_render_to_logdir_writes_the_callbacks_records(saved, capsys):
    logdir = saved / "logs"
    code, out, _ = run(capsys, "render", saved / "model.keras", "--layer", "conv2", "--steps", "4",
                       "--logdir", logdir)
    assert code == 0 and "tensorboard --logdir" in out
    records = read_records(str(logdir))
    header, pngs = records[("conv2", "am")][0]
    assert header["channels"] == list(range(16))
    assert len(pngs) == metadata.expected_length(16, metadata.ROLES["am"]) - 1
    # the same settings the callback records: the input, the layer's width, every AM option
    settings = header["settings"]
    assert settings["input"]["value_range"] == [0.0, 1.0] and settings["input"]["value_range_source"] == "default"
    assert settings["num_channels"] == 16 and settings["steps"] == 4 and settings["maximize"] == "auto"


def test_uint8_probes_need_an_input_range(saved, capsys):
    args = ["render", saved / "model.keras", "--layer", "conv1", "--method", "deconv", "--probe-images",
            saved / "pixels.npy", "--out", saved / "pixels.png"]
    code, _, err = run(capsys, *args)
    assert code == 2 and "uint8 images" in err and "--input-range 0,255" in err
    code, _, err = run(capsys, *args, "--input-range", "0,255")
    assert code == 0, err


def test_grids_say_how_they_were_drawn(saved, capsys):
    """A caption above each grid: what AM maximized, the deconv rule, stretched contrast."""
    from tb_featviz import labels

    def caption(*extra):
        path = saved / f"caption-{len(extra)}.png"
        steps = [] if "--method" in extra else ["--steps", "2"]
        code, _, err = run(capsys, "render", saved / "model.keras", "--layer", "conv2", "--channels", "0-1",
                           *steps, *extra, "--out", path)
        assert code == 0, err
        return decode(path)

    def has_text(grid, text):
        band = np.full((labels.CHAR_HEIGHT + 8, grid.shape[1], 3), 255, np.uint8)
        labels.draw_text(band, text, 4, 4)
        return any(np.array_equal(grid[top : top + band.shape[0], : band.shape[1]], band)
                   for top in range(0, 3 * band.shape[0], band.shape[0]))

    assert has_text(caption(), "MAXIMIZED: PRE-ACTIVATION (BEFORE RELU)")
    deconv = caption("--method", "deconv", "--probe-images", saved / "probes.npy", "--rule", "guided")
    assert has_text(deconv, "RULE: GUIDED  LEFT: PROJECTIONS (GRAY = 0)  RIGHT: IMAGE PATCHES")
    assert has_text(caption("--contrast", "stretch"), "CONTRAST STRETCHED PER TILE")


def test_render_occlusion_to_a_grid_and_a_logdir(saved, capsys, tmp_path):
    """Occlusion needs no --layer (the output layer); with one, that layer's strongest map."""
    args = ["render", saved / "model.keras", "--method", "occlusion", "--probe-images", saved / "probes.npy",
            "--labels", saved / "labels.npy", "--size", "8", "--stride", "4"]
    code, out, err = run(capsys, *args, "--out", tmp_path / "occlusion.png")
    assert code == 0, err
    assert f"wrote {tmp_path / 'occlusion.png'} (12 images of logits)" in out
    grid = decode(tmp_path / "occlusion.png")
    assert grid.shape[1] > 2 * 32 * 3  # heatmap beside class map, scaled up
    code, out, err = run(capsys, *args, "--layer", "conv2", "--logdir", tmp_path / "logs")
    assert code == 0, err
    header, pngs = read_records(str(tmp_path / "logs"))[("conv2", "occlusion")][0]
    assert header["roles"] == ["heatmap"] and header["layout"]["grid"] == [7, 7] and len(pngs) == 12
    expected = tb_featviz.occlusion(keras.saving.load_model(saved / "model.keras"), np.load(saved / "probes.npy"),
                                    np.load(saved / "labels.npy"), size=8, stride=4, layer="conv2")
    np.testing.assert_allclose(header["numbers"]["scores"], expected.activation, rtol=1e-4, atol=1e-3)


BAD = [
    (["render", "{model}", "--layer", "conv1", "--method", "weights", "--steps", "3", "--out", "{root}/x.png"],
     "--steps: only for --method am"),
    (["render", "{model}", "--layer", "conv1", "--objective", "neuron:1", "--out", "{root}/x.png"],
     "use channel, negative, neuron:ROW,COL"),
    (["render", "{model}", "--layer", "conv1", "--objective", "diversity:x", "--out", "{root}/x.png"],
     "--objective 'diversity:x'"),
    (["render", "{model}", "--layer", "conv1", "--objective", "diversity:3", "--logdir", "{root}/logs3"],
     "--logdir: AM records hold one image per channel"),
    (["render", "{model}", "--layer", "conv1", "--steps", "0", "--out", "{root}/x.png"], "--steps 0: give at least 1"),
    (["render", "{model}", "--method", "occlusion", "--probe-images", "{root}/probes.npy", "--labels", "{root}",
      "--out", "{root}/x.png"], "is a folder; give a .npy array"),
    (["render", "{model}", "--method", "occlusion", "--probe-images", "{root}/probes.npy", "--labels",
      "{root}/labels.npy", "--channels", "0-1", "--out", "{root}/x.png"], "--channels does not apply to occlusion"),
    (["render", "{model}", "--layer", "conv1", "--labels", "{root}/labels.npy", "--probe-images", "{root}/probes.npy",
      "--out", "{root}/x.png"], "--labels: only for --method gradcam or integrated_gradients or occlusion or saliency"),
    (["render", "{model}", "--method", "occlusion", "--labels", "{root}/labels.npy", "--out", "{root}/x.png"],
     "--labels needs --probe-images"),
    (["render", "{model}", "--method", "occlusion", "--probe-images", "{root}/probes.npy", "--out", "{root}/x.png"],
     "needs --labels"),
    (["render", "{model}", "--method", "occlusion", "--probe-images", "{root}/probes.npy", "--labels",
      "{root}/probes.npy", "--out", "{root}/x.png"], "--labels must have shape"),
    (["render", "{model}", "--method", "occlusion", "--probe-images", "{root}/probes.npy", "--labels",
      "{root}/labels.npy", "--size", "99", "--out", "{root}/x.png"], "--size 99 is larger"),
    (["layers", "{root}/missing.keras"], "no such file"),
    (["layers", "{root}/garbage.keras"], "could not load"),
    (["layers", "{root}/probes.npy"], "not a saved Keras model"),
    (["render", "{model}", "--layer", "conv9", "--out", "{root}/x.png"], "has no layer 'conv9' (did you mean 'conv1' or 'conv2'?); layers: conv1"),
    (["render", "{model}", "--layer", "conv1", "--channels", "0-99", "--out", "{root}/x.png"],
     "out of range for layer 'conv1', which has 8 channels"),
    (["render", "{model}", "--layer", "conv1", "--channels", "three", "--out", "{root}/x.png"], "--channels"),
    (["render", "{model}", "--layer", "conv1", "--channels", "5-2", "--out", "{root}/x.png"], "is empty"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--out", "{root}/x.png"], "needs --probe-images"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{root}/nope",
      "--out", "{root}/x.png"], "no such file or folder"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{root}/garbage.keras",
      "--out", "{root}/x.png"], "is not a .npy array; give a .npy array or a folder of images"),
    (["render", "{model}", "--layer", "pool1", "--method", "weights", "--out", "{root}/x.png"], "pool1"),
    (["render", "{model}", "--layer", "conv1", "--out", "{root}/probes.npy/x.png"], "cannot write"),
    (["render", "{model}", "--layer", "conv1", "--out", "{root}/x.jpg"], "name it *.png"),
    (["render", "{model}", "--layer", "conv1", "--input-range", "1", "--out", "{root}/x.png"], "LOW,HIGH"),
    # From issue 15: hostile inputs that once ended in a traceback, a wrong message or all memory.
    (["render", "{model}", "--layer", "conv1", "--channels", "0-99999999999", "--out", "{root}/x.png"],
     "channels 0-99999999999 out of range for layer 'conv1', which has 8 channels (valid: 0..7)"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{root}/gray.npy",
      "--out", "{root}/x.png"], "--probe-images have shape (32, 32, 1), the model takes (32, 32, 3)"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{model}",
      "--out", "{root}/x.png"], "is a zip archive, not a .npy array"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{root}/probes.npz",
      "--out", "{root}/x.png"], "is a zip archive, not a .npy array"),
    (["render", "{model}", "--method", "occlusion", "--probe-images", "{root}/probes.npy", "--labels",
      "{root}/probes.npz", "--out", "{root}/x.png"], "is a zip archive, not a .npy array"),
    (["render", "{model}", "--layer", "conv1", "--method", "weights", "--logdir", "nosuchscheme://logs"],
     "cannot write to nosuchscheme://logs: File system scheme 'nosuchscheme' not implemented"),
    (["render", "{model}", "--layer", "conv1", "--input-range", "0,inf", "--out", "{root}/x.png"],
     "LOW and HIGH must be finite numbers"),
    (["layers", "{root}/truncated.keras"], "it is not a .keras archive (a zip file): cut short"),
    (["layers", "{root}/random.keras"], "it is not a .keras archive (a zip file): not saved by model.save"),
    (["layers", "{root}/random.h5"], "it is not an HDF5 file"),
    (["render", "{model}", "--layer", "conv1", "--size", "2.5", "--out", "{root}/x.png"],
     "argument --size: invalid int value: '2.5' (see: tb-featviz render --help)"),
    (["render"], "the following arguments are required: model"),
    (["render", "{model}", "--layer", "conv1", "--out", "{root}/x.png", "--bogus"], "unrecognized arguments: --bogus"),
    (["paint"], "invalid choice: 'paint'"),
    ([], "give a command: layers, render, follow or replay"),
    # From the new-user trial of the command.
    (["render", "{model}", "--layer", "conv1", "--out", ""], "--out is empty; give a path"),
    (["render", "{model}", "--layer", "conv1", "--logdir", " "], "--logdir is empty; give a path"),
    (["render", "{model}", "--layer", "conv1", "--method", "weights", "--probe-images", "{root}/probes.npy",
      "--out", "{root}/x.png"], "--probe-images: --method weights draws the layer's filters and reads none of these"),
    (["render", "{model}", "--layer", "conv1", "--top-k", "3", "--out", "{root}/x.png"], "--top-k: only for --method deconv"),
    # From the attack on the command: pipes, devices, bombs, overflows, control characters.
    (["layers", "{root}/pipe.keras"], "is not a regular file (a pipe or a device?)"),
    (["render", "{model}", "--layer", "logits", "--class-names", "@{root}/pipe.keras", "--out", "{root}/x.png"],
     "is not a regular file"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{root}/bomb",
      "--out", "{root}/x.png"], "declares 400,000,000 pixels, more than 40,000,000"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{root}/probes.npy",
      "--top-k", "1000000000", "--out", "{root}/x.png"], "--top-k must be at most 256"),
    (["render", "{model}", "--layer", "conv1", "--channels", "0-99999999999999999999", "--out", "{root}/x.png"],
     "channel numbers have at most 12 digits"),
    (["render", "{model}", "--layer", "conv1", "--channels", ",".join(f"{i}000000-{i}999999" for i in range(1, 9)),
      "--out", "{root}/x.png"], "lists more than any layer has"),
    (["render", "{model}", "--layer", "conv1", "--channels", "\u0663", "--out", "{root}/x.png"], "use e.g. 0-31"),
    (["layers", "{root}/no\nsuch.keras"], "such.keras"),
    (["render", "{model}", "--layer", "conv1", "--method", "deconv", "--probe-images", "{root}/huge.npy",
      "--out", "{root}/x.png"], "values of magnitude above 1e+30"),
    (["render", "{model}", "--layer", "conv1", "--input-range", "nan,1", "--out", "{root}/x.png"], "must be finite"),
    (["render", "{model}", "--layer", "conv1", "--input-range", "0,1e-300", "--out", "{root}/x.png"], "too narrow"),
    (["render", "{model}", "--layer", "conv1", "--out", "gs://bucket/g.png"], "writes a local PNG"),
    (["render", "{model}", "--layer", "conv1", "--out", "{root}/folder.png"], "is a folder; give a file name"),
    (["render", "{model}", "--layer", "conv1", "--chan", "0", "--out", "{root}/x.png"], "unrecognized arguments: --chan"),
    (["render", "{model}", "--method", "occlusion", "--probe-images", "{root}/many.npy", "--labels",
      "{root}/many_labels.npy", "--out", "{root}/x.png"], "--labels has 5000 labels for the 1100 images"),
    (["render", "{model}", "--layer", "conv1", "--method", "weights", "--contrast", "stretch", "--out", "{root}/x.png"],
     "--contrast stretch: --method weights draws on its own scale already"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_user_errors_are_one_line_and_exit_2(saved, capsys, args, message):
    (saved / "garbage.keras").write_text("this is not a model")
    _write_hostile_files(saved)
    args = [a.format(root=saved, model=saved / "model.keras") for a in args]
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tb-featviz: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err + out


@pytest.mark.slow
def test_console_script_exit_codes(saved):
    script = [sys.executable, "-m", "tb_featviz.cli"]
    good = subprocess.run([*script, "layers", str(saved / "model.keras")], capture_output=True, text=True)
    assert good.returncode == 0 and "conv1" in good.stdout
    bad = subprocess.run([*script, "layers", str(saved / "missing.keras")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"tb-featviz: error: no such file: {saved / 'missing.keras'}"
    usage = subprocess.run([*script, "render"], capture_output=True, text=True)
    assert usage.returncode == 2
    assert usage.stderr.strip().splitlines() == [
        "tb-featviz: error: the following arguments are required: model (see: tb-featviz render --help)"]
    version = subprocess.run([*script, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"tb-featviz {tb_featviz.__version__}"


def test_render_class_names_label_the_output_units(saved, capsys, tmp_path):
    names = tmp_path / "classes.txt"
    names.write_text("top left\ntop right\nbottom left\nbottom right\nno blob\n")
    logdir = tmp_path / "logs"
    code, _, _ = run(capsys, "render", saved / "model.keras", "--layer", "logits", "--steps", "2",
                     "--class-names", f"@{names}", "--logdir", logdir)
    assert code == 0
    header = read_records(str(logdir))[("logits", "am")][0][0]
    assert header["settings"]["channel_names"] == ["top left", "top right", "bottom left", "bottom right", "no blob"]
    code, _, err = run(capsys, "render", saved / "model.keras", "--layer", "logits", "--class-names", "cat,dog",
                       "--out", tmp_path / "x.png")
    assert code == 2 and "--class-names has 2 names but the model's output has 5 units" in err


def _write_hostile_files(root):
    """Files that look like inputs and are not: a truncated and a random .keras, a .h5 that is no
    HDF5 file, gray probes for an RGB model, probes saved as an .npz archive."""
    if (root / "random.h5").exists():
        return
    data = (root / "model.keras").read_bytes()
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    (root / "random.keras").write_bytes(np.random.default_rng(0).bytes(5000))
    (root / "random.h5").write_bytes(np.random.default_rng(1).bytes(5000))
    import os
    import struct
    import zlib

    os.mkfifo(root / "pipe.keras")
    (root / "folder.png").mkdir()
    (root / "bomb").mkdir()
    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)  # 20000 x 20000 RGB, declared only

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    (root / "bomb" / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    np.save(root / "huge.npy", np.full((2, 32, 32, 3), 3e38, np.float32))
    np.save(root / "many.npy", np.zeros((1100, 32, 32, 3), np.float32))  # more than the 1,024 kept
    np.save(root / "many_labels.npy", np.zeros(5000, np.int64))
    probes = np.load(root / "probes.npy")
    np.save(root / "gray.npy", probes[..., :1])
    np.savez(root / "probes.npz", x=probes)


def test_hostile_inputs_cost_bounded_time_and_memory(saved):
    """Each case in a fresh process (one TensorFlow import for all): one line, exit 2, and
    neither a minute nor gigabytes spent before saying so (a 10^11-channel range once built
    a set of 10^11 ints first)."""
    _write_hostile_files(saved)
    model, root = saved / "model.keras", saved
    cases = [
        ["render", model, "--layer", "conv1", "--channels", "0-99999999999", "--out", root / "x.png"],
        ["render", model, "--layer", "conv1", "--channels", "0-999999,99999999999", "--out", root / "x.png"],
        ["render", model, "--layer", "conv1", "--method", "deconv", "--probe-images", model, "--out", root / "x.png"],
        ["layers", root / "truncated.keras"],
    ]
    script = (
        "import io, json, resource, sys, time, contextlib\n"
        "from tb_featviz import cli\n"
        "report = []\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    err = io.StringIO()\n"
        "    start = time.perf_counter()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        code = cli.main(args)\n"
        "    report.append([code, err.getvalue(), time.perf_counter() - start,\n"
        "                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])\n"
        "print(json.dumps(report))\n"
    )
    import json

    result = subprocess.run([sys.executable, "-c", script, json.dumps([[str(a) for a in case] for case in cases])],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    for case, (code, err, seconds, peak_mb) in zip(cases, json.loads(result.stdout.strip().splitlines()[-1])):
        assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, (case, err)
        assert seconds < 60 and peak_mb < 3000, (case, seconds, peak_mb)


def test_progress_and_notes_go_to_stderr_without_colours_and_stdout_keeps_the_result(saved, tmp_path):
    """Piped output: stdout holds only what was written; stderr the input range and progress."""
    out = tmp_path / "am.png"
    result = subprocess.run(
        [sys.executable, "-m", "tb_featviz.cli", "render", str(saved / "model.keras"), "--layer", "conv1",
         "--steps", "8", "--preset", "fast", "--probe-images", str(saved / "probes.npy"), "--out", str(out)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == f"wrote {out} (8 channels of conv1)"
    assert "\x1b[" not in result.stdout + result.stderr and "\r" not in result.stderr
    assert "tb-featviz: input range [0, 1] (inferred from probe_images)" in result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("Activation max. of conv1: ")]
    assert progress and progress[-1] == "Activation max. of conv1: 8/8 steps" and len(progress) <= 5


def test_a_probe_folder_with_gray_and_alpha_images(saved, capsys, tmp_path):
    """PNGs with an alpha channel (gray+alpha, RGBA) lose the alpha; gray ones become RGB."""
    x = np.load(saved / "probes.npy")
    for i, channels in enumerate((2, 4, 1)):
        pixels = np.round(x[i] * 255).astype(np.uint8)
        image = {1: pixels[..., :1], 2: np.concatenate([pixels[..., :1], np.full_like(pixels[..., :1], 255)], -1),
                 4: np.concatenate([pixels, np.full_like(pixels[..., :1], 255)], -1)}[channels]
        (tmp_path / f"p{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    code, out, err = run(capsys, "render", saved / "model.keras", "--layer", "conv1", "--method", "deconv",
                         "--probe-images", tmp_path, "--top-k", "2", "--out", tmp_path / "d.png")
    assert code == 0, err
    assert "deconv of conv1 over 3 probe images" in err


def test_labels_draw_every_printable_character_distinctly():
    """The bitmap font: '#', '_' and the apostrophe are there and differ from every other glyph."""
    from tb_featviz import labels

    def drawn(char):
        image = np.full((labels.CHAR_HEIGHT, labels.CHAR_WIDTH, 1), 255, np.uint8)
        labels.draw_text(image, char, 0, 0)
        return image.tobytes()

    printable = [chr(c) for c in range(32, 127) if not chr(c).islower()]
    shapes = {char: drawn(char) for char in printable}
    assert len(set(shapes.values())) == len(printable)  # no two characters look alike
    assert drawn("a") == shapes["A"] and drawn("é") == shapes["?"]


def test_the_notebook_functions_refuse_probes_of_another_channel_count():
    x, labels = image_data(4)
    with pytest.raises(tb_featviz.ConfigurationError, match=r"probe_images have shape \(32, 32, 1\), the model takes \(32, 32, 3\)"):
        tb_featviz.deconvnet(small_cnn(), "conv1", x[..., :1])
    with pytest.raises(tb_featviz.ConfigurationError, match=r"probe_images have shape \(32, 32, 2\)"):
        tb_featviz.occlusion(small_cnn(), x[..., :2], labels)


def test_the_trials_cases_that_work(saved, capsys, tmp_path):
    """Occlusion of an inner layer on few images (its legend is wider than the grid), a negative
    --input-range written the obvious way, and channel indices kept under non-channel objectives."""
    code, _, err = run(capsys, "render", saved / "model.keras", "--method", "occlusion", "--layer", "conv2",
                       "--probe-images", saved / "probes.npy", "--labels", saved / "labels.npy", "--out", tmp_path / "o.png")
    assert code == 0, err
    assert decode(tmp_path / "o.png").shape[1] >= 360
    np.save(tmp_path / "signed.npy", np.load(saved / "probes.npy") * 2 - 1)
    code, _, err = run(capsys, "render", saved / "model.keras", "--layer", "conv1", "--method", "deconv",
                       "--probe-images", tmp_path / "signed.npy", "--input-range", "-1,1", "--top-k", "2",
                       "--out", tmp_path / "d.png")
    assert code == 0, err
    assert "tb-featviz: input range [-1, 1] (given)" in err
    from tb_featviz.methods import REGISTRY

    result = tb_featviz.maximize_activation(keras.saving.load_model(saved / "model.keras"), "conv2", [5, 9], steps=2,
                                            preset="fast", objective=tb_featviz.methods.am.objectives.neuron(3, 4))
    _, names, _ = REGISTRY["am"].grid(result, "absolute")
    assert [name.split()[0] for name in names] == ["#5", "#9"]
    code, _, err = run(capsys, "render", saved / "model.keras", "--layer", "conv1", "--method", "deconv",
                       "--probe-images", saved / "probes", "--top-k", "2", "--out", tmp_path / "f.png")
    assert code == 0 and "input range [0, 1] (default; the folder's images are scaled to it)" in err


# -- From issue 23: inputs that cost memory or time before they were refused, and misleading words ----
def _npy_header_only(path, shape):
    """A .npy file that declares `shape` (float32) and holds no data: sparse, no disk or memory used."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
        f.truncate(f.tell() + int(np.prod(shape)) * 4)


def test_a_huge_npy_is_refused_from_its_header_before_anything_is_copied(saved, capsys, tmp_path):
    """(64, 8192, 8192, 3) float32 declares 51 GB: once copied whole (a MemoryError and a traceback)."""
    _npy_header_only(tmp_path / "big.npy", (64, 8192, 8192, 3))
    code, out, err = run(capsys, "render", saved / "model.keras", "--layer", "conv1", "--method", "deconv",
                         "--probe-images", tmp_path / "big.npy", "--out", tmp_path / "x.png")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "tb-featviz: error: --probe-images have shape (8192, 8192, 3), the model takes (32, 32, 3)"]
    inputs = keras.Input((None, None, 3))  # a model of any input size: the size decides
    open_model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    open_model.save(tmp_path / "open.keras")
    code, out, err = run(capsys, "render", tmp_path / "open.keras", "--layer", "conv", "--method", "deconv",
                         "--probe-images", tmp_path / "big.npy", "--out", tmp_path / "x.png")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--probe-images" in err and "51.5 GB as float32" in err and "fewer or smaller images" in err


def _zip_bomb(path, model, unpacked):
    """`model`'s .keras with its weights replaced by `unpacked` bytes of zeros, deflated (about 1000:1)."""
    import zipfile

    with zipfile.ZipFile(model) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for name in source.namelist():
            if name != "model.weights.h5":
                bomb.writestr(name, source.read(name))
        with bomb.open("model.weights.h5", "w", force_zip64=True) as member:
            chunk = bytes(2**24)
            for _ in range(unpacked // len(chunk)):
                member.write(chunk)


def test_a_zip_bomb_model_is_refused_before_it_is_unpacked(saved, capsys, tmp_path):
    """A .keras whose weights unpack to 1000 times their size: refused from the zip's directory, not
    after minutes of unpacking (a 3 MB file unpacking to 3 GB once took 253 s)."""
    _zip_bomb(tmp_path / "bomb.keras", saved / "model.keras", 2**27)  # 128 MiB from about 130 kB
    assert (tmp_path / "bomb.keras").stat().st_size < 2**20
    for command in (["layers"], ["render"]):
        extra = ["--layer", "conv1", "--out", tmp_path / "x.png"] if command == ["render"] else []
        code, out, err = run(capsys, *command, tmp_path / "bomb.keras", *extra)
        assert code == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"tb-featviz: error: could not load {tmp_path / 'bomb.keras'}: "
                                                       "model.weights.h5 unpacks to 134,217,728 bytes from "), err
        assert "a zip bomb?" in lines[0]


def test_an_unreadable_probe_file_is_called_a_read_error(saved, capsys, tmp_path):
    """/proc/self/mem fails to read (EIO): once reported as 'cannot write to standard output'."""
    model, probes, labels, out_png = saved / "model.keras", saved / "probes.npy", saved / "labels.npy", tmp_path / "x.png"
    for flag, probes, labels in (("--probe-images", "/proc/self/mem", labels), ("--labels", probes, "/proc/self/mem")):
        code, out, err = run(capsys, "render", model, "--method", "occlusion", "--probe-images", probes,
                             "--labels", labels, "--out", out_png)
        assert code == 2
        assert err.strip().splitlines() == [f"tb-featviz: error: {flag}: cannot read /proc/self/mem: Input/output error"]


def test_a_closed_standard_output_is_an_error(saved):
    """`tb-featviz layers m.keras >&-` once exited 0 having shown nothing."""
    result = subprocess.run(["sh", "-c", 'exec "$0" -m tb_featviz.cli layers "$1" >&-', sys.executable,
                             str(saved / "model.keras")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "tb-featviz: error: standard output is closed: nothing could be shown"
