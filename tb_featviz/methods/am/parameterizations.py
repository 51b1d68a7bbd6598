"""How the optimized image is represented, separate from what is optimized.

A parameterization gives a seeded starting value for each channel's parameters and maps
parameters to an image in [0, 1]. Starts come from ``np.random.default_rng((seed, channel))``:
the same channel starts from the same image at every epoch, whatever other channels are chosen,
and the global random state is never touched.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from keras import ops

# Lucid's colour decorrelation: square root of the ImageNet colour covariance (via SVD),
# normalized so its largest column has unit norm.
_COLOR_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
_COLOR_SQRT_NORMALIZED = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


def channel_rng(seed: int, channel: int, stream: int, copy: int = 0) -> np.random.Generator:
    """An independent generator per (seed, channel, purpose), and per copy when a channel gets
    several images (copy 0 draws what a single image always drew)."""
    key = (int(seed), int(channel), int(stream)) + ((int(copy),) if copy else ())
    return np.random.default_rng(key)


class PixelImage:
    """The image itself, in [0, 1]: clipped after each step, or (`bounded`) the sigmoid of
    unbounded parameters, which approaches black and white only as far as the gradient keeps
    pushing, instead of piling pixels up at the clip (the saturated "neon" look).

    Starts like the tutorial this project grew from: ``(128 + 20 * uniform) / 255``, a faint
    noise around mid-gray (bounded: the parameters that give that image).
    """

    name = "pixel"
    supports_blur = True

    def __init__(self, bounded: bool = False):
        from tb_featviz.errors import ConfigurationError

        if not isinstance(bounded, bool):
            raise ConfigurationError(f"PixelImage.bounded must be True or False, got {bounded!r}")
        self.bounded = bounded

    def initial(self, seed: int, channels: Sequence[int], shape: Sequence[int], copies: int = 1) -> np.ndarray:
        height, width, depth = shape
        start = np.stack(
            [
                (128.0 + 20.0 * channel_rng(seed, c, 0, copy).random((height, width, depth))) / 255.0
                for c in channels for copy in range(copies)
            ]
        ).astype(np.float32)
        return np.log(start / (1.0 - start)).astype(np.float32) if self.bounded else start

    def to_image(self, params, shape: Sequence[int]):
        return ops.sigmoid(params) if self.bounded else params

    def project(self, params):
        return params if self.bounded else ops.clip(params, 0.0, 1.0)

    def fitted(self, unit_images) -> "PixelImage":
        return self

    def settings(self) -> dict:
        return {"name": self.name, "bounded": self.bounded}


class FourierImage:
    """The image's 2-D Fourier spectrum, scaled by 1/frequency, through a sigmoid (as in Lucid).

    Gradient steps on the spectrum change all frequencies at an equal pace, where pixel steps
    are dominated by high frequencies; the result is smoother, more natural-looking images. For
    three-channel inputs, colours are decorrelated so optimization works on independent colour
    components: with the colour statistics of the probe images when the maximizer has them
    (`fitted`), else ImageNet's (Lucid's matrix). The start (`std`) is faint noise as visible
    as the pixel start (pixel std about 0.026), never a flat image.
    """

    name = "fourier"
    supports_blur = False

    def __init__(self, decorrelate: bool = True, decay_power: float = 1.0, std: float = 0.1,
                 colour_matrix: Optional[np.ndarray] = None, colour_source: str = "imagenet"):
        from tb_featviz import checks
        from tb_featviz.errors import ConfigurationError

        if not isinstance(decorrelate, bool):
            raise ConfigurationError(f"FourierImage.decorrelate must be True or False, got {decorrelate!r}")
        checks.number(decay_power, "FourierImage.decay_power", minimum=0, maximum=4)
        checks.number(std, "FourierImage.std", positive=True, maximum=10)
        self.decorrelate = decorrelate
        self.decay_power = float(decay_power)
        self.std = float(std)
        if colour_matrix is not None:
            matrix = np.asarray(colour_matrix, np.float64) if not isinstance(colour_matrix, str) else None
            if matrix is None or matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)) or not np.any(matrix):
                raise ConfigurationError("FourierImage.colour_matrix must be a finite, non-zero 3 x 3 matrix")
            colour_matrix = matrix.astype(np.float32)
            colour_source = colour_source if colour_source != "imagenet" else "given"
        self.colour_matrix = _COLOR_SQRT_NORMALIZED if colour_matrix is None else colour_matrix
        self.colour_source = colour_source

    def fitted(self, unit_images) -> "FourierImage":
        """A copy decorrelating colours by the statistics of `unit_images` ((n, h, w, 3) in
        [0, 1], e.g. the probe images), Lucid's way: the square root of their colour covariance,
        scaled so its largest column has unit norm. Other inputs keep ImageNet's."""
        if unit_images is None or not self.decorrelate or np.shape(unit_images)[-1] != 3:
            return self
        pixels = np.asarray(unit_images, np.float64).reshape(-1, 3)
        covariance = np.cov(pixels, rowvar=False)
        if not np.all(np.isfinite(covariance)) or np.linalg.matrix_rank(covariance) < 3:
            return self  # gray or constant probes say nothing about colours
        u, singular, _ = np.linalg.svd(covariance)
        root = u * np.sqrt(singular)
        matrix = (root / np.max(np.linalg.norm(root, axis=0))).astype(np.float32)
        return FourierImage(self.decorrelate, self.decay_power, self.std, matrix, "probe images")

    def initial(self, seed: int, channels: Sequence[int], shape: Sequence[int], copies: int = 1) -> np.ndarray:
        height, width, depth = shape
        spectrum_shape = (depth, height, width // 2 + 1, 2)
        return np.stack(
            [self.std * channel_rng(seed, c, 0, copy).standard_normal(spectrum_shape)
             for c in channels for copy in range(copies)]
        ).astype(np.float32)

    def _scale(self, height: int, width: int) -> np.ndarray:
        fy = np.fft.fftfreq(height)[:, None]
        fx = np.fft.rfftfreq(width)[None, :]
        frequencies = np.sqrt(fx * fx + fy * fy)
        scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width)) ** self.decay_power
        return (scale * np.sqrt(height * width)).astype(np.float32)

    def to_image(self, params, shape: Sequence[int]):
        height, width, depth = shape
        scale = ops.convert_to_tensor(self._scale(height, width))
        planes = _irfft2(params[..., 0] * scale, params[..., 1] * scale, width)  # (b, c, h, w)
        image = ops.transpose(planes, (0, 2, 3, 1)) / 4.0
        if depth == 3 and self.decorrelate:
            image = ops.einsum("bhwc,dc->bhwd", image, ops.convert_to_tensor(self.colour_matrix))
        return ops.sigmoid(image)

    def project(self, params):
        return params

    def settings(self) -> dict:
        return {"name": self.name, "decorrelate": self.decorrelate, "decay_power": self.decay_power,
                "std": self.std, "colours": self.colour_source if self.decorrelate else None}


def _irfft2(real, imag, width: int):
    """The real 2-D inverse FFT over the last two axes of a half spectrum (..., h, w // 2 + 1),
    from the FFTs every Keras backend has: a complex inverse FFT down the columns (``ifft2`` over
    the height and a trailing axis of one, where it is the identity), then a real one along rows."""
    moved = [ops.expand_dims(ops.swapaxes(part, -1, -2), -1) for part in (real, imag)]
    real, imag = (ops.swapaxes(ops.squeeze(part, -1), -1, -2) for part in ops.ifft2(tuple(moved)))
    return ops.irfft((real, imag), fft_length=width)


AUTO = "auto"
NAMES = ("pixel", "fourier", AUTO)


def get(name_or_object, shape: Optional[Sequence[int]] = None) -> "PixelImage | FourierImage":
    """A parameterization from its name ("pixel", "fourier", "auto") or an instance.

    "auto" (the default) picks by the image, as measured (BENCHMARKS.md, "AM on a pretrained
    network"): the Fourier image for colour images of at least 64 px, whose features are
    smooth textures and objects; pixels for small or gray images (a 28 px Fashion-MNIST CNN
    reaches twice the activation with pixels in the same 48 steps, its optima being sharp
    black-and-white strokes). Without a shape, "auto" means pixels.
    """
    if isinstance(name_or_object, (PixelImage, FourierImage)):
        return name_or_object
    if name_or_object == AUTO:
        colour_and_large = shape is not None and shape[-1] == 3 and min(shape[0], shape[1]) >= 64
        return FourierImage() if colour_and_large else PixelImage()
    if name_or_object == "pixel":
        return PixelImage()
    if name_or_object == "fourier":
        return FourierImage()
    raise ValueError(f"parameterization must be 'auto', 'pixel' or 'fourier', got {name_or_object!r}")


def to_config(value) -> object:
    """A parameterization ("auto", "pixel", "fourier" or an object) as plain JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, PixelImage):
        return {"class": "PixelImage", "bounded": value.bounded}
    imagenet = value.colour_source == "imagenet"
    return {"class": "FourierImage", "decorrelate": value.decorrelate, "decay_power": value.decay_power,
            "std": value.std, "colour_matrix": None if imagenet else np.asarray(value.colour_matrix).tolist(),
            "colour_source": value.colour_source}


def from_config(config) -> object:
    """Inverse of `to_config` (checked by the classes themselves)."""
    from tb_featviz.errors import ConfigurationError

    if isinstance(config, str):
        return config
    if isinstance(config, dict) and config.get("class") == "PixelImage":
        return PixelImage(bounded=config.get("bounded", False))
    if isinstance(config, dict) and config.get("class") == "FourierImage":
        fields = {k: v for k, v in config.items() if k != "class"}
        return FourierImage(**fields)
    raise ConfigurationError(f"AMOptions.parameterization: not a known parameterization: {config!r}"[:200])
