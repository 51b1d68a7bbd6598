"""Regenerates docs/demo/dashboard.png: the FeatViz dashboard on a demo log, conv2, channel 5 open.

    .venv/bin/python docs/make_dashboard_screenshot.py runs/demo docs/demo/dashboard.png 5

Needs a demo log (`make demo`) and Debian's chromium + chromium-driver (`make browser`).
"""
import sys, time
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.dirname(__import__('os').path.abspath(__file__))))
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from tests.browser import start_chromium, open_dashboard, wait_for, images_loaded
from tests.tensorboard_server import TensorBoardServer

with TensorBoardServer(sys.argv[1]) as tb:
    tb.wait_for_plugin()
    d = start_chromium()
    d.set_window_size(1400, 1050)
    open_dashboard(d, tb.url)
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, "#run option"))
    Select(d.find_element(By.ID, "run")).select_by_value("featviz")
    wait_for(lambda: d.find_elements(By.CSS_SELECTOR, ".tile"))
    Select(d.find_element(By.ID, "layer")).select_by_value("conv2")
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, ".tile")) == 64)
    d.find_elements(By.CSS_SELECTOR, ".tile")[int(sys.argv[3])].click()
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, ".evolution .frame")) == 6)
    wait_for(lambda: images_loaded(d, "img") >= 70, timeout=30)
    time.sleep(1)
    d.switch_to.default_content()
    d.save_screenshot(sys.argv[2])
    d.quit()
