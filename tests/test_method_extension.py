"""The extension contract (docs/architecture.md, "How to add a method"), proved: a method defined
in this file alone, registered, runs through the callback, the notebook call, the CLI and the
dashboard served by a real TensorBoard, with no other file of tb-featviz changed.

The method: each channel's mean over the probe images (space and images), drawn as a bar.
"""

import dataclasses

import keras
import numpy as np
import pytest
from selenium.webdriver.common.by import By

import tb_featviz
from tb_featviz import checks, cli, methods, summary
from tb_featviz.metadata import MethodFormat
from tb_featviz.model_access import SPATIAL
from tb_featviz.records import read_records
from tests.browser import open_dashboard, start_chromium, wait_for
from tests.conftest import image_data, small_cnn
from tests.tensorboard_server import TensorBoardServer

pytestmark = pytest.mark.browser

NAME = "channel_mean"
FORMAT = MethodFormat(NAME, "Channel mean", ("bar",), "mean", "the channel's mean over the probe images",
                      "no channel-mean records: pass probe_images", role_labels={"bar": "mean as a bar"})


@dataclasses.dataclass(frozen=True)
class BarOptions:
    height: int = 16

    def __post_init__(self):
        checks.integer(self.height, "BarOptions.height", 2)


@dataclasses.dataclass
class ChannelMeans:
    channels: np.ndarray
    means: np.ndarray
    height: int

    def bars(self) -> np.ndarray:
        """(n, height, 8, 1) uint8: a white bar as high as the mean (scaled by the largest)."""
        top = max(float(np.max(np.abs(self.means))), 1e-12)
        bars = np.zeros((len(self.means), self.height, 8, 1), np.uint8)
        for bar, mean in zip(bars, self.means):
            bar[self.height - int(round(self.height * abs(mean) / top)):] = 255
        return bars

    def record(self, layer):
        return summary.make_record(layer, NAME, self.channels, [[bar] for bar in self.bars()],
                                   {"mean": self.means}, format=FORMAT)


class ChannelMean(methods.Method):
    name = NAME
    format = FORMAT
    options_type = BarOptions
    cli_flags = (methods.CliFlag("--bar-height", "channel_mean: the bar's height in pixels", type=int),)

    def options_from_cli(self, values, probe_count):
        return BarOptions() if values["bar_height"] is None else BarOptions(values["bar_height"])

    def needs(self, settings):
        return None if settings.probe_images is not None else "probe_images (the images to average over)"

    def applies(self, ref, path, settings, output):
        return None if output.kind == SPATIAL else "it averages feature maps"

    def runner(self, plan, spec, settings):
        probes, height = settings.probe_images, settings.options_of(NAME).height

        def run(progress=None):
            outputs = keras.ops.convert_to_numpy(plan.target.output(probes))
            return ChannelMeans(np.array(plan.channels), outputs[..., plan.channels].mean(axis=(0, 1, 2)), height)

        return run

    def grid(self, result, contrast):
        return result.bars(), [f"#{c} {m:.3g}" for c, m in zip(result.channels, result.means)], ["CHANNEL MEANS"]


@pytest.fixture
def registered():
    method = methods.register(ChannelMean())
    yield method
    methods.unregister(NAME)


def expected_means(model, x, channels):
    outputs = keras.Model(model.inputs, model.get_layer("conv2").output)(x)
    return keras.ops.convert_to_numpy(outputs)[..., channels].mean(axis=(0, 1, 2))


def test_a_method_defined_here_runs_everywhere(registered, tmp_path):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(32)
    model.compile("adam", "sparse_categorical_crossentropy")
    log_dir = tmp_path / "run"

    # The callback: its records, with the options given for it, at every scheduled step.
    callback = tb_featviz.FeatVizCallback(str(log_dir), {"conv2": [0, 3, 5]}, probe_images=x[:8],
                                          methods=[NAME], options={NAME: BarOptions(height=12)},
                                          schedule="epoch", verbose=0)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    records = read_records(str(log_dir))
    assert set(records) == {("conv2", NAME)} and sorted(records[("conv2", NAME)]) == [0, 2, 4]
    header, pngs = records[("conv2", NAME)][4]
    np.testing.assert_allclose(header["numbers"]["mean"], expected_means(model, x[:8], [0, 3, 5]), rtol=1e-5)
    assert header["image_shape"] == [12, 8, 1] and len(pngs) == 3

    # The notebook call.
    result = tb_featviz.run_method(model, "conv2", NAME, [1, 2], probe_images=x[:8])
    np.testing.assert_allclose(result.means, expected_means(model, x[:8], [1, 2]), rtol=1e-5)

    # The CLI: its flag, the grid and the records; another method's flag is refused.
    model.save(tmp_path / "model.keras")
    np.save(tmp_path / "x.npy", x[:8])
    render = ["render", str(tmp_path / "model.keras"), "--layer", "conv2", "--method", NAME,
              "--probe-images", str(tmp_path / "x.npy"), "--bar-height", "10"]
    assert cli.main([*render, "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0
    assert cli.main([*render, "--logdir", str(tmp_path / "cli")]) == 0
    assert read_records(str(tmp_path / "cli"))[("conv2", NAME)][0][0]["image_shape"] == [10, 8, 1]
    assert cli.main([*render, "--top-k", "3", "--out", str(tmp_path / "x.png")]) == 2
    assert cli.main(["render", str(tmp_path / "model.keras"), "--layer", "conv2", "--bar-height", "4",
                     "--out", str(tmp_path / "y.png")]) == 2

    # The dashboard, served by a real TensorBoard that never imported this file.
    with TensorBoardServer(str(tmp_path)) as tb:
        tb.wait_for_plugin()
        tb.wait_until(lambda: len(tb.json("/data/plugin/featviz/runs")["runs"]) == 2, what="both runs")
        listing = tb.json("/data/plugin/featviz/runs")
        assert listing["formats"][NAME]["label"] == "Channel mean"
        grid = tb.json(f"/data/plugin/featviz/grid?run=run&layer=conv2&method={NAME}")
        assert grid["channels"] == [0, 3, 5] and grid["step"] == 4
        driver = start_chromium()
        try:
            open_dashboard(driver, tb.url, {"run": "run", "layer": "conv2", "method": NAME})
            wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".tile img")) == 3, what="three bars")
            button = driver.find_element(By.CSS_SELECTOR, f'.methods button[data-method="{NAME}"]')
            assert button.text == "Channel mean"
            wait_for(lambda: all(img.get_property("naturalWidth") == 8
                                 for img in driver.find_elements(By.CSS_SELECTOR, ".tile img")), what="bars drawn")
            driver.find_elements(By.CSS_SELECTOR, ".tile")[1].click()
            wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")) == 3,
                     what="channel 3's evolution over the three steps")
        finally:
            driver.quit()


def test_a_registered_name_is_checked(registered):
    with pytest.raises(tb_featviz.ConfigurationError, match="registered already"):
        methods.register(ChannelMean())
    with pytest.raises(Exception, match="lower-case"):
        bad = ChannelMean()
        bad.name = "Bad-Name"
        methods.register(bad)
