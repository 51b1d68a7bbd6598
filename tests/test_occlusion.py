"""Occlusion sensitivity: the seed's per-position loop, batched; in the callback, notebook and CLI."""

import keras
import numpy as np
import pytest

import tb_featviz
from tb_featviz import OcclusionOptions, metadata
from tb_featviz.errors import ConfigurationError
from tb_featviz.occlude import boxes, starts
from tb_featviz.records import decode_images, read_records
from tests.conftest import image_data, small_cnn


@pytest.fixture(scope="module")
def trained():
    """The small CNN (BatchNorm, softmax), trained a little so the heatmaps have structure."""
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(96)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    return model, x, y


def per_position_loop(model, image, label, size, stride, layer=None):
    """The seed's algorithm, written out plainly: one `predict` per square position."""
    height, width = image.shape[:2]
    rows = list(range(0, height - size + 1, stride))
    if rows[-1] != height - size:
        rows.append(height - size)
    cols = list(range(0, width - size + 1, stride))
    if cols[-1] != width - size:
        cols.append(width - size)
    probe = keras.Model(model.inputs, model.get_layer(layer).output) if layer else None
    if probe is not None:
        plain = probe.predict(image[None], verbose=0)[0]
        strongest = int(np.argmax(plain.reshape(-1, plain.shape[-1]).max(axis=0)))
    probability = np.zeros((len(rows), len(cols)))
    predicted = np.zeros((len(rows), len(cols)), int)
    activation = np.zeros((len(rows), len(cols)))
    for i, top in enumerate(rows):
        for j, left in enumerate(cols):
            occluded = image.copy()
            occluded[top : top + size, left : left + size, :] = 0.5
            scores = model.predict(occluded[None], verbose=0)[0]
            probability[i, j] = scores[label]
            predicted[i, j] = int(np.argmax(scores))
            if probe is not None:
                activation[i, j] = probe.predict(occluded[None], verbose=0)[0][..., strongest].sum()
    return probability, predicted, activation


def test_batched_occlusion_equals_the_per_position_loop(trained):
    model, x, y = trained
    result = tb_featviz.occlusion(model, x[:2], y[:2], size=10, stride=6, layer="conv2", input_range=(0, 1))
    assert result.probability.shape == result.predicted_class.shape == result.activation.shape == (2, 5, 5)
    for i in range(2):
        probability, predicted, activation = per_position_loop(model, x[i], int(y[i]), 10, 6, layer="conv2")
        np.testing.assert_allclose(result.probability[i], probability, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(result.predicted_class[i], predicted)
        np.testing.assert_allclose(result.activation[i], activation, rtol=1e-5, atol=1e-4)
    assert result.boxes[0, 0].tolist() == [0, 0, 10, 10] and result.boxes[-1, -1].tolist() == [22, 22, 32, 32]
    # The square matters where the blob is: covering it lowers the true class's probability.
    assert result.probability.min() < result.unoccluded_probability.max() - 0.1


def test_geometry_covers_every_pixel_with_about_twelve_positions():
    assert starts(28, 7, 2).tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 21]
    for side in (28, 32, 64, 224):
        size, stride = OcclusionOptions().geometry(side, side)
        assert size == round(side / 4)
        grid = boxes(side, side, size, stride)
        assert 11 <= grid.shape[0] <= 13 and grid.shape[:2] == (grid.shape[0], grid.shape[0])
        covered = np.zeros((side, side), bool)
        for top, left, bottom, right in grid.reshape(-1, 4):
            covered[top:bottom, left:right] = True
        assert covered.all()
    with pytest.raises(ConfigurationError, match="larger than the 32x32 image"):
        OcclusionOptions(size=40).geometry(32, 32)
    with pytest.raises(ConfigurationError, match="occlusion stride"):
        OcclusionOptions(stride=0)


def test_logits_get_a_softmax_and_say_so(trained):
    model, x, y = trained
    logits = keras.Sequential([keras.Input((32, 32, 3)), *model.layers[:-1],
                               keras.layers.Dense(5, name="raw")])
    logits.get_layer("raw").set_weights(model.get_layer("logits").get_weights())
    result = tb_featviz.occlusion(logits, x[:2], y[:2], size=10, stride=6)
    expected = tb_featviz.occlusion(model, x[:2], y[:2], size=10, stride=6)
    np.testing.assert_allclose(result.probability, expected.probability, atol=1e-5)
    assert result.probability_source == "softmax of the output (logits)"
    assert expected.probability_source == "output"


def test_bad_labels_are_clear_errors(trained, tmp_path):
    model, x, y = trained
    with pytest.raises(ConfigurationError, match="3 labels for 4 probe images"):
        tb_featviz.occlusion(model, x[:4], y[:3])
    with pytest.raises(ConfigurationError, match="class 7, but the model's output has 5 classes"):
        tb_featviz.occlusion(model, x[:2], np.array([1, 7]))
    with pytest.raises(ConfigurationError, match="one-hot rows of 4 classes, but the model's output has 5"):
        tb_featviz.occlusion(model, x[:2], np.eye(4)[:2])
    with pytest.raises(ConfigurationError, match="class_names has 2 names but the model's output has 5 units"):
        tb_featviz.occlusion(model, x[:2], y[:2], class_names=["a", "b"])
    for labels, words in ((np.zeros((2, 0)), "hold no class"), (np.array([[np.nan, 1.0], [0, 1]]), "finite, >= 0"),
                          (np.array([0.0, 1e20]), "class indices are below"), (None, "occlusion needs labels")):
        with pytest.raises(ConfigurationError, match=words):
            tb_featviz.occlusion(model, x[:2], labels)
    with pytest.raises(ConfigurationError, match="probe_labels need probe_images"):
        tb_featviz.FeatVizCallback(str(tmp_path), "conv1", probe_labels=y)
    with pytest.raises(ConfigurationError, match="method 'occlusion' needs probe_labels"):
        tb_featviz.FeatVizCallback(str(tmp_path), "conv1", probe_images=x, methods=["occlusion"])
    callback = tb_featviz.FeatVizCallback(str(tmp_path), "conv1", probe_images=x[:4], probe_labels=[0, 1, 9, 2])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ConfigurationError, match="class 9"):
        model.fit(x[:8], y[:8], epochs=1, verbose=0, callbacks=[callback])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_callback_records_occlusion_of_the_output_and_chosen_layers(tmp_path):
    keras.utils.set_random_seed(3)
    model = small_cnn()
    x, y = image_data(48, seed=3)
    one_hot = np.eye(5)[y[:12]]
    model.compile("adam", "categorical_crossentropy")
    callback = tb_featviz.FeatVizCallback(
        str(tmp_path), {"conv2": [0, 1]}, probe_images=x[:12], probe_labels=one_hot,
        occlusion=OcclusionOptions(images=3, size=8, stride=8), methods=["occlusion"], verbose=0,
        class_names=["tl", "tr", "bl", "br", "none"],
    )
    model.fit(x, np.eye(5)[y], epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    records = read_records(str(tmp_path))
    assert sorted(records) == [("conv2", "occlusion"), ("logits", "occlusion")]
    assert [plan.name for plan in callback._plans] == ["conv2", "logits"]  # model order, the output added
    header, pngs = records[("logits", "occlusion")][6]  # epoch 2: 3 steps an epoch
    assert header["position"]["epoch"] == 2
    assert header["roles"] == ["heatmap", "classes"] and header["channels"] == [0, 1, 2]
    assert header["layout"]["grid"] == [4, 4] and header["settings"]["class_names"][4] == "none"
    assert header["numbers"]["label"] == y[:3].tolist()
    expected = tb_featviz.occlusion(model, x[:3], y[:3], size=8, stride=8, layer="conv2")
    np.testing.assert_allclose(header["numbers"]["scores"], expected.probability, atol=1e-5)
    assert header["numbers"]["classes"] == expected.predicted_class.tolist()
    images = decode_images(pngs)
    assert images.shape == (6, 32, 32, 3)  # heatmap and class map per image
    feature, feature_pngs = records[("conv2", "occlusion")][6]
    assert feature["roles"] == ["heatmap"] and len(feature_pngs) == 3
    np.testing.assert_allclose(feature["numbers"]["scores"], expected.activation, rtol=1e-4, atol=1e-3)
    assert feature["numbers"]["feature"] == expected.feature.tolist()
    # The class map shows each class in its own colour: a pixel's colour is its class's over gray.
    colours = {int(k): v for k, v in header["layout"]["class_colours"].items()}
    gray = x[0].mean(axis=-1) * 255
    first = images[1].astype(float)
    klass = expected.predicted_class[0, 0, 0]
    pixel = 0.65 * np.array(colours[klass]) + 0.35 * gray[0, 0]
    np.testing.assert_allclose(first[0, 0], pixel, atol=1.0)


def test_occlusion_never_changes_training(tmp_path):
    x, y = image_data(48, seed=5)

    def train(with_callback):
        keras.utils.set_random_seed(5)
        model = small_cnn()
        model.compile("adam", "sparse_categorical_crossentropy")
        callbacks = [tb_featviz.FeatVizCallback(str(tmp_path / str(with_callback)), ["conv1"], probe_images=x[:8],
                                                probe_labels=y[:8], methods=["occlusion"], verbose=0)] \
            if with_callback else []
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks)
        return model.get_weights()

    for a, b in zip(train(False), train(True)):
        np.testing.assert_array_equal(a, b)


def test_registry_and_format_name_the_same_methods():
    from tb_featviz.methods import REGISTRY

    assert tuple(REGISTRY) == metadata.METHODS
    for name, method in REGISTRY.items():
        assert method.format.name == name and method.format.headline and method.format.roles


def test_a_binary_classifier_and_a_non_classifier(tmp_path):
    x, y = image_data(16, seed=7)
    keras.utils.set_random_seed(7)
    binary = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, name="conv"),
                               keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, activation="sigmoid")])
    labels = (y[:3] % 2).astype(int)
    result = tb_featviz.occlusion(binary, x[:3], labels, size=16, stride=16)
    plain = binary.predict(x[:3], verbose=0)[:, 0]
    np.testing.assert_allclose(result.unoccluded_probability, np.where(labels == 1, plain, 1 - plain), atol=1e-6)
    assert result.num_classes == 2 and result.probability_source == "output (one unit: class 1)"
    with pytest.raises(ConfigurationError, match="class 2, but the model's output has 2 classes"):
        tb_featviz.occlusion(binary, x[:1], [2])
    segmenter = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(5, 3, padding="same", name="conv")])
    segmenter.compile("adam", "mse")
    callback = tb_featviz.FeatVizCallback(str(tmp_path), "conv", probe_images=x[:4], probe_labels=y[:4],
                                          methods=["occlusion"])
    with pytest.raises(ConfigurationError, match=r"needs a classifier: the model's output must be \(batch, classes\)"):
        segmenter.fit(x[:4], np.zeros((4, 32, 32, 5)), epochs=1, verbose=0, callbacks=[callback])


def test_label_rows_without_a_class_and_blank_class_names_are_refused(tmp_path):
    """An all-zero one-hot row silently became class 0, and an empty class name was accepted (issue 23)."""
    x, y = image_data(4)
    labels = np.eye(5)[y]
    labels[[1, 3]] = 0
    with pytest.raises(ConfigurationError, match=r"probe_labels row 1 is all zeros \(2 rows are\): it names no class"):
        tb_featviz.FeatVizCallback(str(tmp_path), "conv1", probe_images=x, probe_labels=labels)
    for names, position in ((["", "b", "c", "d", "e"], 0), (["a", "b", "  ", "d", "e"], 2)):
        with pytest.raises(ConfigurationError, match=rf"class_names\[{position}\] is blank"):
            tb_featviz.FeatVizCallback(str(tmp_path), "logits", class_names=names)
