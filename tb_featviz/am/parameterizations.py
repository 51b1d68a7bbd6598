"""How the optimized image is represented, separate from what is optimized.

A parameterization gives a seeded starting value for each channel's parameters and maps
parameters to an image in [0, 1]. Starts come from ``np.random.default_rng((seed, channel))``:
the same channel starts from the same image at every epoch, whatever other channels are chosen,
and the global random state is never touched.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

# Lucid's colour decorrelation: square root of the ImageNet colour covariance (via SVD),
# normalized so its largest column has unit norm.
_COLOR_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
_COLOR_SQRT_NORMALIZED = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


def channel_rng(seed: int, channel: int, stream: int) -> np.random.Generator:
    """An independent generator per (seed, channel, purpose)."""
    return np.random.default_rng((int(seed), int(channel), int(stream)))


class PixelImage:
    """The image itself, in [0, 1], clipped after each step.

    Starts like the tutorial this project grew from: ``(128 + 20 * uniform) / 255``, a faint
    noise around mid-gray.
    """

    name = "pixel"
    supports_blur = True

    def initial(self, seed: int, channels: Sequence[int], shape: Sequence[int]) -> np.ndarray:
        height, width, depth = shape
        return np.stack(
            [
                (128.0 + 20.0 * channel_rng(seed, c, 0).random((height, width, depth))) / 255.0
                for c in channels
            ]
        ).astype(np.float32)

    def to_image(self, params: tf.Tensor, shape: Sequence[int]) -> tf.Tensor:
        return params

    def project(self, params: tf.Tensor) -> tf.Tensor:
        return tf.clip_by_value(params, 0.0, 1.0)

    def settings(self) -> dict:
        return {"name": self.name}


class FourierImage:
    """The image's 2-D Fourier spectrum, scaled by 1/frequency, through a sigmoid (as in Lucid).

    Gradient steps on the spectrum change all frequencies at an equal pace, where pixel steps
    are dominated by high frequencies; the result is smoother, more natural-looking images. For
    three-channel inputs, colours are decorrelated so optimization works on independent colour
    components.
    """

    name = "fourier"
    supports_blur = False

    def __init__(self, decorrelate: bool = True, decay_power: float = 1.0, std: float = 0.01):
        from tb_featviz import checks
        from tb_featviz.errors import ConfigurationError

        if not isinstance(decorrelate, bool):
            raise ConfigurationError(f"FourierImage.decorrelate must be True or False, got {decorrelate!r}")
        checks.number(decay_power, "FourierImage.decay_power", minimum=0, maximum=4)
        checks.number(std, "FourierImage.std", positive=True, maximum=10)
        self.decorrelate = decorrelate
        self.decay_power = float(decay_power)
        self.std = float(std)

    def initial(self, seed: int, channels: Sequence[int], shape: Sequence[int]) -> np.ndarray:
        height, width, depth = shape
        spectrum_shape = (depth, height, width // 2 + 1, 2)
        return np.stack(
            [self.std * channel_rng(seed, c, 0).standard_normal(spectrum_shape) for c in channels]
        ).astype(np.float32)

    def _scale(self, height: int, width: int) -> np.ndarray:
        fy = np.fft.fftfreq(height)[:, None]
        fx = np.fft.rfftfreq(width)[None, :]
        frequencies = np.sqrt(fx * fx + fy * fy)
        scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width)) ** self.decay_power
        return (scale * np.sqrt(height * width)).astype(np.float32)

    def to_image(self, params: tf.Tensor, shape: Sequence[int]) -> tf.Tensor:
        height, width, depth = shape
        scale = tf.constant(self._scale(height, width))
        spectrum = tf.complex(params[..., 0] * scale, params[..., 1] * scale)
        planes = tf.signal.irfft2d(spectrum, fft_length=[height, width])  # (b, c, h, w)
        image = tf.transpose(planes, [0, 2, 3, 1]) / 4.0
        if depth == 3 and self.decorrelate:
            image = tf.einsum("bhwc,dc->bhwd", image, tf.constant(_COLOR_SQRT_NORMALIZED))
        return tf.sigmoid(image)

    def project(self, params: tf.Tensor) -> tf.Tensor:
        return params

    def settings(self) -> dict:
        return {"name": self.name, "decorrelate": self.decorrelate, "decay_power": self.decay_power}


def get(name_or_object) -> "PixelImage | FourierImage":
    """A parameterization from its name ("pixel", "fourier") or an instance."""
    if isinstance(name_or_object, (PixelImage, FourierImage)):
        return name_or_object
    if name_or_object == "pixel":
        return PixelImage()
    if name_or_object == "fourier":
        return FourierImage()
    raise ValueError(f"parameterization must be 'pixel' or 'fourier', got {name_or_object!r}")
