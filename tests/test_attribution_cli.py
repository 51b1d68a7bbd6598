"""`tb-featviz render --method saliency|gradcam|integrated_gradients`: a labelled PNG of the maps
the notebook call gives, or records for the dashboard; each method's flags, and one clear line
for every bad one."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tb_featviz
from tb_featviz import cli
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribution_cli")
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(32)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(root / "model.keras")
    np.save(root / "probes.npy", x[:4])
    np.save(root / "labels.npy", y[:4])
    np.save(root / "gray.npy", np.full((32, 32, 3), 0.5, np.float32))
    return root, model, x[:4], y[:4]


def run(capsys, *args):
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("method, flags, options, layer", [
    ("saliency", ["--smoothgrad", "3", "--noise", "0.1"], {"method": "smoothgrad", "smoothgrad": 3, "noise": 0.1},
     "logits"),
    ("gradcam", [], {"method": "gradcam"}, "conv2"),
    ("integrated_gradients", ["--ig-steps", "5", "--baseline", "GRAY"],
     {"method": "integrated_gradients", "steps": 5, "baseline": np.full((32, 32, 3), 0.5, np.float32)}, "logits"),
])
def test_render_writes_the_notebooks_maps_as_records_and_a_picture(saved, capsys, method, flags, options, layer):
    root, model, probes, labels = saved
    flags = [str(root / "gray.npy") if flag == "GRAY" else flag for flag in flags]
    common = ["render", root / "model.keras", "--method", method, "--probe-images", root / "probes.npy",
              "--labels", root / "labels.npy", *flags]
    code, out, err = run(capsys, *common, "--logdir", root / method)
    assert code == 0, err
    header, pngs = read_records(str(root / method))[(layer, method)][0]
    expected = tb_featviz.attribution(model, probes, labels, **options)
    assert header["numbers"]["class"] == labels.tolist()
    np.testing.assert_allclose(header["numbers"]["scale"], expected.scales(), rtol=1e-5)
    overlay = tf.io.decode_png(pngs[0]).numpy()
    np.testing.assert_array_equal(overlay, expected.overlay_tiles()[0])  # the same picture, pixel for pixel
    code, out, err = run(capsys, *common, "--out", root / f"{method}.png")
    assert code == 0 and f"wrote {root / method}.png (4 images of {layer})" in out
    picture = tf.io.decode_png((root / f"{method}.png").read_bytes()).numpy()
    assert picture.shape[1] > 4 * 64  # four tiles of two 32 px pictures side by side


def test_gradcam_of_a_layer_after_the_last_conv_draws_that_layer(saved, capsys):
    root = saved[0]
    code, _, err = run(capsys, "render", root / "model.keras", "--method", "gradcam", "--layer", "pool2",
                       "--probe-images", root / "probes.npy", "--labels", root / "labels.npy", "--logdir", root / "pool2")
    assert code == 0, err
    (header, _), = read_records(str(root / "pool2"))[("pool2", "gradcam")].values()
    assert header["settings"]["layer_shape"] == [7, 7, 16]


def test_without_labels_it_says_how_to_map_the_predicted_class(saved, capsys):
    root = saved[0]
    base = ["render", root / "model.keras", "--method", "saliency", "--probe-images", root / "probes.npy"]
    code, _, err = run(capsys, *base, "--out", root / "x.png")
    assert code == 2 and "needs --labels" in err and "--target" in err and "Traceback" not in err
    code, out, err = run(capsys, *base, "--target", "predicted", "--out", root / "x.png")
    assert code == 0, err


@pytest.mark.parametrize("flags, words", [
    (["--method", "gradcam", "--layer", "flatten"], "conv layer's feature maps"),
    (["--method", "saliency", "--ig-steps", "3"], "--ig-steps: only for --method integrated_gradients"),
    (["--method", "saliency", "--smoothgrad", "0"], "--smoothgrad (noisy copies per image) must be an int >= 1"),
    (["--method", "integrated_gradients", "--ig-steps", "0"], "--ig-steps must be an int >= 1, got 0"),
    (["--method", "integrated_gradients", "--baseline", "PROBES"], "--baseline must be one image"),
    (["--method", "integrated_gradients", "--baseline", "nowhere.npy"], "--baseline 'nowhere.npy'"),
])
def test_bad_flags_are_one_clear_line(saved, capsys, flags, words):
    root = saved[0]
    flags = [str(root / "probes.npy") if flag == "PROBES" else flag for flag in flags]
    code, _, err = run(capsys, "render", root / "model.keras", "--probe-images", root / "probes.npy",
                       "--labels", root / "labels.npy", *flags, "--out", root / "bad.png")
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
