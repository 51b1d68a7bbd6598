"""The Similarity page (issue 27) in a real headless Chromium against a real `tensorboard` over
real fit logs: a layer × step heat map of CKA with each layer's state at the shown step, one
layer's step × step matrix, and a layer between compared runs; every number on hover, colours
on a scale, names shown as text."""

import numpy as np
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

import tb_featviz
from tb_featviz.event_writer import EventFileWriter
from tests.browser import open_dashboard, screenshot, start_chromium, wait_for
from tests.conftest import image_data
from tests.logs import HOSTILE_LAYER, HOSTILE_RUN
from tests.tensorboard_server import TensorBoardServer
from tests.test_similarity import write_run

VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]]


def expected_colour(value):
    """The page's colour of a CKA value, computed here on its own: viridis between 5 anchors."""
    at = min(max(value, 0.0), 1.0) * 4
    low = min(3, int(np.floor(at)))
    rgb = [round(a + (at - low) * (b - a)) for a, b in zip(VIRIDIS[low], VIRIDIS[low + 1])]
    return f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("similarity_pages")
    probes, _ = image_data(24, seed=99)
    write_run(root / "seed0", 0, probes, epochs=3)
    write_run(root / "seed1", 1, probes, epochs=3)
    write_run(root / "other_probes", 0, image_data(24, seed=98)[0], epochs=3)
    rng = np.random.default_rng(3)
    writer = EventFileWriter(str(root / HOSTILE_RUN))
    for step in range(3):
        features = rng.standard_normal((8, 6))
        gram = (features - features.mean(0)) @ (features - features.mean(0)).T
        tb_featviz.SimilarityResult(gram, 6).record(HOSTILE_LAYER).write_to(writer, step, epoch=float(step))
    writer.close()
    return root


@pytest.fixture(scope="module")
def server(logdir):
    with TensorBoardServer(str(logdir), "--load_fast=false") as tb:  # names with quotes: the Python loader
        tb.wait_for_plugin()
        tb.wait_until(lambda: len(tb.json("/data/plugin/featviz/runs")["runs"]) == 4, what="four runs")
        yield tb


@pytest.fixture(scope="module")
def driver():
    browser = start_chromium()
    yield browser
    browser.quit()


def cells(driver, kind):
    return driver.find_elements(By.CSS_SELECTOR, f".cka-{kind} .cka-cell")


def cka(server, **params):
    from urllib.parse import urlencode

    return server.json("/data/plugin/featviz/cka?" + urlencode({"method": "similarity", **params}))


def test_the_page_shows_how_settled_each_layer_is_and_one_layers_matrix(driver, server):
    open_dashboard(driver, server.url, {"run": "seed0", "layer": "conv1"})
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".tile, .cka-cell, .empty"), what="the page")
    driver.find_element(By.CSS_SELECTOR, '.methods button[data-method="similarity"]').click()
    wait_for(lambda: len(cells(driver, "layers")) == 2 * 4, what="2 layers x 4 steps")
    answer = cka(server, run="seed0", layer="conv1")
    shown = cells(driver, "layers")
    for layer_index, layer in enumerate(answer["layers"]):
        for step_index, value in enumerate(layer["cka"]):
            cell = shown[layer_index * 4 + step_index]
            assert float(cell.get_attribute("data-value")) == pytest.approx(value, abs=1e-12)
            title = cell.find_element(By.TAG_NAME, "title").get_attribute("textContent")
            assert f"{layer['name']} at " in title and f"CKA {value:.4f}" in title
            assert cell.get_attribute("fill") == expected_colour(value)
    # The reference is the latest step while live; the first step is less settled than the last.
    assert "the latest: live" in driver.find_element(By.CSS_SELECTOR, ".cka-page .panel-legend").text
    assert answer["layers"][0]["cka"][0] < answer["layers"][0]["cka"][-1]
    # Hovering a cell reads its number out under the page.
    ActionChains(driver).move_to_element(shown[1]).perform()
    readout = driver.find_element(By.CSS_SELECTOR, ".cka-readout")
    wait_for(lambda: readout.text.startswith("conv1 at "), what="the read-out")
    assert f"CKA {answer['layers'][0]['cka'][1]:.4f}" in readout.text
    # The chosen layer's step x step matrix; a click on a layer's name shows that layer's.
    assert len(cells(driver, "matrix")) == 16
    assert "conv1: every recorded step" in driver.find_element(By.CSS_SELECTOR, ".cka-page").text
    next(b for b in driver.find_elements(By.CSS_SELECTOR, "button.cka-label") if b.text == "conv2").click()
    wait_for(lambda: "conv2: every recorded step" in driver.find_element(By.CSS_SELECTOR, ".cka-page").text,
             what="conv2's matrix")
    assert Select(driver.find_element(By.ID, "layer")).first_selected_option.text == "conv2"
    matrix = cka(server, run="seed0", layer="conv2")["matrix"]["cka"]
    values = [float(c.get_attribute("data-value")) for c in cells(driver, "matrix")]
    np.testing.assert_allclose(values, np.ravel(matrix), atol=1e-12)
    assert not driver.find_element(By.ID, "contrast").is_displayed()  # no images on this page
    # The slider picks another reference: each layer against its state after epoch 1.
    driver.find_element(By.ID, "epoch").send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)
    wait_for(lambda: "epoch 1 · step 3" in driver.find_element(By.CSS_SELECTOR, ".cka-page .panel-legend").text,
             what="the reference at epoch 1")
    earlier = cka(server, run="seed0", layer="conv2", step=3)
    wait_for(lambda: float(cells(driver, "layers")[0].get_attribute("data-value")) ==
             pytest.approx(earlier["layers"][0]["cka"][0], abs=1e-12), what="the cells against epoch 1")
    screenshot(driver, "similarity_page")


def test_compare_with_shows_the_layer_between_runs_at_the_same_epoch(driver, server):
    open_dashboard(driver, server.url, {"run": "seed0", "layer": "conv2", "method": "similarity",
                                        "compare": '["seed1", "other_probes"]'})
    wait_for(lambda: len(cells(driver, "runs")) == 2 * 4, what="two compared runs x 4 steps")
    pairs = cka(server, run="seed0", layer="conv2", compare="seed1")["pairs"]
    labels = [label.text for label in driver.find_elements(By.CSS_SELECTOR, ".cka-heat-runs .cka-label")]
    assert labels == ["seed1", "other_probes"]
    row = cells(driver, "runs")[:4]
    for cell, pair in zip(row, pairs):
        assert float(cell.get_attribute("data-value")) == pytest.approx(pair["cka"], abs=1e-12)
        title = cell.find_element(By.TAG_NAME, "title").get_attribute("textContent")
        assert "seed0 (step" in title and "vs seed1" in title and f"CKA {pair['cka']:.4f}" in title
    other = cells(driver, "runs")[4:]
    assert all(c.get_attribute("data-value") == "" and "cka-none" in c.get_attribute("class") for c in other)
    notes = [n.text for n in driver.find_elements(By.CSS_SELECTOR, ".cka-heat-runs .cka-note")]
    assert notes == ["", "other probe images: not comparable"]
    screenshot(driver, "similarity_compare")


def test_names_from_event_files_are_shown_as_text(driver, server):
    open_dashboard(driver, server.url, {"run": HOSTILE_RUN, "method": "similarity"})
    wait_for(lambda: len(cells(driver, "layers")) == 3, what="the hostile run's row")
    assert driver.find_element(By.CSS_SELECTOR, ".cka-heat-layers .cka-label").text == HOSTILE_LAYER
    assert HOSTILE_RUN in driver.find_element(By.CSS_SELECTOR, ".cka-page h3").text
    assert driver.execute_script("return window.pwned === undefined")
    assert not driver.find_elements(By.CSS_SELECTOR, 'img[src="x"], main script')
