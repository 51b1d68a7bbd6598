"""Similarity records on whichever Keras backend runs (`make test` runs tests/core under
TensorFlow, JAX and PyTorch): the stored centred Gram matrix is the layer's, computed here in
NumPy from the activations, and CKA from the records equals CKA from those activations."""

import keras
import numpy as np

import tb_featviz
from tb_featviz import FeatVizCallback
from tb_featviz.methods.similarity import centred_gram, cka_of_grams, gram_of
from tb_featviz.records import read_records
from tests.conftest import image_data, small_cnn


def test_the_records_hold_each_layers_gram_matrix_on_every_backend(tmp_path, caplog):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(48)
    probes = x[:24]
    callback = FeatVizCallback(str(tmp_path), ["conv1", "conv2", "logits"], probe_images=probes,
                               methods=["similarity"], schedule="epoch", verbose=0)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    assert not [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    records = read_records(str(tmp_path))
    features = {}
    for layer in ("conv1", "conv2", "logits"):
        sub = keras.Model(model.inputs, model.get_layer(layer).output)
        features[layer] = keras.ops.convert_to_numpy(sub(keras.ops.convert_to_tensor(probes)))
        stored = gram_of(*records[(layer, "similarity")][6])
        expected = centred_gram(features[layer])
        np.testing.assert_allclose(stored, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
        assert sorted(records[(layer, "similarity")]) == [0, 3, 6]
    between = cka_of_grams(gram_of(*records[("conv2", "similarity")][6]), gram_of(*records[("logits", "similarity")][6]))
    assert abs(between - tb_featviz.cka(features["conv2"], features["logits"])) < 1e-6
