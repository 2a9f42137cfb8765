"""The web page: a real headless Chromium uploads an image and sees translations; uploads are checked."""

from __future__ import annotations

import base64
import http.client
import io
import json
import resource
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from munit import Translator
from munit.app import make_server
from munit.training.loop import train

from helpers import tiny_config

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def serve(root: Path, **config):
    """Train a tiny model of `config` and serve its page; yields the page's address."""
    train(tiny_config(max_iter=2, **config), root / "run", torch.device("cpu"), progress=False)
    server = make_server(Translator.from_pretrained(root / "run", "cpu"), port=0, max_bytes=2 ** 20,
                         max_pixels=512 * 512)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def fader_server(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("fader"), method="fader", gen={"n_downsample": 2})


@pytest.fixture(scope="module")
def stargan_server(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("stargan"), method="stargan_v2", gen={"latent_dim": 4})


def png_bytes(size=(40, 36), seed=0, fmt="PNG") -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def blank_png(size) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format="PNG")
    return buffer.getvalue()


def post(url: str, action: str, body: dict | bytes) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/api/{action}", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_api_translates_copies_references_and_interpolates(server):
    status, data = post(server, "translate", {"image": b64(png_bytes()), "num_styles": 3, "seed": 7})
    assert status == 200 and len(data["images"]) == 3 and data["seed"] == 7
    assert all(u.startswith("data:image/png;base64,") for u in data["images"])
    assert post(server, "translate", {"image": b64(png_bytes()), "num_styles": 3, "seed": 7})[1] == data
    status, ref = post(server, "reference", {"image": b64(png_bytes()), "reference": b64(png_bytes(seed=1))})
    assert status == 200 and len(ref["images"]) == 1
    status, path = post(server, "interpolate", {"image": b64(png_bytes()), "seed": 1})
    assert status == 200 and len(path["images"]) == 9


def test_an_oversized_upload_is_refused_before_it_is_read(server):
    """The server answers from the Content-Length header alone (the body is never sent here)."""
    host, port = server.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/translate")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(2 ** 20 + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and "bytes is more than" in json.loads(response.read())["error"]
    conn.close()


@pytest.mark.parametrize("body, status, message", [
    (b"not json", 400, "not JSON"),
    ({"image": "%%%"}, 400, "not base64"),
    ({"image": b64(b"GIF89a-truncated")}, 415, "not a readable image"),
    ({"image": b64(blank_png((600, 600)))}, 413, "pixels is more than"),  # Few bytes, many pixels.
    ({"image": b64(blank_png((1, 40000)))}, 413, "px after resizing, more than"),  # 32 x 1,280,000 px resized.
    ({"image": b64(png_bytes(fmt="ICO"))}, 415, "ICO images are not accepted"),
    ({"image": b64(png_bytes()), "direction": "a2z"}, 400, "translates a2b and b2a, not"),
    ({"image": b64(png_bytes()), "num_styles": 1000}, 400, "num_styles must be between"),
])
def test_bad_uploads_are_refused_with_a_message(server, body, status, message):
    got_status, data = post(server, "translate", body)
    assert got_status == status and message in data["error"]


def test_concurrent_requests_get_their_own_results(server):
    images = [png_bytes(seed=s) for s in range(6)]
    alone = [post(server, "translate", {"image": b64(img), "num_styles": 2, "seed": s})[1]
             for s, img in enumerate(images)]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda s: post(server, "translate", {"image": b64(images[s]), "num_styles": 2,
                                                                       "seed": s})[1], range(6)))
    assert together == alone


def chromium():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run installs them)")
@pytest.mark.slow
def test_page_in_headless_chromium(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    try:
        driver.get(server)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "iteration" in d.find_element(By.ID, "info").text)
        upload = tmp_path / "drawing.png"
        upload.write_bytes(png_bytes(size=(64, 64)))
        driver.find_element(By.ID, "image").send_keys(str(upload))
        driver.find_element(By.ID, "num").clear()
        driver.find_element(By.ID, "num").send_keys("4")
        driver.find_element(By.ID, "translate").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid img")) == 4)
        grid = driver.find_elements(By.CSS_SELECTOR, "#grid img")
        assert all(d.get_attribute("src").startswith("data:image/png") for d in grid)
        width = "return arguments[0].naturalWidth"  # Decoded images at the model's size (shorter side 32 px).
        assert wait.until(lambda d: all(d.execute_script(width, img) == 32 for img in grid))

        reference = tmp_path / "reference.png"
        reference.write_bytes(png_bytes(size=(64, 64), seed=3))
        driver.find_element(By.ID, "reference").send_keys(str(reference))
        driver.find_element(By.ID, "copy").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#ref-result img")))

        driver.find_element(By.ID, "interp").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#interp-result img")))
        slider = driver.find_element(By.ID, "slider")
        first = driver.find_element(By.CSS_SELECTOR, "#interp-result img").get_attribute("src")
        driver.execute_script("arguments[0].value = 8; arguments[0].oninput();", slider)
        assert driver.find_element(By.CSS_SELECTOR, "#interp-result img").get_attribute("src") != first

        bad = tmp_path / "notes.png"
        bad.write_bytes(b"not an image at all")
        driver.find_element(By.ID, "image").send_keys(str(bad))
        driver.find_element(By.ID, "translate").click()
        wait.until(lambda d: "not a readable image" in d.find_element(By.ID, "error").text)
    finally:
        driver.quit()


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run installs them)")
@pytest.mark.slow
def test_page_translates_into_a_chosen_domain_of_a_multi_domain_model(stargan_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = chromium()
    try:
        driver.get(stargan_server)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "iteration" in d.find_element(By.ID, "info").text)
        choice = Select(driver.find_element(By.ID, "direction"))
        assert [o.text for o in choice.options] == ["→ red", "→ yellow", "→ green", "→ blue", "→ purple"]
        choice.select_by_value("blue")
        upload = tmp_path / "shape.png"
        upload.write_bytes(png_bytes(size=(64, 64)))
        driver.find_element(By.ID, "image").send_keys(str(upload))
        driver.find_element(By.ID, "num").clear()
        driver.find_element(By.ID, "num").send_keys("2")
        driver.find_element(By.ID, "translate").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#grid img")) == 2)
        reference = tmp_path / "reference.png"
        reference.write_bytes(png_bytes(size=(64, 64), seed=3))
        driver.find_element(By.ID, "reference").send_keys(str(reference))
        driver.find_element(By.ID, "copy").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#ref-result img")))
    finally:
        driver.quit()
    status, body = post(stargan_server, "translate", {"image": b64(png_bytes()), "direction": "blue", "num_styles": 2,
                                                      "seed": 1})
    again = post(stargan_server, "translate", {"image": b64(png_bytes()), "direction": "red", "num_styles": 2,
                                                "seed": 1})[1]
    assert status == 200 and len(body["images"]) == 2 and body["images"] != again["images"]


def test_fader_sliders_edit_over_the_api_and_bad_values_are_refused(fader_server):
    with urllib.request.urlopen(f"{fader_server}/api/info", timeout=60) as response:
        assert json.loads(response.read())["attributes"] == ["red", "yellow", "green", "blue", "purple"]
    image = b64(png_bytes())
    status, blue = post(fader_server, "edit", {"image": image, "attributes": {"blue": 1}})
    _, mixed = post(fader_server, "edit", {"image": image, "attributes": {"blue": 0.5, "red": 0.5}})
    assert status == 200 and len(blue["images"]) == 1 and blue["images"] != mixed["images"]
    for attributes, message in (({"teal": 1}, "attributes must map some of red, yellow"),
                                ([1, 0], "attributes must map"), ({"red": "x"}, "attribute red must be a number"),
                                ({"red": 1e9}, "between -5.0 and 5.0")):
        status, body = post(fader_server, "edit", {"image": image, "attributes": attributes})
        assert status == 400 and message in body["error"], (attributes, body)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run installs them)")
@pytest.mark.slow
def test_page_shows_a_slider_per_attribute_of_a_fader_model(fader_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = chromium()
    try:
        driver.get(fader_server)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: "iteration" in d.find_element(By.ID, "info").text)
        sliders = driver.find_elements(By.CSS_SELECTOR, "#attributes input[type=range]")
        assert [s.get_attribute("data-name") for s in sliders] == ["red", "yellow", "green", "blue", "purple"]
        upload = tmp_path / "shape.png"
        upload.write_bytes(png_bytes(size=(64, 64)))
        driver.find_element(By.ID, "image").send_keys(str(upload))
        driver.find_element(By.ID, "edit").click()
        # Read in the page: the result image is replaced when an edit returns (no stale element in between).
        shown = "const img = document.querySelector('#edit-result img'); return img ? img.src : null;"
        first = wait.until(lambda d: d.execute_script(shown))
        driver.execute_script("arguments[0].value = 1; arguments[0].onchange();", sliders[3])  # Blue up.
        wait.until(lambda d: d.execute_script(shown) not in (None, first))
        assert not driver.find_element(By.ID, "slider-section").is_displayed()  # No style codes to interpolate.
    finally:
        driver.quit()


def test_requests_write_no_file(server, tmp_path, monkeypatch):
    """Uploads stay in memory: neither the working folder nor the temporary folder gains a file."""
    import tempfile

    monkeypatch.chdir(tmp_path)
    before = set(Path(tempfile.gettempdir()).iterdir())
    for action, body in (("translate", {"image": b64(png_bytes()), "num_styles": 2}),
                         ("reference", {"image": b64(png_bytes()), "reference": b64(png_bytes(seed=2))}),
                         ("translate", {"image": b64(b"junk")})):
        post(server, action, body)
    assert list(tmp_path.iterdir()) == []
    assert set(Path(tempfile.gettempdir()).iterdir()) <= before


def test_the_page_reads_images_as_the_command_line_does(server):
    """Transparent pixels are white (they were black), 16-bit gray is scaled (it came out almost white)."""
    def png(img: Image.Image) -> bytes:
        buffer = io.BytesIO()
        img.save(buffer, format="PNG")
        return buffer.getvalue()

    def translated(data: bytes) -> dict:
        status, result = post(server, "translate", {"image": b64(data), "num_styles": 2, "seed": 3})
        assert status == 200, result
        return result

    transparent = png(Image.new("RGBA", (40, 36), (0, 0, 0, 0)))
    assert translated(transparent) == translated(png(Image.new("RGB", (40, 36), (255, 255, 255))))
    sixteen = png(Image.fromarray(np.full((36, 40), 32896, dtype=np.uint16)))  # 32896 / 65535 * 255 = 128.
    assert translated(sixteen) == translated(png(Image.new("RGB", (40, 36), (128, 128, 128))))


def raw_post(url: str, body: bytes, headers: dict[str, str], timeout: float = 60) -> tuple[int, dict]:
    """A POST with exactly these headers (http.client adds only Host unless told otherwise)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    conn.putrequest("POST", "/api/translate", skip_accept_encoding=True,
                    skip_host="Host" in headers)
    for key, value in headers.items():
        conn.putheader(key, value)
    conn.endheaders(body)
    response = conn.getresponse()
    status, data = response.status, json.loads(response.read())
    conn.close()
    return status, data


@pytest.mark.parametrize("headers, body, status, message", [
    ({"Content-Type": "text/plain"}, None, 415, "Content-Type must be application/json"),
    ({"Content-Type": "application/json", "Host": "evil.example:80"}, None, 403, "is not this server's address"),
    ({"Content-Type": "application/json", "Origin": "http://evil.example"}, None, 403, "are not accepted"),
    ({"Content-Type": "application/json", "Content-Length": "abc"}, b"", 400, "Content-Length must be a number"),
    ({"Content-Type": "application/json", "Content-Length": "-5"}, b"", 400, "Content-Length must be a number"),
    ({"Content-Type": "application/json"}, b'{"image": "IMG", "seed": Infinity}', 400, "seed must be an integer"),
    ({"Content-Type": "application/json"}, b'{"image": "IMG", "num_styles": 1e400}', 400, "num_styles must be"),
    ({"Content-Type": "application/json"}, b'{"image": "IMG", "num_styles": true}', 400, "num_styles must be"),
    ({"Content-Type": "application/json"}, b'{"seed": 1}', 400, "image: missing"),
    ({"Content-Type": "application/json"}, b"[" * 100_000, 400, "not JSON"),
    ({"Content-Type": "application/json"}, b'{"image": "IMG", "seed": ' + b"9" * 5000 + b"}", 400,
     "a number of more than 4,300 digits"),
])
def test_only_same_origin_json_requests_are_served(server, headers, body, status, message):
    """What a cross-site form or fetch, a DNS-rebinding page or a broken client sends, as real requests."""
    body = body if body is not None else json.dumps({"image": b64(png_bytes())}).encode()
    body = body.replace(b"IMG", b64(png_bytes()).encode())
    headers = {"Content-Length": str(len(body)), **headers}
    got, data = raw_post(server, body, headers)
    assert got == status and message in data["error"], data


def test_a_foreign_host_gets_403_on_every_page(server):
    """GET / and /api/info answered 200 to a foreign Host header (a DNS-rebinding page could read the
    model's description) while POSTs got 403, as the docs say every request does."""
    host, port = server.removeprefix("http://").split(":")
    for path in ("/", "/api/info", "/nowhere"):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", "evil.example")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 403 and "is not this server's address" in json.loads(response.read())["error"]
        conn.close()
    with urllib.request.urlopen(f"{server}/api/info", timeout=30) as response:
        assert response.status == 200


def test_same_origin_requests_from_the_page_are_served(server):
    host = server.removeprefix("http://")
    body = json.dumps({"image": b64(png_bytes()), "num_styles": 1}).encode()
    for origin in ({}, {"Origin": f"http://{host}"}):
        got, data = raw_post(server, body, {"Content-Type": "application/json",
                                            "Content-Length": str(len(body)), **origin})
        assert got == 200 and len(data["images"]) == 1


def test_stalled_uploads_time_out_and_cannot_pile_up_threads(tmp_path):
    train(tiny_config(max_iter=1), tmp_path / "run", torch.device("cpu"), progress=False)
    server = make_server(Translator.from_pretrained(tmp_path / "run", "cpu"), port=0, timeout_s=15)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url, port = f"http://127.0.0.1:{server.server_address[1]}", server.server_address[1]
    stalled = []
    try:
        threads_before = threading.active_count()
        for _ in range(40):  # Each promises 1,000 bytes and sends 10.
            sock = socket.create_connection(("127.0.0.1", port), timeout=40)
            sock.sendall(b"POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n{\"image\": " % port)
            stalled.append(sock)
        deadline, got = time.monotonic() + 12, None
        while got != 503 and time.monotonic() < deadline:  # Until the stalled uploads hold every slot.
            got, data = post(url, "translate", {"image": b64(png_bytes()), "num_styles": 1})
        assert got == 503 and "too many requests" in data["error"]  # Past 16 uploads at once, no more work.
        assert threading.active_count() <= threads_before + 41  # One thread per connection at most.
        answers = [sock.recv(4096) for sock in stalled]  # 503 at once, or 408 after 15 s; none hangs.
        statuses = {a.split(b" ")[1] if a else b"closed" for a in answers}
        assert statuses <= {b"408", b"503", b"closed"}, statuses
        deadline = time.monotonic() + 5
        while threading.active_count() > threads_before + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert threading.active_count() <= threads_before + 2  # The stalled threads are gone.
        assert post(url, "translate", {"image": b64(png_bytes()), "num_styles": 1})[0] == 200
    finally:
        for sock in stalled:
            sock.close()
        server.shutdown()
        server.server_close()


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content_type=st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x", "",
                                     "application/json; charset=utf-8"]),
       size=st.tuples(st.integers(1, 3000), st.integers(1, 3000)),
       fields=st.dictionaries(st.sampled_from(["seed", "num_styles", "direction", "reference", "extra"]),
                              st.one_of(st.integers(-10 ** 20, 10 ** 20), st.floats(), st.text(max_size=8),
                                        st.none(), st.booleans(), st.lists(st.integers(), max_size=3))),
       garbage=st.one_of(st.none(), st.binary(max_size=200)),
       length_text=st.one_of(st.none(), st.sampled_from(["", "abc", "-1", "99999999999999999999", "0"])))
def test_fuzzed_requests_get_one_answer_each_with_bounded_memory(server, content_type, size, fields, garbage,
                                                              length_text):
    """Random content types, image sizes and aspect ratios, field values, garbage bodies and lengths: every
    request gets one HTTP answer with a JSON message, and the server's memory stays under 1.5 GB."""
    body = garbage if garbage is not None else json.dumps(
        {"image": b64(blank_png(size)), **fields}, default=str).encode()
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)) if length_text is None else length_text}
    got, data = raw_post(server, body, headers, timeout=120)
    assert got == 200 or ("error" in data and 400 <= got < 600), (got, data)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1.5 * 2 ** 20  # kB: 1.5 GB.


def test_trickled_bodies_a_burst_and_an_oversized_upload_each_get_an_answer(tmp_path):
    """16 bodies trickled a byte every 0.5 s held every slot for ever (the timeout was per read) and every
    other request got 503; 50 connections at once got 9-20 resets; a 9 MB upload got a broken pipe instead
    of its 413. A real server on the loopback, timeout 3 s."""
    train(tiny_config(max_iter=1), tmp_path / "run", torch.device("cpu"), progress=False)
    server = make_server(Translator.from_pretrained(tmp_path / "run", "cpu"), port=0, timeout_s=3,
                         max_bytes=2 ** 20)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url, port = f"http://127.0.0.1:{server.server_address[1]}", server.server_address[1]
    trickles = []
    try:
        for _ in range(16):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(b"POST /api/translate HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n" % port)
            trickles.append(sock)
        start = time.monotonic()
        while time.monotonic() - start < 6:  # Past the 3 s deadline, a byte every 0.5 s.
            for sock in trickles:
                try:
                    sock.send(b" ")
                except OSError:
                    pass
            time.sleep(0.5)
        assert post(url, "translate", {"image": b64(png_bytes()), "num_styles": 1})[0] == 200
        answers = {sock.recv(4096).split(b" ")[1] for sock in trickles}
        assert answers == {b"408"}, answers

        def info(_):
            with urllib.request.urlopen(f"{url}/api/info", timeout=60) as response:
                return response.status
        with ThreadPoolExecutor(50) as pool:
            assert list(pool.map(info, range(50))) == [200] * 50

        body = json.dumps({"image": "A" * (9 * 2 ** 20)}).encode()
        status, data = post(url, "translate", body)
        assert status == 413 and "is more than the 1,048,576 allowed" in data["error"]
    finally:
        for sock in trickles:
            sock.close()
        server.shutdown()
        server.server_close()


def test_a_label_map_model_refuses_a_photo_with_the_command_lines_message(tmp_path_factory):
    """A photo, or a class id beyond label_nc, sent to a pix2pixHD label-map model's page gave HTTP 500
    "internal error: DataError"; it gets the command line's message with a 400."""
    pages = serve(tmp_path_factory.mktemp("labels"), method="pix2pixhd", label_nc=5, use_instance=True,
                  gen={"dim": 4, "n_downsample": 1, "n_res": 1}, dis={"dim": 4, "n_layer": 2})
    url = next(pages)
    try:
        status, data = post(url, "translate", {"image": b64(png_bytes())})
        assert status == 400 and "label map" in data["error"] and "internal error" not in data["error"]
        ids = Image.fromarray(np.full((32, 32), 9, dtype=np.uint8), "L")
        buffer = io.BytesIO()
        ids.save(buffer, format="PNG")
        status, data = post(url, "translate", {"image": b64(buffer.getvalue())})
        assert status == 400 and "9" in data["error"] and "internal error" not in data["error"]
    finally:
        pages.close()
