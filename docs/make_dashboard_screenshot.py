"""Regenerates docs/demo/dashboard.png: the FeatViz dashboard on a demo log, conv2, one channel open.

    .venv/bin/python docs/make_dashboard_screenshot.py runs/demo docs/demo/dashboard.png 30

Needs a demo log (`make demo`) and Debian's chromium + chromium-driver (`make browser`).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from tests.browser import images_loaded, open_dashboard, start_chromium, wait_for  # noqa: E402
from tests.tensorboard_server import TensorBoardServer  # noqa: E402


def main(logdir: str, out: str, channel: int) -> None:
    with TensorBoardServer(logdir) as tb:
        tb.wait_for_plugin()
        driver = start_chromium()
        try:
            driver.set_window_size(1400, 1050)
            open_dashboard(driver, tb.url)
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#run option"))
            Select(driver.find_element(By.ID, "run")).select_by_value("featviz")
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".tile"))
            Select(driver.find_element(By.ID, "layer")).select_by_value("conv2")
            wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".tile")) == 64)
            driver.find_elements(By.CSS_SELECTOR, ".tile")[channel].click()
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, ".evolution .frame"))
            wait_for(lambda: images_loaded(driver, "img") >= 64, timeout=30)
            time.sleep(1)
            driver.switch_to.default_content()
            driver.save_screenshot(out)
        finally:
            driver.quit()
    print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
