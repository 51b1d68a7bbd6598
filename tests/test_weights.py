"""Filter weight tiles: colour for RGB first layers, slice grids for deeper ones."""

import numpy as np

import tb_featviz
from tests.conftest import small_cnn


def test_first_layer_colour_and_deeper_layer_grid():
    model = small_cnn()
    first = tb_featviz.filter_weights(model, "conv1")
    assert first.tiles().shape == (8, 3, 3, 3)
    kernel = model.get_layer("conv1").get_weights()[0]
    np.testing.assert_allclose(first.norm, np.sqrt((kernel**2).sum(axis=(0, 1, 2))), rtol=1e-5)
    deep = tb_featviz.filter_weights(model, "conv2", [0, 5])
    # 8 input slices of 3x3 in a 3x3 mosaic with 1 px coloured gaps: 11 x 11
    assert deep.tiles().shape == (2, 11, 11, 3)
    tile = deep.tiles()[1, :3, :3, 0].astype(int)
    slice0 = model.get_layer("conv2").get_weights()[0][:, :, 0, 5]
    clear = np.abs(slice0) > 1e-3  # sign is preserved around mid-gray
    assert clear.any()
    np.testing.assert_array_equal((tile > 128)[clear], (slice0 > 0)[clear])
