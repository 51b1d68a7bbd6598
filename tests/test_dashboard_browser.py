"""The dashboard in a real headless Chromium against a real `tensorboard` over real fit logs.

Screenshots land in test-artifacts/ (grid, deconv, comparison, evolution, hostile names, live).
"""

import json
import time

import numpy as np
import pytest
import tensorflow as tf
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tb_featviz import summary
from tests.browser import images_loaded, open_dashboard, screenshot, start_chromium, wait_for
from tests.gif import decode_gif
from tests.logs import (
    ALL_STEPS, CLASS_NAMES, CRAFTED_RUN, EPOCHS, FIRST_EPOCH_RUN, FIRST_EPOCH_STEPS, HOSTILE_LAYER, HOSTILE_RUN,
    OTHER_BATCHES_RUN, OTHER_BATCHES_STEPS, RESTARTED_RUN, RUN_NAMES, VERSION1_RUN,
)
from tests.tensorboard_server import TensorBoardServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(downloads):
    browser = start_chromium(download_dir=str(downloads))
    yield browser
    browser.quit()


@pytest.fixture
def dashboard(driver, server):
    open_dashboard(driver, server.url)
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#run option"), what="run list")
    choose(driver, "run", "baseline")
    wait_for(lambda: len(tiles(driver)) == 8, what="baseline's conv1 grid")
    return driver


def tiles(driver, panel=None):
    scope = f'.panel[data-run="{panel}"] ' if panel else ""
    return driver.find_elements(By.CSS_SELECTOR, scope + ".tile")


def click(find, what):
    """Clicks what `find()` returns, retrying if the page re-rendered in between."""
    def attempt():
        find().click()
        return True

    wait_for(attempt, what=f"a click on {what}")


def click_tile(driver, position):
    click(lambda: tiles(driver)[position], f"tile {position}")


def epoch_label(driver):
    return driver.find_element(By.ID, "epoch-label").text


def choose(driver, select_id, value):
    Select(driver.find_element(By.ID, select_id)).select_by_value(value)


def compare_with(driver, *runs):
    """Ticks exactly `runs` in the "Compare with" list."""
    summary = driver.find_element(By.CSS_SELECTOR, "#compare summary")
    if driver.find_element(By.ID, "compare").get_attribute("open") is None:
        summary.click()
    def next_wrong():
        return next((box for box in driver.find_elements(By.CSS_SELECTOR, "#compare input[type=checkbox]")
                     if box.is_selected() != (box.get_attribute("value") in runs)), None)

    for _ in range(20):  # one at a time: the list may be redrawn after each tick
        box = wait_for(lambda: next_wrong() or "done", what="a checkbox")
        if box == "done":
            break
        box.click()
        time.sleep(0.3)
    summary.click()  # close the list again


def method_button(driver, method):
    return driver.find_element(By.CSS_SELECTOR, f'.methods button[data-method="{method}"]')


def tile_sources(driver):
    return [img.get_attribute("src") for img in driver.find_elements(By.CSS_SELECTOR, ".tile img")]


def test_grid_slider_and_evolution(dashboard, server):
    driver = dashboard
    assert Select(driver.find_element(By.ID, "run")).first_selected_option.text == "baseline"
    assert Select(driver.find_element(By.ID, "layer")).first_selected_option.text == "conv1"
    assert "active" in method_button(driver, "am").get_attribute("class")
    assert len(tiles(driver)) == 8
    labels = [tile.find_element(By.CSS_SELECTOR, ".tile-index").text for tile in tiles(driver)]
    assert labels == [f"#{c}" for c in range(8)]
    # All epochs are there, from step 0, and the latest is shown first.
    assert epoch_label(driver) == f"epoch {EPOCHS} · step {ALL_STEPS[-1]} · {EPOCHS + 1} of {EPOCHS + 1} recorded"
    wait_for(lambda: images_loaded(driver, ".tile img") == 8, what="tile images")
    screenshot(driver, "grid_conv1_am_last_epoch")

    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
    slider = driver.find_element(By.ID, "epoch")
    assert slider.get_attribute("max") == str(EPOCHS)
    slider.send_keys(Keys.HOME)
    for _ in range(3):
        slider.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: epoch_label(driver).startswith("epoch 3 "), what="epoch 3 label")
    expected = server.json("/data/plugin/featviz/grid?run=baseline&layer=conv1&method=am&step=9")
    wait_for(
        lambda: [s.split("/featviz/", 1)[1] for s in tile_sources(driver)] == expected["images"]["image"],
        what="epoch 3 images",
    )
    value_text = tiles(driver)[0].find_element(By.CSS_SELECTOR, ".tile-value").text
    assert float(value_text) == pytest.approx(expected["numbers"]["activation"][0], rel=0.01, abs=0.01)

    click_tile(driver, 5)
    frames = wait_for(
        lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame") or None, what="evolution"
    )
    assert [f.get_attribute("data-step") for f in frames] == [str(s) for s in ALL_STEPS]
    assert [f.text for f in frames] == [str(e) for e in range(EPOCHS + 1)]  # captions: the epochs
    assert "channel 5" in driver.find_element(By.CSS_SELECTOR, ".evolution h2").text
    assert "current" in frames[3].get_attribute("class")
    activation_chart = driver.find_elements(By.CSS_SELECTOR, ".evolution .chart")[0]
    assert len(activation_chart.find_elements(By.CSS_SELECTOR, ".dot")) == EPOCHS + 1
    wait_for(lambda: images_loaded(driver, ".evolution .frame img") == EPOCHS + 1, what="frames")
    screenshot(driver, "evolution_conv1_channel5")

    # Clicking a frame moves the whole dashboard to that epoch.
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
    click(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")[8], "frame 8")
    wait_for(lambda: epoch_label(driver).startswith("epoch 8 "), what="epoch 8 from the strip")


def test_play_walks_through_the_epochs(dashboard):
    driver = dashboard
    driver.find_element(By.ID, "play").click()  # at the last epoch, play restarts from 0
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(seen) < 4:
        seen.add(epoch_label(driver).split(" ")[1])
        time.sleep(0.1)
    driver.find_element(By.ID, "play").click()
    assert len(seen) >= 4, seen


def test_layers_methods_deconv_patches_and_weights(dashboard):
    driver = dashboard
    choose(driver, "layer", "conv2")
    wait_for(lambda: len(tiles(driver)) == 4, what="conv2's 4 channels")
    click(lambda: method_button(driver, "deconv"), "deconv")
    wait_for(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, ".grid.method-deconv .tile")) == 4,
        what="deconv grid",
    )
    for tile in tiles(driver):
        roles = [img.get_attribute("class") for img in tile.find_elements(By.TAG_NAME, "img")]
        assert roles == ["role-projections", "role-patches"]
    dead = driver.find_elements(By.CSS_SELECTOR, ".tile.dead")
    for tile in dead:
        assert tile.find_element(By.CSS_SELECTOR, ".tile-dead").text.lower() == "dead"
    wait_for(lambda: images_loaded(driver, ".tile img") == 8, what="deconv images")
    screenshot(driver, "grid_conv2_deconv")
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
    click(lambda: method_button(driver, "weights"), "weights")
    wait_for(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, ".grid.method-weights .tile")) == 4,
        what="weights grid",
    )


def test_two_runs_side_by_side_and_missing_deconv_explained(dashboard):
    driver = dashboard
    compare_with(driver, "no_probes")
    wait_for(lambda: len(tiles(driver, "no_probes")) == 8 and len(tiles(driver, "baseline")) == 8,
             what="two grids")
    assert "side-by-side" in driver.find_element(By.CSS_SELECTOR, ".panels").get_attribute("class")
    wait_for(lambda: images_loaded(driver, ".tile img") == 16, what="both grids' images")
    screenshot(driver, "compare_runs_conv1_am")
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
    click(lambda: method_button(driver, "deconv"), "deconv")
    message = wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, '.panel[data-run="no_probes"] .empty').text,
        what="no-deconv message",
    )
    assert "no Deconvnet record" in message
    compare_with(driver)
    choose(driver, "run", "no_probes")
    wait_for(lambda: not method_button(driver, "deconv").is_enabled(), what="deconv disabled")
    assert "probe_images" in method_button(driver, "deconv").get_attribute("title")


@pytest.fixture(scope="module")
def python_loader_server(featviz_logdir):
    """TensorBoard's Python loader: its data server cannot read names with quotes."""
    with TensorBoardServer(featviz_logdir, "--load_fast=false") as tb:
        tb.wait_for_plugin()
        yield tb


def test_hostile_names_are_shown_as_text(driver, python_loader_server):
    open_dashboard(driver, python_loader_server.url)
    wait_for(lambda: len(tiles(driver)) > 0, what="the first grid")
    choose(driver, "run", HOSTILE_RUN)
    wait_for(lambda: len(tiles(driver)) == 3, what="hostile run's grid")
    assert Select(driver.find_element(By.ID, "layer")).first_selected_option.text == HOSTILE_LAYER
    assert driver.find_element(By.CSS_SELECTOR, ".panel-title").text == HOSTILE_RUN
    assert driver.execute_script("return window.pwned === undefined")
    assert not driver.find_elements(By.CSS_SELECTOR, 'img[src="x"], main script')
    dead = tiles(driver)[1]
    assert "dead" in dead.get_attribute("class") and "DEAD" in dead.text.upper()
    click_tile(driver, 0)
    title = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution h2").text, what="title")
    assert HOSTILE_LAYER in title
    assert driver.execute_script("return window.pwned === undefined")
    screenshot(driver, "hostile_names")


def test_downloads_strip_png_and_animated_gif(dashboard, downloads, featviz_logdir):
    driver = dashboard
    choose(driver, "layer", "conv2")
    wait_for(lambda: len(tiles(driver)) == 4, what="conv2 grid")
    click_tile(driver, 2)  # channel 5
    wait_for(lambda: images_loaded(driver, ".evolution .frame img") == EPOCHS + 1, what="frames")
    driver.find_element(By.CSS_SELECTOR, ".download-gif").click()
    driver.find_element(By.CSS_SELECTOR, ".download-png").click()
    gif_path = wait_for(lambda: next(downloads.glob("*channel_5*.gif"), None), what="GIF download")
    png_path = wait_for(lambda: next(downloads.glob("*channel_5*.png"), None), what="PNG download")

    frames, delays = decode_gif(gif_path.read_bytes())
    assert len(frames) == EPOCHS + 1 and set(delays) == {40}
    from tb_featviz.records import read_records

    records = read_records(str(featviz_logdir / "baseline"))[("conv2", "am")]
    for frame, step in ((0, 0), (EPOCHS, ALL_STEPS[-1])):
        stored = tf.io.decode_png(records[step][1][2]).numpy()  # channel 5 is at position 2
        size = stored.shape[0]
        scale = max(1, 96 // size)
        expected = np.repeat(np.repeat(stored, scale, 0), scale, 1)
        got = frames[frame][: size * scale, : size * scale]
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 26  # GIF colour cube

    strip = tf.io.decode_png(png_path.read_bytes()).numpy()
    columns = min(EPOCHS + 1, 20)  # evolution.js wraps the strip every 20 epochs
    rows = -(-(EPOCHS + 1) // columns)
    assert strip.shape[1] == columns * (size * scale + 2) + 2
    assert strip.shape[0] == 22 + rows * (size * scale + 16 + 2) + 2  # title, frames, labels


def test_live_new_epochs_appear_and_the_selection_stays(driver, tmp_path):
    run = tmp_path / "live"
    writer = tf.summary.create_file_writer(str(run))
    rng = np.random.default_rng(0)

    def write(step):  # a custom loop: 10 steps a record, 20 steps an epoch
        images = [[rng.integers(0, 255, (12, 12, 1), dtype=np.uint8)] for _ in range(6)]
        with writer.as_default():
            for layer in ("conv_a", "conv_b"):
                summary.write_record(layer, "am", list(range(6)), images,
                                     {"activation": list(rng.random(6)), "dead": [False] * 6},
                                     step=10 * step, epoch=step / 2)
        writer.flush()

    for step in range(3):
        write(step)
    with TensorBoardServer(tmp_path) as tb:
        tb.wait_for_plugin()
        open_dashboard(driver, tb.url)
        wait_for(lambda: len(tiles(driver)) == 6, what="live grid")
        choose(driver, "layer", "conv_b")
        wait_for(lambda: epoch_label(driver) == "epoch 1 · step 20 · 3 of 3 recorded", what="3 records")
        click_tile(driver, 4)
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")) == 3,
                 what="evolution of 3")
        for step in (3, 4):
            write(step)
        # Following the latest epoch: the view moves on as epochs arrive.
        wait_for(lambda: epoch_label(driver) == "epoch 2 · step 40 · 5 of 5 recorded", timeout=40,
                 what="live epochs")
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")) == 5,
                 what="evolution grows")
        assert Select(driver.find_element(By.ID, "layer")).first_selected_option.text == "conv_b"
        assert "channel 4" in driver.find_element(By.CSS_SELECTOR, ".evolution h2").text
        assert "selected" in tiles(driver)[4].get_attribute("class")
        # Looking at an older epoch: new epochs extend the slider but do not move the view.
        slider = driver.find_element(By.ID, "epoch")
        slider.send_keys(Keys.HOME)
        wait_for(lambda: epoch_label(driver).startswith("epoch 0 "), what="epoch 0")
        write(5)
        wait_for(lambda: epoch_label(driver) == "epoch 0 · step 0 · 1 of 6 recorded", timeout=40,
                 what="slider extended")
        screenshot(driver, "live_after_new_epochs")
    writer.close()


def test_empty_state_explains_how_to_get_data(driver, tmp_path):
    with TensorBoardServer(tmp_path) as tb:
        tb.wait_for_plugin()
        driver.get(tb.url + "/data/plugin_entry.html?name=featviz")
        text = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".empty").text, what="empty")
        assert "No feature visualizations yet" in text and "FeatVizCallback" in text


def test_no_errors_in_the_browser_console(driver):
    # Network entries are the 4xx answers the tests provoke; anything else is a script error.
    errors = [e for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not errors, json.dumps(errors, indent=1)


def legend(driver, run="baseline"):
    return driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{run}"] .panel-legend').text


def test_images_are_drawn_as_recorded_and_stretching_is_a_labelled_choice(dashboard, server):
    driver = dashboard
    wait_for(lambda: images_loaded(driver, ".tile img") == 8, what="tile images")
    text = legend(driver)
    assert "images as the model sees it" in text
    assert "maximized: layer output" in text and "dead = constant on 16 probe images" in text  # BN, ReLU follow
    stored = tile_sources(driver)
    assert all("/featviz/image?" in src for src in stored)  # the stored PNGs, untouched
    choose(driver, "contrast", "stretch")
    wait_for(lambda: "images stretched per tile" in legend(driver), what="the stretch label")
    wait_for(lambda: all(src.startswith("data:image/png") for src in tile_sources(driver)), what="stretched tiles")
    # the browser's stretch is the same as the engine's: compare one tile's pixels
    grid = server.json(f"/data/plugin/featviz/grid?run=baseline&layer=conv1&method=am&step={ALL_STEPS[-1]}")
    png = server.get("/data/plugin/featviz/" + grid["images"]["image"][0])[1]
    from tb_featviz import imaging

    expected = imaging.to_uint8(tf.io.decode_png(png).numpy() / 255.0, "stretch")
    shown = tf.io.decode_png(__import__("base64").b64decode(tile_sources(driver)[0].split(",", 1)[1])).numpy()[..., :3]
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 2
    screenshot(driver, "grid_conv1_am_stretched")
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
    choose(driver, "contrast", "absolute")
    wait_for(lambda: all("/featviz/image?" in src for src in tile_sources(driver)), what="stored tiles again")
    choose(driver, "layer", "conv2")  # Conv2D(activation="relu") after relu1 and pool1
    wait_for(lambda: "maximized: pre-activation (before relu)" in legend(driver), what="conv2's legend")
    click(lambda: method_button(driver, "deconv"), "deconv")
    wait_for(lambda: "rule: deconvnet (1 × deconvnet, 1 × switches on the path)" in legend(driver),
             what="the deconv legend")
    assert "left, the strongest activations projected to pixels (gray = 0); right, the image patches" in legend(driver)


# ---- the dashboard tells the truth about what it shows (issue 11) -----------------------------

def chart_marker(driver):
    return driver.find_element(By.CSS_SELECTOR, ".evolution .chart").get_attribute("data-marker")


def shown_step(driver):
    return epoch_label(driver).split(" ")[1]


def test_the_chart_marker_follows_the_strip_and_play(dashboard):
    driver = dashboard
    click_tile(driver, 5)
    wait_for(lambda: chart_marker(driver) == str(EPOCHS), what="marker at the last epoch")
    click(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")[8], "frame 8")
    wait_for(lambda: shown_step(driver) == "8", what="epoch 8")
    assert chart_marker(driver) == "8"
    current = driver.find_elements(By.CSS_SELECTOR, ".evolution .chart .dot.current")
    assert {dot.get_attribute("data-x") for dot in current} == {"8"}
    driver.find_element(By.ID, "play").click()
    mismatches = []
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        step, marker = driver.execute_script(
            "return [document.getElementById('epoch-label').textContent.split(' ')[1],"
            " document.querySelector('.evolution .chart').dataset.marker]")
        if step != marker:
            mismatches.append((step, marker))
        time.sleep(0.05)
    driver.find_element(By.ID, "play").click()
    assert shown_step(driver) != "8" and not mismatches, mismatches


def test_compare_three_runs_and_a_click_opens_the_clicked_runs_channel(dashboard):
    driver = dashboard
    compare_with(driver, "no_probes", "fast_lr")
    wait_for(lambda: all(len(tiles(driver, run)) == 8 for run in ("baseline", "no_probes", "fast_lr")),
             what="three grids")
    titles = [t.text for t in driver.find_elements(By.CSS_SELECTOR, ".panel-title")]
    assert [t.split(" · ")[0] for t in titles] == ["baseline", "fast_lr", "no_probes"]  # the list's order
    assert all(t.endswith(" · epoch 30 · step 90") for t in titles)  # each panel says where it is
    click(lambda: tiles(driver, "fast_lr")[2], "fast_lr's tile 2")
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution-run").text == "run fast_lr",
             what="fast_lr's evolution")
    selected = driver.find_elements(By.CSS_SELECTOR, ".tile.selected")
    assert len(selected) == 1 and selected[0].find_element(By.XPATH, "./ancestor::section").get_attribute("data-run") == "fast_lr"
    # The channel's activation in all three runs, one line each, and the run's Keras curves.
    charts = driver.find_elements(By.CSS_SELECTOR, ".evolution .chart")
    legend = charts[0].find_elements(By.CSS_SELECTOR, ".legend text")
    assert [t.text for t in legend] == ["fast_lr", "baseline", "no_probes"]
    for run in ("fast_lr", "baseline", "no_probes"):
        grid = json.loads(driver.execute_script(
            "return fetch(`grid?run=${arguments[0]}&layer=conv1&method=am&step=30`).then(r => r.text())", run))
        assert grid["channels"][2] == 2
    wait_for(lambda: images_loaded(driver, ".tile img") == 24, what="three grids' images")
    screenshot(driver, "compare_three_runs")


def test_labels_never_run_together_and_one_number_format_per_grid(dashboard):
    driver = dashboard
    driver.execute_script("window.featviz.setTileSize(48)")
    overlapping = driver.execute_script("""
      return Array.from(document.querySelectorAll('.tile-label')).filter((label) => {
        const [a, b] = label.children;
        const ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
        const sameLine = ra.top < rb.bottom && rb.top < ra.bottom;
        return sameLine && rb.left - ra.right < 3;
      }).map((l) => l.textContent);""")
    assert not overlapping
    values = [v.text for v in driver.find_elements(By.CSS_SELECTOR, ".tile-value")]
    decimals = {len(v.split(".")[1]) if "." in v else 0 for v in values}
    assert len(decimals) == 1 and all("e" not in v for v in values), values
    formats = driver.execute_script("""
      return import('./static/numbers.js').then((m) => [
        [0.914, 0.0242, 0.00013, -0.5].map(m.numberFormat([0.914, 0.0242, 0.00013, -0.5])),
        [0.0031, 0.00013].map(m.numberFormat([0.0031, 0.00013]))]);""")
    assert formats == [["0.914", "0.024", "0.000", "-0.500"], ["3.10e-3", "1.30e-4"]]


def test_a_self_contradicting_record_shows_one_line_never_a_page(driver, server):
    open_dashboard(driver, server.url, {"run": CRAFTED_RUN, "layer": "conv1", "method": "deconv"})
    message = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".panel .error").text, what="message")
    assert "tag says conv1/deconv but its header says conv1/am" in message
    assert "\n" not in message and "<" not in message
    line = driver.execute_script("""
      return import('./static/api.js').then((m) => m.errorLine(500, 'INTERNAL SERVER ERROR',
        '<!doctype html>\\n<html lang=en>\\n<title>500 Internal Server Error</title>\\n' +
        '<h1>Internal Server Error</h1>\\n<p>The server encountered an internal error.</p>', 'text/html'));""")
    assert line == "500 Internal Server Error The server encountered an internal error."


def test_a_junk_occlusion_record_is_drawn_as_text_without_its_css(driver, server):
    open_dashboard(driver, server.url, {"run": CRAFTED_RUN, "layer": "junk", "method": "occlusion"})
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".grid.method-occlusion .tile")) == 3, what="tiles")
    text = driver.find_element(By.CSS_SELECTOR, ".panel-legend").text
    assert "each tile: a probe image with a gray square;" in text  # no "undefined px"
    styles = driver.execute_script(
        "return [...document.querySelectorAll('[style]')].map((e) => e.getAttribute('style')).join(' ')")
    assert "url(" not in styles and "background-image" not in styles


def test_the_view_lives_in_the_url_and_survives_a_reload(dashboard):
    driver = dashboard
    compare_with(driver, "fast_lr")
    choose(driver, "layer", "conv2")
    wait_for(lambda: len(tiles(driver, "baseline")) == 4, what="conv2")
    click(lambda: method_button(driver, "weights"), "weights")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".grid.method-weights"), what="weights")
    driver.find_element(By.ID, "epoch").send_keys(Keys.HOME)
    wait_for(lambda: shown_step(driver) == "0", what="epoch 0")
    click(lambda: tiles(driver, "fast_lr")[1], "fast_lr's channel 3")
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame"), what="evolution")
    driver.switch_to.default_content()
    link = driver.current_url
    assert "p.featviz.run=baseline" in link and "p.featviz.step=0" in link
    driver.get("about:blank")
    driver.get(link)  # a shared link or a reload
    driver.switch_to.frame(wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "iframe"), what="iframe"))
    wait_for(lambda: len(tiles(driver, "fast_lr")) == 4, what="the restored comparison")
    assert Select(driver.find_element(By.ID, "run")).first_selected_option.text == "baseline"
    assert Select(driver.find_element(By.ID, "layer")).first_selected_option.text == "conv2"
    assert "active" in method_button(driver, "weights").get_attribute("class")
    assert shown_step(driver) == "0"
    header = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution h2").text, what="evolution")
    assert "channel 3" in header and driver.find_element(By.CSS_SELECTOR, ".evolution-run").text == "run fast_lr"


def test_dark_mode_follows_tensorboards_theme(driver, server):
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        open_dashboard(driver, server.url, {"run": "baseline"})
        wait_for(lambda: len(tiles(driver)) == 8, what="grid")
        background = lambda: driver.execute_script(  # noqa: E731
            "return getComputedStyle(document.body).backgroundColor")
        wait_for(lambda: background() == "rgb(32, 33, 36)", what="dark background")
        wait_for(lambda: images_loaded(driver, ".tile img") == 8, what="tile images")
        click_tile(driver, 5)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .chart"), what="chart")
        screenshot(driver, "dark_mode_grid_and_evolution")
        driver.execute_script("document.body.classList.remove('dark-mode')")  # TensorBoard's toggle
        driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
        wait_for(lambda: background() == "rgb(245, 245, 245)", what="light again")
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_run_filter_like_tensorboards(dashboard):
    driver = dashboard
    box = driver.find_element(By.ID, "run-filter")
    box.send_keys("^(base|fast)")
    wait_for(lambda: driver.find_element(By.ID, "run-count").text == f"2 of {len(RUN_NAMES)} runs match",
             what="filtered count")
    options = [o.get_attribute("value") for o in Select(driver.find_element(By.ID, "run")).options]
    assert options == ["baseline", "fast_lr"]
    box.clear()
    box.send_keys("(")  # not a regular expression: matched as text, and marked
    wait_for(lambda: "invalid" in box.get_attribute("class"), what="invalid mark")
    assert driver.find_element(By.ID, "run-count").text.startswith("0 of")


def test_a_filter_from_a_link_runs_without_backtracking_and_a_refused_one_says_so(driver, server):
    """Issue 23: the filter of a shared link ran on JavaScript's backtracking RegExp ((a+)+$ froze a
    tab); it now runs on frontend/saferegex.js, nested quantifiers included (tests/test_run_filter.py
    times the hostile ones in Node), and a filter it will not run is matched as text, saying so."""
    link_filter = "^(base|fast)(a+)*"
    open_dashboard(driver, server.url, {"run": "baseline", "filter": link_filter})
    wait_for(lambda: driver.find_element(By.ID, "run-count").text == f"2 of {len(RUN_NAMES)} runs match",
             what="the link's filter")
    box = driver.find_element(By.ID, "run-filter")
    assert box.get_attribute("value") == link_filter
    assert driver.find_element(By.ID, "run-filter-note").text == ""
    box.clear()
    box.send_keys("(base)\\1")
    note = wait_for(lambda: driver.find_element(By.ID, "run-filter-note").text, what="the refusal")
    assert note == ("matched as text: this regular expression is not run "
                    "(backreferences (and octal escapes) are not supported)")
    assert "invalid" in box.get_attribute("class")
    assert driver.find_element(By.ID, "run-count").text.startswith("0 of")


def test_evolution_beside_the_runs_keras_curves_on_one_epoch_axis(dashboard):
    driver = dashboard
    click_tile(driver, 5)
    charts = wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".evolution .chart")) == 3 and
                      driver.find_elements(By.CSS_SELECTOR, ".evolution .chart"), what="three charts")
    titles = [c.find_element(By.CSS_SELECTOR, ".chart-label").text for c in charts]
    assert titles == ["activation of channel 5", "loss of run baseline (Keras)", "accuracy of run baseline (Keras)"]
    assert len(charts[1].find_elements(By.CSS_SELECTOR, ".tick")) >= 6  # ticked axes
    scalars = json.loads(driver.execute_script("return fetch('scalars?run=baseline').then(r => r.text())"))
    loss = next(s for s in scalars["series"] if s["tag"] == "epoch_loss" and s["split"] == "train")
    evolution = json.loads(driver.execute_script(
        "return fetch('evolution?run=baseline&layer=conv1&method=am&channel=5').then(r => r.text())"))
    readout = driver.find_element(By.CSS_SELECTOR, ".readout")
    # At the shown epoch (30): the channel's value after 30 epochs with Keras's value of epoch index 29.
    text = readout.text
    assert text.startswith(f"epoch {EPOCHS} · activation ")
    last_loss = next(p for p in loss["points"] if p["epoch"] == EPOCHS)
    assert last_loss["keras_step"] == EPOCHS - 1
    shown = text.split("loss: train ")[1].split(",")[0]
    assert float(shown) == pytest.approx(last_loss["value"], rel=0.01)
    act = float(text.split("activation ")[1].split(" ")[0])
    assert act == pytest.approx(evolution["frames"][-1]["numbers"]["activation"], rel=0.01, abs=1e-3)
    # Hovering epoch 3 on the loss chart reports epoch 3 everywhere.
    from selenium.webdriver.common.action_chains import ActionChains

    capture = charts[1].find_element(By.CSS_SELECTOR, ".capture")
    box = capture.rect
    x = 3 / EPOCHS * box["width"] - box["width"] / 2
    ActionChains(driver).move_to_element_with_offset(capture, int(x), 0).perform()
    wait_for(lambda: readout.text.startswith("epoch 3 · "), what="hover readout")
    loss3 = next(p for p in loss["points"] if p["epoch"] == 3)
    assert float(readout.text.split("loss: train ")[1].split(",")[0]) == pytest.approx(loss3["value"], rel=0.01)
    screenshot(driver, "evolution_with_keras_scalars")


def test_everyday_keys_speed_loading_and_small_windows(dashboard):
    driver = dashboard
    wait_for(lambda: not driver.find_element(By.ID, "loading").is_displayed(), what="idle")
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_LEFT)
    wait_for(lambda: shown_step(driver) == str(EPOCHS - 1), what="← one epoch back")
    body.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: shown_step(driver) == str(EPOCHS), what="→ one epoch on")
    choose(driver, "play-speed", "150")
    assert driver.execute_script("return window.featviz.state.playMs") == 150
    click_tile(driver, 5)
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution"), what="evolution")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_for(lambda: not driver.find_elements(By.CSS_SELECTOR, ".evolution"), what="Esc closes it")
    assert not driver.find_elements(By.CSS_SELECTOR, ".tile.selected")
    driver.switch_to.default_content()
    driver.set_window_size(1024, 700)
    try:
        driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
        click_tile(driver, 5)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .chart"), what="evolution")
        # The clicked tile, and a whole row with it, stays visible between the epoch bar and the panel.
        visible_tiles = """
          const top = document.querySelector('.epoch-bar').getBoundingClientRect().bottom;
          const bottom = document.querySelector('.evolution-area').getBoundingClientRect().top;
          return Array.from(document.querySelectorAll('.tile')).filter((t) => {
            const r = t.getBoundingClientRect();
            return r.top >= top - 2 && r.bottom <= bottom + 2;  // sub-pixel edges
          }).map((t) => t.classList.contains('selected'));"""
        visible = wait_for(lambda: (lambda v: len(v) >= 4 and True in v and v)(driver.execute_script(visible_tiles)),
                           timeout=5, what="the chosen tile and its row in view")
        screenshot(driver, "small_window_1024x700")
        assert len(visible) >= 4 and True in visible, visible
    finally:
        driver.switch_to.default_content()
        driver.set_window_size(1400, 1000)


def test_class_units_show_the_users_class_names(dashboard):
    driver = dashboard
    choose(driver, "run", "fast_lr")
    wait_for(lambda: "logits" in [o.text for o in Select(driver.find_element(By.ID, "layer")).options],
             what="logits layer")
    choose(driver, "layer", "logits")
    wait_for(lambda: len(tiles(driver)) == 5, what="5 class units")
    names = [n.text for n in driver.find_elements(By.CSS_SELECTOR, ".tile-name")]
    assert names == list(CLASS_NAMES)
    # softmax outputs saturate at 1.00: the legend says the number is a probability, the logit maximized
    assert "number: the probability the AM image reached (the logit was maximized" in legend(driver, "fast_lr")
    click_tile(driver, 4)
    header = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution h2").text, what="header")
    assert "channel 4 (no blob)" in header


def test_occlusion_heatmaps_class_maps_legend_and_evolution(dashboard, featviz_logdir):
    from tb_featviz.records import read_records

    driver = dashboard
    choose(driver, "run", "fast_lr")
    wait_for(lambda: "logits" in [o.text for o in Select(driver.find_element(By.ID, "layer")).options],
             what="logits layer")
    choose(driver, "layer", "logits")
    click(lambda: method_button(driver, "occlusion"), "occlusion")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".grid.method-occlusion .tile")) == 4,
             what="one tile per probe image")
    header = read_records(str(featviz_logdir / "fast_lr"))[("logits", "occlusion")][ALL_STEPS[-1]][0]
    for position, tile in enumerate(tiles(driver)):
        assert [i.get_attribute("class") for i in tile.find_elements(By.TAG_NAME, "img")] == ["role-heatmap", "role-classes"]
        captions = [c.text for c in tile.find_elements(By.CSS_SELECTOR, ".role-caption")]
        assert captions == ["score", "class"]
        label, predicted = header["numbers"]["label"][position], header["numbers"]["predicted"][position]
        name = tile.find_element(By.CSS_SELECTOR, ".tile-name").text
        assert name == f"true: {CLASS_NAMES[label]} → {CLASS_NAMES[predicted]}"
        assert float(tile.find_element(By.CSS_SELECTOR, ".tile-value").text) == pytest.approx(
            header["numbers"]["score"][position], abs=0.006)
    text = legend(driver, "fast_lr")
    assert "number: the probability of the true class on the unoccluded image" in text
    assert "a 8 px gray square every 2 px (13 × 13 places)" in text
    scale = driver.find_element(By.CSS_SELECTOR, ".occlusion-legend .colour-bar").get_attribute("style")
    assert "linear-gradient" in scale and "rgb(68, 1, 84)" in scale  # the recorded colormap, dark = low
    classes = [c.text for c in driver.find_elements(By.CSS_SELECTOR, ".class-legend .class-swatch")]
    shown = {c for grid in header["numbers"]["classes"] for row in grid for c in row} | set(header["numbers"]["label"])
    assert classes == [CLASS_NAMES[c] for c in sorted(shown)]
    wait_for(lambda: images_loaded(driver, ".tile img") == 8, what="heatmaps and class maps")
    screenshot(driver, "occlusion_fast_lr_logits")
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe"))
    click_tile(driver, 2)
    title = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution h2").text, what="evolution")
    assert title.startswith("logits · image 2 (true: ")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")) == EPOCHS + 1, what="frames")
    options = [o.text for o in Select(driver.find_element(By.CSS_SELECTOR, ".role-select")).options]
    assert options == ["score", "class"]
    Select(driver.find_element(By.CSS_SELECTOR, ".role-select")).select_by_value("classes")
    wait_for(lambda: "classes" in driver.find_element(By.CSS_SELECTOR, ".evolution .frame img").get_attribute("src")
             or Select(driver.find_element(By.CSS_SELECTOR, ".role-select")).first_selected_option.get_attribute(
                 "value") == "classes", what="the class map's evolution")
    # A feature layer's occlusion: its strongest map's activation, one image per tile.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    choose(driver, "layer", "conv2")
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".grid.method-occlusion .tile img")) == 4,
             what="conv2's heatmaps")
    assert "the total activation of the image's strongest feature map (named under the tile" in legend(driver, "fast_lr")
    feature = read_records(str(featviz_logdir / "fast_lr"))[("conv2", "occlusion")][EPOCHS][0]["numbers"]["feature"]
    assert [n.text for n in driver.find_elements(By.CSS_SELECTOR, ".tile-name")] == [f"map #{f}" for f in feature]


def test_polling_waits_for_each_answer_and_backs_off(dashboard):
    driver = dashboard
    calls = driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      import('./static/poller.js').then(({Poller}) => {
        const calls = [];
        let active = 0;
        const poller = new Poller(async () => {
          active += 1;
          calls.push({at: performance.now(), overlapping: active > 1});
          await new Promise((resolve) => setTimeout(resolve, 120));  // a slow answer
          active -= 1;
          return false;  // nothing new
        }, {base: 40, ceiling: 320});
        poller.start();
        setTimeout(() => { clearTimeout(poller.timer); poller.tick = () => {}; done(calls); }, 2500);
      });""")
    assert calls and not any(c["overlapping"] for c in calls)
    gaps = [b["at"] - a["at"] - 120 for a, b in zip(calls, calls[1:])]  # the wait after each answer
    # 80 ms after the first idle answer, then 160 and 320 (timers may run late on a busy machine)
    assert gaps[0] < 250 and max(gaps) > 250 and max(gaps) >= 2.5 * gaps[0], gaps


def test_still_no_errors_in_the_browser_console(driver):
    errors = [e for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not errors, json.dumps(errors, indent=1)


def swatch(driver, run):
    return driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{run}"] .swatch').get_attribute("style")


def test_a_run_keeps_its_colour_and_its_curves_wear_it(dashboard):
    """From the new-user trial: colours followed panel positions, and Keras curves were green and
    blue like other runs; y axes had one label; the filter did not hide compared runs."""
    driver = dashboard
    compare_with(driver, "fast_lr")
    wait_for(lambda: len(tiles(driver, "fast_lr")) == 8, what="fast_lr's grid")
    colour = swatch(driver, "fast_lr").split("background:")[1].strip(" ;")
    click(lambda: tiles(driver, "fast_lr")[5], "fast_lr's tile 5")
    charts = wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".evolution .chart")) == 3 and
                      driver.find_elements(By.CSS_SELECTOR, ".evolution .chart"), what="charts")
    for chart in charts[1:]:  # loss and accuracy of fast_lr, in fast_lr's colour
        strokes = {line.get_attribute("style") for line in chart.find_elements(By.CSS_SELECTOR, "polyline")}
        assert strokes == {f"stroke: {colour};"}, strokes
    for chart in charts:  # both ends of the data labelled
        labels = [t for t in chart.find_elements(By.CSS_SELECTOR, "text.tick") if t.get_attribute("text-anchor") == "end"]
        assert len(labels) >= 3, [t.text for t in labels]
    assert "loss (fast_lr): train" in driver.find_element(By.CSS_SELECTOR, ".readout").text
    border = driver.execute_script("return getComputedStyle(document.querySelector('.tile img')).borderTopWidth")
    assert border == "1px"  # a white image is framed, never an empty tile
    # The same run, its same colour, wherever it is shown.
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    choose(driver, "run", "fast_lr")
    compare_with(driver, "baseline")
    wait_for(lambda: len(tiles(driver, "baseline")) == 8 and len(tiles(driver, "fast_lr")) == 8, what="swapped")
    assert swatch(driver, "fast_lr").split("background:")[1].strip(" ;") == colour
    # The filter hides compared runs that do not match; they stay ticked for later.
    driver.find_element(By.ID, "run-filter").send_keys("^fast")
    wait_for(lambda: not tiles(driver, "baseline"), what="baseline hidden by the filter")
    assert driver.find_element(By.CSS_SELECTOR, "#compare summary").text == "Compare with (1)"
    hidden = driver.execute_script(
        "return document.querySelector('#compare .compare-list label').textContent")
    assert hidden == "baseline (hidden by the filter)"


def test_play_speed_and_tile_size_are_part_of_the_link(dashboard):
    driver = dashboard
    choose(driver, "play-speed", "350")
    driver.execute_script("window.featviz.setTileSize(160)")
    driver.switch_to.default_content()
    link = driver.current_url
    driver.get("about:blank")
    driver.get(link)
    driver.switch_to.frame(wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "iframe"), what="iframe"))
    wait_for(lambda: len(tiles(driver)) == 8, what="grid")
    assert driver.execute_script("return [window.featviz.state.playMs, window.featviz.state.tileSize]") == [350, 160]
    assert Select(driver.find_element(By.ID, "play-speed")).first_selected_option.text == "2×"


def test_a_hand_written_link_without_a_method_keeps_its_channel(driver, server):
    open_dashboard(driver, server.url, {"run": "baseline", "layer": "conv2", "channel": 5})
    header = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution h2").text, what="evolution")
    assert "conv2 · channel 5" in header
    assert len(driver.find_elements(By.CSS_SELECTOR, ".tile.selected")) == 1


def test_a_slow_answer_shows_the_loading_indicator(dashboard):
    driver = dashboard
    assert not driver.find_element(By.ID, "loading").is_displayed()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": False, "latency": 1500, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        choose(driver, "layer", "conv2")
        wait_for(lambda: driver.find_element(By.ID, "loading").is_displayed(), timeout=5, what="loading…")
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    wait_for(lambda: len(tiles(driver)) == 4 and not driver.find_element(By.ID, "loading").is_displayed(),
             what="conv2 loaded and the indicator gone")


def test_finally_no_errors_in_the_browser_console(driver):
    errors = [e for e in driver.get_log("browser")
              if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not errors, json.dumps(errors, indent=1)


def test_scrubbing_the_steps_inside_the_first_epoch(dashboard, server):
    """The log schedule's records inside epoch 1: the slider, the strip, the chart and the GIF
    labels all say the epoch with its fraction, the step beside it."""
    driver = dashboard
    choose(driver, "run", FIRST_EPOCH_RUN)
    wait_for(lambda: epoch_label(driver) == "epoch 3 · step 144 · 6 of 6 recorded", what="first_epoch's last step")
    slider = driver.find_element(By.ID, "epoch")
    slider.send_keys(Keys.HOME)
    slider.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: epoch_label(driver) == "epoch 0.21 · step 10 (batch 10/48 of epoch 1) · 2 of 6 recorded",
             what="step 10, inside epoch 1")
    assert driver.find_element(By.ID, "epoch").get_attribute("aria-valuetext") == "epoch 0.21"
    expected = server.json(f"/data/plugin/featviz/grid?run={FIRST_EPOCH_RUN}&layer=conv1&method=am&step=10")
    wait_for(lambda: [s.split("/featviz/", 1)[1] for s in tile_sources(driver)] == expected["images"]["image"],
             what="step 10's images")
    assert "· epoch 0.21 · step 10" in tiles(driver)[0].get_attribute("title")
    click_tile(driver, 3)
    frames = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame") or None, what="strip")
    assert [f.get_attribute("data-step") for f in frames] == [str(s) for s in FIRST_EPOCH_STEPS]
    assert [f.text for f in frames] == ["0", "0.21", "0.42", "1", "2", "3"]
    assert "current" in frames[1].get_attribute("class")
    chart = driver.find_elements(By.CSS_SELECTOR, ".evolution .chart")[0]
    assert [float(d.get_attribute("data-x")) for d in chart.find_elements(By.CSS_SELECTOR, ".dot")] == pytest.approx(
        [0, 10 / 48, 20 / 48, 1, 2, 3])
    assert float(chart.get_attribute("data-marker")) == pytest.approx(10 / 48)
    # The frames differ inside the first epoch: the channel changes there.
    sources = {f.find_element(By.TAG_NAME, "img").get_attribute("src") for f in frames[:3]}
    assert len(sources) == 3
    click(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")[2], "frame of step 20")
    wait_for(lambda: epoch_label(driver).startswith("epoch 0.42 · step 20 "), what="step 20 from the strip")
    assert "epoch 0.42" in driver.find_element(By.CSS_SELECTOR, ".readout").text
    screenshot(driver, "first_epoch_steps")


def test_version_1_logs_browse_on_the_epoch_axis(dashboard):
    driver = dashboard
    choose(driver, "run", VERSION1_RUN)
    wait_for(lambda: epoch_label(driver) == "epoch 3 · step 3 · 4 of 4 recorded", what="the version 1 run")
    wait_for(lambda: len(tiles(driver)) == 2, what="its two channels")
    click_tile(driver, 0)
    frames = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame") or None, what="strip")
    assert [f.text for f in frames] == ["0", "1", "2", "3"]


def test_a_run_whose_epochs_start_again_is_drawn_over_steps_and_read_by_step(dashboard, server):
    """Two fits from epoch 0 on one model: epochs 0, 1, 2, 1, 2 at steps 0, 3, 6, 9, 12. Over
    epochs the chart would loop back and two records would share a point."""
    driver = dashboard
    choose(driver, "run", RESTARTED_RUN)
    wait_for(lambda: epoch_label(driver) == "epoch 2 · step 12 · 5 of 5 recorded", what="the last record")
    click_tile(driver, 1)
    frames = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame") or None, what="strip")
    assert [f.text for f in frames] == ["0", "1", "2", "1", "2"]
    chart = driver.find_elements(By.CSS_SELECTOR, ".evolution .chart")[0]
    assert [d.get_attribute("data-x") for d in chart.find_elements(By.CSS_SELECTOR, ".dot")] == ["0", "3", "6", "9", "12"]
    assert "step" in [t.text for t in chart.find_elements(By.CSS_SELECTOR, "text.tick")]  # the x axis's name
    note = driver.find_element(By.CSS_SELECTOR, ".evolution .note").text
    assert "drawn over steps: the epochs go back or repeat at step 9" in note
    evolution = server.json(f"/data/plugin/featviz/evolution?run={RESTARTED_RUN}&layer=conv1&method=am&channel=1")
    click(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")[3], "the second epoch 1")
    wait_for(lambda: epoch_label(driver) == "epoch 1 · step 9 · 4 of 5 recorded", what="step 9")
    value = evolution["frames"][3]["numbers"]["activation"]
    readout = driver.find_element(By.CSS_SELECTOR, ".readout").text
    assert readout.startswith("epoch 1 · activation ")
    assert float(readout.split("activation ")[1].split(" ")[0]) == pytest.approx(value, rel=0.01, abs=1e-3)
    current = chart.find_elements(By.CSS_SELECTOR, ".dot.current")
    assert [d.get_attribute("data-step") for d in current] == ["9"]


def test_compared_runs_are_shown_at_the_same_epoch_whatever_their_steps(dashboard):
    """first_epoch runs 48 steps an epoch, baseline 3: epoch 1 is step 48 in one, step 3 in the other."""
    driver = dashboard
    choose(driver, "run", FIRST_EPOCH_RUN)
    wait_for(lambda: epoch_label(driver).startswith("epoch 3 · step 144"), what="first_epoch")
    compare_with(driver, "baseline")
    slider = driver.find_element(By.ID, "epoch")
    slider.send_keys(Keys.HOME)
    for _ in range(3):
        slider.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: epoch_label(driver).startswith("epoch 1 · step 48 "), what="epoch 1 of first_epoch")
    wait_for(lambda: [t.text for t in driver.find_elements(By.CSS_SELECTOR, ".panel-title")] ==
             ["first_epoch · epoch 1 · step 48", "baseline · epoch 1 · step 3"], what="both runs at epoch 1")
    slider.send_keys(Keys.ARROW_LEFT)  # epoch 0.42: baseline has no record inside its first epoch
    wait_for(lambda: "no Activation max. record at epoch 0.42 (step 20 of first_epoch)" in
             driver.find_element(By.CSS_SELECTOR, '.panel[data-run="baseline"]').text, what="the other run's gap")


def test_a_compared_run_with_other_batches_per_epoch_is_followed_at_its_own_steps(dashboard, server):
    """first_epoch runs 48 batches an epoch, first_epoch_b3 16: step 10 is epoch 0.21 in one and
    0.63 in the other. Its tile opens its own evolution at its own record; its frames move the
    page to their epoch, never to the same step number of the main run."""
    driver = dashboard
    choose(driver, "run", FIRST_EPOCH_RUN)
    wait_for(lambda: epoch_label(driver).startswith("epoch 3 · step 144"), what="first_epoch")
    compare_with(driver, OTHER_BATCHES_RUN)

    def titles():
        return [t.text for t in driver.find_elements(By.CSS_SELECTOR, ".panel-title")]

    wait_for(lambda: titles() == ["first_epoch · epoch 3 · step 144", "first_epoch_b3 · epoch 3 · step 48"],
             what="both runs at epoch 3")
    click(lambda: tiles(driver, OTHER_BATCHES_RUN)[1], "first_epoch_b3's channel 1")
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, ".evolution-run").text == f"run {OTHER_BATCHES_RUN}",
             what="its evolution")
    evolution = server.json(f"/data/plugin/featviz/evolution?run={OTHER_BATCHES_RUN}&layer=conv1&method=am&channel=1")
    assert [frame["step"] for frame in evolution["frames"]] == OTHER_BATCHES_STEPS

    def frames():
        return driver.find_elements(By.CSS_SELECTOR, ".evolution .frame")

    def shown():
        """(highlighted frames, readout, chart marker, the marked dot of its own run)"""
        chart = driver.find_elements(By.CSS_SELECTOR, ".evolution .chart")[0]
        own = [d.get_attribute("data-step") for d in chart.find_elements(By.CSS_SELECTOR, ".dot.current")
               if d.get_attribute("data-step")]
        return ([f.text for f in frames() if "current" in f.get_attribute("class")],
                driver.find_element(By.CSS_SELECTOR, ".readout").text, chart.get_attribute("data-marker"), own)

    highlighted, readout, marker, dots = wait_for(lambda: shown() if shown()[0] else None, what="a highlighted frame")
    assert [f.text for f in frames()] == ["0", "0.63", "1", "2", "3"]
    assert highlighted == ["3"] and marker == "3" and dots == ["48"]
    value = evolution["frames"][4]["numbers"]["activation"]
    assert readout.startswith("epoch 3 · activation ")
    assert float(readout.split("activation ")[1].split(" ")[0]) == pytest.approx(value, rel=0.01, abs=1e-3)

    # Its frame at epoch 0.63: the main run has none there and shows its last record before it.
    click(lambda: frames()[1], "first_epoch_b3's frame 0.63")
    wait_for(lambda: epoch_label(driver).startswith("epoch 0.42 · step 20 "), what="first_epoch at 0.42")
    wait_for(lambda: [t.split(" (")[0] for t in titles()] ==
             ["first_epoch · epoch 0.42 · step 20", "first_epoch_b3 · epoch 0.63 · step 10"], what="its own 0.63")
    highlighted, readout, marker, dots = wait_for(lambda: shown() if shown()[0] == ["0.63"] else None, what="0.63")
    assert readout.startswith("epoch 0.63 · activation ") and float(marker) == pytest.approx(10 / 16) and dots == ["10"]

    # Its frame "1": both runs at epoch 1, at their own steps.
    click(lambda: frames()[2], "first_epoch_b3's frame 1")
    wait_for(lambda: epoch_label(driver).startswith("epoch 1 · step 48 "), what="first_epoch at epoch 1")
    wait_for(lambda: titles() == ["first_epoch · epoch 1 · step 48", "first_epoch_b3 · epoch 1 · step 16"],
             what="both at epoch 1")
    highlighted, readout, marker, dots = wait_for(lambda: shown() if shown()[0] == ["1"] else None, what="frame 1")
    assert readout.startswith("epoch 1 · activation ") and marker == "1" and dots == ["16"]

    # The slider drives the main run again; the compared run follows by epoch (none at 0.42).
    driver.find_element(By.ID, "epoch").send_keys(Keys.ARROW_LEFT)
    wait_for(lambda: epoch_label(driver).startswith("epoch 0.42 · step 20 "), what="back to 0.42")
    wait_for(lambda: "no Activation max. record at epoch 0.42" in
             driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{OTHER_BATCHES_RUN}"]').text, what="its gap")
    assert shown()[0] == []
    # Picked again, then the evolution closed: the compared run follows the page again.
    click(lambda: frames()[1], "first_epoch_b3's frame 0.63 again")
    wait_for(lambda: titles()[1].startswith("first_epoch_b3 · epoch 0.63"), what="its 0.63 again")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    wait_for(lambda: "no Activation max. record at epoch 0.42" in
             driver.find_element(By.CSS_SELECTOR, f'.panel[data-run="{OTHER_BATCHES_RUN}"]').text, what="following")


def test_occlusion_tooltips_speak_words_and_its_names_are_never_cut(driver, server, featviz_logdir):
    """Tooltips showed the record's keys (min_score: 0.42, label: 3); "true: bottom right →
    bottom right" was cut to "true: bottom rig…" at the default tile size."""
    from tb_featviz.records import read_records

    open_dashboard(driver, server.url, {"run": "fast_lr", "layer": "logits", "method": "occlusion"})
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".grid.method-occlusion .tile")) == 4, what="tiles")
    header = read_records(str(featviz_logdir / "fast_lr"))[("logits", "occlusion")][ALL_STEPS[-1]][0]
    for position, tile in enumerate(tiles(driver)):
        lines = tile.get_attribute("title").split("\n")
        label, predicted = header["numbers"]["label"][position], header["numbers"]["predicted"][position]
        assert f"true class: {CLASS_NAMES[label]}" in lines and f"predicted, unoccluded: {CLASS_NAMES[predicted]}" in lines
        assert any(line.startswith("probability of the true class, unoccluded: ") for line in lines)
        assert any(line.startswith("lowest score ") for line in lines)
        assert not [line for line in lines if line.split(":")[0] in header["numbers"]], lines  # no raw keys
        name = tile.find_element(By.CSS_SELECTOR, ".tile-name")
        assert name.text == f"true: {CLASS_NAMES[label]} → {CLASS_NAMES[predicted]}"
        cut = driver.execute_script(
            "const e = arguments[0]; return e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight + 1;", name)
        assert not cut, name.text


def test_captions_and_notes_say_what_is_there(dashboard):
    """A filter over one input channel is no "mosaic of 1 input-channel slices"; inside the first
    epoch Keras has written no epoch scalars yet, which is no reason to ask for its callback."""
    driver = dashboard
    captions = driver.execute_script("""
      return import('./static/view_weights.js').then(({weightsView}) =>
        [1, 8].map((slices) => weightsView.describe({layout: {slices_shown: slices}}, 'norm').join(' · ')));""")
    assert "its one input channel" in captions[0] and "mosaic" not in captions[0] and "slices" not in captions[0]
    assert "a mosaic of 8 input-channel slices" in captions[1]
    notes = driver.execute_script("""
      return Promise.all([import('./static/evolution.js'), import('./static/axis.js')]).then(([e, a]) => {
        const note = (points) => {
          const evolution = {run: 'r', layer: 'conv1', method: 'am', channel: 0, role: 'image', problems: [],
                             frames: points.map((p) => ({step: p.step, image: 'data:,', numbers: {activation: 1}}))};
          const {element} = e.renderEvolution(evolution, {
            step: 0, roles: ['image'], format: {headline: 'activation', item: 'channel'},
            onStep() {}, onRole() {}, onClose() {}, axes: new Map([['r', new a.Axis(points)]]),
            scalars: {searched: ['r/train', 'r/validation'], series: []}});
          return element.querySelector('.note').textContent;
        };
        const at = (step, completed) => ({step, epoch: step / 48, epochs_completed: completed, batch: step % 48,
                                          steps_per_epoch: 48});
        return [note([at(0, 0), at(10, 0), at(20, 0)]), note([at(0, 0), at(10, 0), at(48, 1)])];
      });""")
    assert notes[0].startswith("No epoch has ended yet") and "keras.callbacks.TensorBoard" not in notes[0]
    assert "add keras.callbacks.TensorBoard(log_dir=<the same logdir>)" in notes[1]
