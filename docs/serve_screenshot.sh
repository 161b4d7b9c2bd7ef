#!/usr/bin/env bash
# Re-makes docs/images/serve.png: `alexnet serve` in headless Chromium (Debian's chromium and
# chromium-driver). The net is a torchvision-format AlexNet checkpoint with seeded RANDOM weights
# (tests/torchvision_fixtures.py; no ImageNet weights are downloaded), so its classes mean nothing:
# the picture shows the page, not a trained net. Beside it the server holds tests/photos as
# examples, their fc7 index and their top-9 patches.
#   bash docs/serve_screenshot.sh            (VENV=/path for another environment)
set -euo pipefail
cd "$(dirname "$0")/.."
. "${VENV:-.venv}/bin/activate"
TMP="$(mktemp -d)"
PORT="${PORT:-8799}"
python -c "import sys, torch; sys.path.insert(0, 'tests'); from torchvision_fixtures import peaky_alexnet_state_dict as s; torch.save(s(), sys.argv[1])" "$TMP/alexnet-owt-7be5be79.pth"
alexnet features "$TMP/alexnet-owt-7be5be79.pth" tests/photos --out "$TMP/photos.fc7.safetensors" --device cpu
alexnet serve "$TMP/alexnet-owt-7be5be79.pth" --examples tests/photos --index "$TMP/photos.fc7.safetensors" \
    --patches-from tests/photos --port "$PORT" --device cpu &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$TMP"' EXIT
python - "http://127.0.0.1:$PORT/" docs/images/serve.png <<'PY'
import sys, time
import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
url, out = sys.argv[1], sys.argv[2]
for _ in range(300):
    try:
        if httpx.get(url + "healthz").status_code == 200:
            break
    except httpx.TransportError:
        time.sleep(0.5)
options = webdriver.ChromeOptions()
for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2300"):
    options.add_argument(arg)
d = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
wait = lambda f, s=300: WebDriverWait(d, s).until(f)
d.get(url)
wait(lambda d: d.find_elements(By.CSS_SELECTOR, '.layer[data-layer="conv1"]'))
d.find_element(By.ID, "file-input").send_keys(str(__import__("pathlib").Path("tests/photos/chelsea.jpg").resolve()))
wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#top5 li")) == 5)
d.find_element(By.CSS_SELECTOR, '.layer[data-layer="conv1"]').click()
wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#maps img")) > 0)
d.find_elements(By.CSS_SELECTOR, "#maps img")[5].click()
wait(lambda d: d.execute_script("const i = document.getElementById('deconv'); return i.complete && i.naturalWidth > 0"))
wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#patches img")) > 0 and d.find_element(By.ID, "gradcam").is_displayed())
wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#neighbours img")) > 0)
time.sleep(1)
d.execute_script("window.scrollTo(0, 0)")
d.save_screenshot(out)
d.quit()
from PIL import Image   # 256 colours: a third of the size, no visible loss on this page
Image.open(out).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
print(f"wrote {out}")
PY
