"""The dashboard's GIF encoder (frontend/gif.js), run in Node and decoded by an independent decoder."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.gif import decode_gif

GIF_JS = Path(__file__).resolve().parent.parent / "frontend" / "gif.js"

SCRIPT = """
import {encodeGif} from %(module)s;
import {writeFileSync} from 'fs';
const [w, h] = [97, 61];
let seed = 7;
const random = () => (seed = (seed * 1103515245 + 12345) %% 2147483648) / 2147483648;
const frame = (pixel) => {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([...pixel(i), 255], 4 * i);
  return {width: w, height: h, data};
};
const gray = [frame(() => { const v = Math.floor(random() * 256); return [v, v, v]; }),
              frame((i) => [(i * 7) %% 256, (i * 7) %% 256, (i * 7) %% 256]),
              frame(() => [0, 0, 0])];
const colour = [frame((i) => [Math.floor(random() * 256), (i * 3) %% 256, 200])];
const pixels = (frames) => frames.map((f) => Array.from(f.data));
writeFileSync(%(out)s, JSON.stringify({
  gray: Array.from(encodeGif(gray, 300)), grayPixels: pixels(gray),
  colour: Array.from(encodeGif(colour, 100)), colourPixels: pixels(colour),
}));
"""


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    node = shutil.which("node")
    assert node, "Node.js is needed to test the dashboard's JavaScript"
    directory = tmp_path_factory.mktemp("gif")
    script = directory / "encode.mjs"
    out = directory / "out.json"
    script.write_text(SCRIPT % {"module": json.dumps(GIF_JS.as_uri()), "out": json.dumps(str(out))})
    subprocess.run([node, str(script)], check=True, timeout=60)
    return json.loads(out.read_text())


def _rgb(pixels, shape=(61, 97)):
    return np.array(pixels, np.uint8).reshape(*shape, 4)[..., :3]


def test_grayscale_frames_round_trip_exactly_including_lzw_table_resets(encoded):
    frames, delays = decode_gif(bytes(encoded["gray"]))
    assert len(frames) == 3 and delays == [30, 30, 30]
    for frame, pixels in zip(frames, encoded["grayPixels"]):
        np.testing.assert_array_equal(frame, _rgb(pixels))


def test_colour_frames_are_quantized_to_the_colour_cube(encoded):
    (frame,), delays = decode_gif(bytes(encoded["colour"]))
    assert delays == [10]
    error = np.abs(frame.astype(int) - _rgb(encoded["colourPixels"][0]).astype(int))
    assert error.max() <= 26  # half a step of the 6x7x6 cube
