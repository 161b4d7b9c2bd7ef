"""The page in a real browser: headless Chromium driven by Selenium against a live server.

Needs Debian's ``chromium`` and ``chromium-driver`` (the system driver: Selenium downloads nothing
when ``Service(executable_path=...)`` names it). Without them the test is skipped on a developer's
machine, but FAILS where ``CI`` is set: CI must run it.
"""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from alexnet.serve import Served  # noqa: E402
from serve_fixtures import PHOTOS, live_server, peaky_weights  # noqa: E402

DRIVER = "/usr/bin/chromedriver"


def browser():
    missing = [p for p in (DRIVER,) if not os.path.exists(p)] + \
              ([] if shutil.which("chromium") or shutil.which("chromium-browser") else ["chromium"])
    if missing:
        message = f"needs Debian's chromium and chromium-driver (missing: {', '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must install them (apt-get install chromium chromium-driver)")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1500"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)


def wait(driver, condition, seconds=60):
    return WebDriverWait(driver, seconds).until(condition)


def image_loaded(driver, element) -> bool:
    return driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", element)


@pytest.mark.slow
def test_page_in_a_real_browser(tmp_path):
    weights = peaky_weights(tmp_path / "model.safetensors")
    photo = PHOTOS / "chelsea.jpg"
    driver = browser()
    try:
        served = Served.load([weights], examples=PHOTOS, patches_from=PHOTOS, device="cpu")
        with live_server(served) as url:
            import httpx
            expected = httpx.post(f"{url}/v1/predict", files=[("file", (photo.name, photo.read_bytes()))],
                                  timeout=60).json()["results"][0]["top"]
            driver.get(url + "/")
            wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '.layer[data-layer="conv1"]'))
            driver.find_element(By.ID, "file-input").send_keys(str(photo))
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#top5 li")) == 5)
            shown = [(li.get_attribute("data-class"), float(li.get_attribute("data-probability")))
                     for li in driver.find_elements(By.CSS_SELECTOR, "#top5 li")]
            assert shown == [(t["class"], t["probability"]) for t in expected]     # the same request: equal
            texts = [li.find_element(By.CSS_SELECTOR, ".prob").text for li in driver.find_elements(By.CSS_SELECTOR, "#top5 li")]
            assert texts == [f"{t['probability']:.4f}" for t in expected]

            driver.find_element(By.CSS_SELECTOR, '.layer[data-layer="conv2"]').click()
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#maps img")) == 256)
            maps = driver.find_elements(By.CSS_SELECTOR, "#maps img")
            wait(driver, lambda d: all(image_loaded(d, m) for m in maps[:8]))
            maps[7].click()
            large = driver.find_element(By.ID, "map-large")
            wait(driver, lambda d: large.is_displayed() and image_loaded(d, large))
            assert large.get_attribute("src") == maps[7].get_attribute("src")
            assert "conv2, map 7" in driver.find_element(By.ID, "map-title").text
            for id in ("deconv", "deconv-box"):           # the deconvnet projection and the unit's field
                element = driver.find_element(By.ID, id)
                wait(driver, lambda d: image_loaded(d, element), 120)
            wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#patches img")) == 5, 120)  # 5 photos
            gradcam = driver.find_element(By.ID, "gradcam")
            wait(driver, lambda d: gradcam.is_displayed() and image_loaded(d, gradcam), 120)
            driver.find_element(By.ID, "occlusion-button").click()
            occlusion = driver.find_element(By.ID, "occlusion")
            wait(driver, lambda d: occlusion.is_displayed() and image_loaded(d, occlusion), 120)
            assert len(driver.find_elements(By.CSS_SELECTOR, "#towers img")) == 2      # two towers
            assert image_loaded(driver, driver.find_element(By.ID, "net-input"))
            assert driver.find_element(By.ID, "error").get_attribute("hidden") is not None   # no error shown

            # an unreadable upload shows a readable message
            bad = tmp_path / "not-an-image.jpg"
            bad.write_bytes(b"this is text")
            driver.find_element(By.ID, "file-input").send_keys(str(bad))
            error = driver.find_element(By.ID, "error")
            wait(driver, lambda d: error.is_displayed() and "not an image" in error.text)

            driver.find_elements(By.CSS_SELECTOR, "#examples img")[1].click()       # chelsea again, by id
            wait(driver, lambda d: not error.is_displayed() and len(d.find_elements(By.CSS_SELECTOR, "#top5 li")) == 5)
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(tmp_path / "page.png"))    # (docs/serve_screenshot.sh makes the README's)
        assert (tmp_path / "page.png").stat().st_size > 10_000
    finally:
        driver.quit()
