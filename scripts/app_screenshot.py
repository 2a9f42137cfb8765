"""Screenshot of `munit app` for the README: serves a run, drives headless Chromium through the page.

    python scripts/app_screenshot.py runs/demo docs/images/app.png

Needs Debian's chromium and chromium-driver (as the browser test) and a run trained on builtin:shapes.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(run: str, output: str) -> None:
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from munit import Translator
    from munit.app import make_server
    from munit.data.builtin import draw_factors, render

    server = make_server(Translator.from_pretrained(run, "cpu"), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1050"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    with tempfile.TemporaryDirectory() as tmp:
        image, reference = Path(tmp) / "drawing.png", Path(tmp) / "reference.png"
        Image.fromarray(render(draw_factors(0, "test", "a", 3), "a", 64)).save(image)
        Image.fromarray(render(draw_factors(0, "test", "b", 5), "b", 64)).save(reference)
        try:
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/")
            wait = WebDriverWait(driver, 60)
            wait.until(lambda d: "iteration" in d.find_element(By.ID, "info").text)
            driver.find_element(By.ID, "image").send_keys(str(image))
            driver.find_element(By.ID, "translate").click()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid img")) == 6)
            driver.find_element(By.ID, "reference").send_keys(str(reference))
            driver.find_element(By.ID, "copy").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#ref-result img"))
            driver.find_element(By.ID, "interp").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#interp-result img"))
            driver.execute_script("const s = document.getElementById('slider'); s.value = 4; s.oninput();")
            driver.save_screenshot(output)
        finally:
            driver.quit()
            server.shutdown()
    print(output)


if __name__ == "__main__":
    main(*sys.argv[1:3])
