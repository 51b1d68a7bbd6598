"""An independent reference for convolution filters: the layer's own response to impulse inputs.

For a convolution (template), output unit (0, 0) of a 'valid' copy of the layer responds to an
impulse at input pixel (dy, dx) of channel i with the weight that multiplies that pixel:
scanning impulses over the unit's window reads its filter. For a transposed convolution (stamp),
one input impulse paints the filter onto the output. Both are read from the layer's own output,
through a copy built from its config and weights with bias, activation and padding switched off.
"""

import keras
import numpy as np


def linear_copy(layer, input_shape):
    """The same layer (config and weights) without bias or activation: its linear map alone."""
    config = dict(layer.get_config(), activation="linear", use_bias=False, padding="valid", name=layer.name + "_linear")
    if "output_padding" in config:
        config["output_padding"] = None
    copy = type(layer).from_config(config)
    copy.build((None,) + tuple(input_shape))
    weights = [w for w in layer.get_weights()]
    if getattr(layer, "use_bias", False):
        weights = weights[:-1]
    copy.set_weights(weights)
    return copy


def template_filters(layer, channels, window):
    """(out, wh, ww, in) filters read from output unit (0, 0)'s response to impulses.

    `window`: (height, width) of the effective filter (dilated kernels included). The copy is
    'valid' and as large as the window, so its one output unit sees input pixels [0, wh) x [0, ww).
    """
    wh, ww = window
    linear = linear_copy(layer, (wh, ww, channels))
    positions = [(dy, dx, c) for dy in range(wh) for dx in range(ww) for c in range(channels)]
    responses = []
    for start in range(0, len(positions), 256):
        chunk = positions[start : start + 256]
        impulses = np.zeros((len(chunk), wh, ww, channels), np.float32)
        for index, (dy, dx, c) in enumerate(chunk):
            impulses[index, dy, dx, c] = 1.0
        responses.append(np.asarray(linear(impulses))[:, 0, 0, :])  # (impulses, out)
    response = np.concatenate(responses)
    return np.moveaxis(response.reshape(wh, ww, channels, -1), -1, 0)


def stamp_filters(layer, channels, kernel_size):
    """(out, kh, kw, in) what one input unit adds to each output channel (a 1x1 input)."""
    linear = linear_copy(layer, (1, 1, channels))
    impulses = np.zeros((channels, 1, 1, channels), np.float32)
    for c in range(channels):
        impulses[c, 0, 0, c] = 1.0
    response = np.asarray(linear(impulses))  # (in, kh, kw, out)
    kh, kw = kernel_size
    return np.moveaxis(response[:, :kh, :kw, :], [0, 3], [3, 0])  # (out, kh, kw, in)


def full_filters(result, num_inputs):
    """A WeightsResult's kernels spread over all input channels (zeros where a slice is absent)."""
    full = np.zeros(result.kernels.shape[:3] + (num_inputs,), np.float32)
    for i, inputs in enumerate(result.input_channels):
        full[i][..., inputs] = result.kernels[i]
    return full


def assert_filters_match_impulses(layer, result, num_inputs):
    """Every filter in `result` equals what the layer computes (to float32 precision)."""
    if isinstance(layer, keras.layers.Conv2DTranspose):
        reference = stamp_filters(layer, num_inputs, result.kernels.shape[1:3])
    else:
        reference = template_filters(layer, num_inputs, result.kernels.shape[1:3])
    expected = reference[result.channels]
    got = full_filters(result, num_inputs)
    scale = max(float(np.abs(expected).max()), 1e-12)
    assert np.abs(got - expected).max() / scale < 1e-5, (layer.name, np.abs(got - expected).max(), scale)
