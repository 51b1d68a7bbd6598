"""The attribution maps in the dashboard, served by a real TensorBoard to headless Chromium: a
tile per probe image with the map over it and alone, the class and its logit, Spearman's rho
under each tile, the colour scale (diverging for integrated gradients), the sanity check's mark
on a map that stays like the untrained model's, and the evolution strip of one image."""

import keras
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tb_featviz import FeatVizCallback
from tb_featviz.records import read_records
from tests.browser import images_loaded, open_dashboard, screenshot, start_chromium, wait_for
from tests.conftest import image_data, small_cnn
from tests.tensorboard_server import TensorBoardServer

CLASSES = ["north-west", "north-east", "south-west", "south-east", "none"]
PROBES = 4
MARK = "barely differs from the untrained model's (Adebayo et al.)"


def train(log_dir, learning_rate):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    x, y = image_data(48)
    probes, labels = image_data(PROBES, seed=1)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    callback = FeatVizCallback(str(log_dir), ["conv2"], probe_images=probes, probe_labels=labels, verbose=0,
                               methods=["saliency", "gradcam", "integrated_gradients"], schedule="epoch",
                               class_names=CLASSES)
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("attribution_logs")
    train(root / "learning", 3e-3)
    train(root / "frozen", 0.0)  # learning rate 0: every map stays the untrained model's
    return root


@pytest.fixture(scope="module")
def driver(logdir):
    with TensorBoardServer(logdir) as tb:
        tb.wait_for_plugin()
        tb.wait_until(lambda: len(tb.json("/data/plugin/featviz/runs")["runs"]) == 2, what="both runs")
        browser = start_chromium()
        browser.tb_url = tb.url
        yield browser
        browser.quit()


def show(driver, run, layer, method):
    open_dashboard(driver, driver.tb_url, {"run": run, "layer": layer, "method": method, "step": 9})
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, f".grid.method-{method} .tile")) == PROBES,
             what=f"{method} tiles")
    wait_for(lambda: images_loaded(driver, ".tile img") == 2 * PROBES, what="the maps")


def legend_text(driver):
    return driver.find_element(By.CSS_SELECTOR, ".panel").text


def test_each_tile_shows_its_map_class_score_and_rho(driver, logdir):
    show(driver, "learning", "logits", "saliency")
    header = read_records(str(logdir / "learning"))[("logits", "saliency")][9][0]
    tiles = driver.find_elements(By.CSS_SELECTOR, ".tile")
    for position, tile in enumerate(tiles):
        assert [i.get_attribute("class") for i in tile.find_elements(By.TAG_NAME, "img")] == ["role-overlay", "role-map"]
        assert [c.text for c in tile.find_elements(By.CSS_SELECTOR, ".role-caption")] == ["over the image", "map"]
        explained, rho = header["numbers"]["class"][position], header["numbers"]["spearman_vs_first"][position]
        name = tile.find_element(By.CSS_SELECTOR, ".tile-name").text
        assert name.startswith(CLASSES[explained]) and name.endswith(f"ρ {rho:.2f} vs step 0")
        assert float(tile.find_element(By.CSS_SELECTOR, ".tile-value").text) == pytest.approx(
            header["numbers"]["score"][position], abs=0.006)
        marked = bool(tile.find_elements(By.CSS_SELECTOR, ".tile-mark"))
        assert marked == (rho > 0.9), (position, rho)  # the mark says what the number says
    text = legend_text(driver)
    assert "number: the logit of the image's true class" in text
    assert "Spearman rank correlation of the map with the same image's map at step 0, the untrained model" in text
    bar = driver.find_element(By.CSS_SELECTOR, ".attribution-legend .colour-bar").get_attribute("style")
    assert "rgb(68, 1, 84)" in bar  # viridis from 0
    tooltip = tiles[0].get_attribute("title")
    assert f"true class: {CLASSES[header['numbers']['label'][0]]}" in tooltip and "ρ vs step 0" in tooltip
    screenshot(driver, "attribution_learning_saliency")


def test_a_map_that_stays_the_untrained_models_is_marked_after_step_0(driver):
    show(driver, "frozen", "conv2", "gradcam")
    marks = [m.text for m in driver.find_elements(By.CSS_SELECTOR, ".tile-mark")]
    shown = [n.text for n in driver.find_elements(By.CSS_SELECTOR, ".tile-name")]
    defined = [name for name in shown if "ρ 1.00 vs step 0" in name]
    assert defined and len(marks) == len(defined) and all(MARK in m for m in marks)  # blank maps: no ρ, no mark
    screenshot(driver, "attribution_frozen_gradcam")
    open_dashboard(driver, driver.tb_url, {"run": "frozen", "layer": "conv2", "method": "gradcam", "step": 0})
    wait_for(lambda: "ρ 1.00 vs step 0" in driver.find_element(By.CSS_SELECTOR, ".grid").text, what="step 0")
    assert not driver.find_elements(By.CSS_SELECTOR, ".tile-mark")  # step 0 is the reference itself


def test_integrated_gradients_diverge_around_zero_and_state_their_completeness(driver):
    show(driver, "learning", "logits", "integrated_gradients")
    bar = driver.find_element(By.CSS_SELECTOR, ".attribution-legend .colour-bar").get_attribute("style")
    assert "rgb(33, 102, 172)" in bar and "rgb(247, 247, 247)" in bar and "rgb(178, 24, 43)" in bar
    assert "red raises the class's score, blue lowers it" in legend_text(driver)
    assert "completeness error: " in driver.find_element(By.CSS_SELECTOR, ".tile").get_attribute("title")
    driver.find_elements(By.CSS_SELECTOR, ".tile")[1].click()
    title = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution h2").text, what="the evolution")
    assert title.startswith("logits · image 1 (")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")) == 4, what="4 frames")
    options = [o.text for o in Select(driver.find_element(By.CSS_SELECTOR, ".role-select")).options]
    assert options == ["over the image", "map"]
    screenshot(driver, "attribution_learning_integrated_gradients")
