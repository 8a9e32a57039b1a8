"""The web view in a real browser (Debian's chromium through Selenium).

Starts the server on 127.0.0.1 with a token and a live source that shows a real face
(the identify loop keeping its sightings, as edge-identify does), signs in with ?token=,
enrols a person from an uploaded photo, sees them in the gallery and in the live view,
identifies another photo of them, and removes them; on the Recent page, names the
stranger the camera saw and then says a sighting is not them. Screenshots of every
page go to $WEB_SCREENSHOTS (default: a folder under pytest's tmp_path).
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import need_data

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,960"]
TOKEN = "browser-test-token-0123456789abcdef"
BUNDLE = "fast"  # the shipped bundle (edge/bundles/fast)

pytest.importorskip("flask")
webdriver = pytest.importorskip("selenium.webdriver")

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def celeb(person: str, n: int, pad: int = 40) -> np.ndarray:
    """A 160 px grey face crop with a border, so the detector sees a whole head (BGR)."""
    crop = cv2.imread(str(need_data("celebs", person, f"{person}-{n:03d}.jpg")))
    return cv2.copyMakeBorder(crop, pad, pad, pad, pad, cv2.BORDER_REPLICATE)


def camera_frame(face: np.ndarray, size=(640, 480)) -> np.ndarray:
    """A frame as a camera would give it: the face in a room-grey picture."""
    frame = np.full((size[1], size[0], 3), 90, np.uint8)
    h, w = face.shape[:2]
    y, x = (size[1] - h) // 2, (size[0] - w) // 2
    frame[y:y + h, x:x + w] = face
    return frame


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("WEB_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def server(tmp_path):
    """(base URL, stop) of the web view with a live source looping over one frame."""
    from edge.bundle import BundleError, load_bundle
    from edge.pipeline import Pipeline
    from edge.sources import Source
    from edge.web import start
    from gallery.match import Matcher

    try:
        bundle = load_bundle(BUNDLE)
    except BundleError as exc:  # a shipped bundle that does not load is a failure, not a skip
        pytest.fail(f"the shipped bundle {BUNDLE!r} does not load: {exc}", pytrace=False)
    db = tmp_path / "gallery.db"
    port = free_port()
    frame, ready, stop = camera_frame(celeb("iu", 5)), threading.Event(), threading.Event()
    state = {}

    class Camera(Source):  # a live source showing the same frame four times a second
        live = True

        def __iter__(self):
            while not stop.is_set():
                time.sleep(0.25)
                yield frame

    def loop():  # the identify loop as edge-identify runs it (SQLite wants its own thread)
        from edge.sightings import SightingsOutput

        with Matcher(db, bundle.sha256, bundle.threshold) as matcher, Camera() as camera:
            state["ident"] = Pipeline(bundle, matcher, threads=1, every=1)
            sightings = SightingsOutput(db, bundle.sha256, "door")
            ready.set()
            for shown, result in state["ident"].run(camera):
                sightings.publish(result)
                if "web" in state:
                    state["web"].publish(shown, result)
            sightings.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    assert ready.wait(60)
    state["web"] = start(f"127.0.0.1:{port}", TOKEN, bundle, db, state["ident"])
    yield f"http://127.0.0.1:{port}"
    stop.set()
    thread.join(5)
    state["web"].close()


@pytest.fixture
def browser(tmp_path):
    # CI installs chromium (.ci/run): without it the web view goes untested, which is a
    # failure, not a skip
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver",
                    pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.page_load_strategy = "eager"  # the MJPEG stream never finishes loading
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def test_enrol_see_identify_remove_in_a_browser(server, browser, shots, tmp_path):
    wait = WebDriverWait(browser, 30)
    photos = {}
    for name, image in {"iu-1": celeb("iu", 1), "iu-2": celeb("iu", 2),
                        "kim-1": celeb("kim_yuna", 1)}.items():
        photos[name] = tmp_path / f"{name}.jpg"
        cv2.imwrite(str(photos[name]), image)
    photos["no-face"] = tmp_path / "no-face.png"
    cv2.imwrite(str(photos["no-face"]), np.full((200, 200, 3), 200, np.uint8))

    def shot(name):
        time.sleep(0.3)  # let images paint
        browser.save_screenshot(str(shots / f"{name}.png"))

    def text():
        return browser.find_element(By.TAG_NAME, "main").text

    # No token, no access; ?token= once signs the browser in and drops it from the address.
    browser.get(server + "/gallery")
    assert "needs its access token" in text()
    shot("00_no_token")
    browser.get(f"{server}/?token={TOKEN}")
    wait.until(ec.presence_of_element_located((By.ID, "stream")))
    assert "token=" not in browser.current_url
    wait.until(lambda d: d.execute_script(
        "return document.getElementById('stream').naturalWidth") == 640)
    shot("01_live_before_enrolment")

    # Enrol from an uploaded photo; a photo without a face is refused with its reason.
    browser.get(server + "/enrol")
    form = browser.find_element(By.CSS_SELECTOR, "form[enctype]")
    form.find_element(By.NAME, "name").send_keys("Anna <b>Blue</b>")
    form.find_element(By.NAME, "photo").send_keys(str(photos["no-face"]))
    form.find_element(By.TAG_NAME, "button").click()
    wait.until(ec.presence_of_element_located((By.CLASS_NAME, "error")))
    assert "no face found" in text()
    shot("02_enrol_refused")

    for name, photo in (("IU", "iu-1"), ("Kim Yuna", "kim-1")):
        browser.get(server + "/enrol")
        form = browser.find_element(By.CSS_SELECTOR, "form[enctype]")
        form.find_element(By.NAME, "name").send_keys(name)
        form.find_element(By.NAME, "photo").send_keys(str(photos[photo]))
        form.find_element(By.TAG_NAME, "button").click()
        wait.until(ec.url_contains("/gallery"))
        assert f"Enrolled {name}." in text()

    # The gallery shows both, each with a thumbnail that loaded.
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".person .name")]
    assert names == ["IU", "Kim Yuna"]
    widths = browser.execute_script(
        "return [...document.querySelectorAll('.thumbs img')].map(i => i.naturalWidth)")
    assert widths == [112, 112]
    browser.find_element(By.CSS_SELECTOR, ".person summary").click()
    shot("03_gallery")

    # The live view names her, in the stream and in the latest identifications.
    browser.get(server + "/")
    wait.until(lambda d: "IU" in d.find_element(By.ID, "recent").text)
    shot("04_live_after_enrolment")

    # Identify another photo of her.
    browser.get(server + "/identify")
    browser.find_element(By.NAME, "photo").send_keys(str(photos["iu-2"]))
    browser.find_element(By.CSS_SELECTOR, "main form button").click()
    cell = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "table.faces td.name")))
    assert cell.text == "IU"
    shot("05_identify")

    # Remove her (after confirming).
    browser.get(server + "/gallery")
    person = browser.find_elements(By.CSS_SELECTOR, ".person")[0]
    person.find_element(By.TAG_NAME, "summary").click()
    person.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait.until(ec.alert_is_present())
    browser.switch_to.alert.accept()
    wait.until(lambda d: "Removed IU" in text())
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".person .name")] == ["Kim Yuna"]
    shot("06_gallery_after_removal")


def test_a_form_on_another_site_cannot_change_anything(server, browser, tmp_path):
    """A page elsewhere (here a local file: Origin "null") posting to the signed-in view."""
    wait = WebDriverWait(browser, 30)
    browser.get(f"{server}/gallery?token={TOKEN}")
    wait.until(ec.url_matches(r"/gallery$"))
    evil = tmp_path / "evil.html"
    evil.write_text(f'<form method="post" action="{server}/gallery/remove">'
                    '<input name="name" value="IU"><button>win a prize</button></form>')
    browser.get(evil.as_uri())
    browser.find_element(By.TAG_NAME, "button").click()
    # the click navigates: the old page's body may go stale while the answer loads
    WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: "another site" in d.find_element(By.TAG_NAME, "body").text)


def test_recent_sightings_assign_and_reject_in_a_browser(server, browser, shots):
    """The camera shows a stranger: the Recent page shows the sighting; naming it there
    makes the loop name her (a new sighting, "IU"); "Not IU" on that one is recorded."""
    wait = WebDriverWait(browser, 60)

    def text():
        return browser.find_element(By.TAG_NAME, "main").text

    def sightings():
        return [(e.get_attribute("id"), e.find_element(By.CLASS_NAME, "name").text)
                for e in browser.find_elements(By.CSS_SELECTOR, ".sighting")]

    def newest(name):   # reload until the newest sighting is named ``name``
        def seen(driver):
            driver.get(server + "/recent")
            found = sightings()
            return found and found[0][1] == name and found
        return wait.until(seen)

    browser.get(f"{server}/recent?token={TOKEN}")
    wait.until(ec.url_matches(r"/recent$"))
    [(stranger, name)] = newest("unknown")
    assert browser.execute_script(
        "return document.querySelector('.sighting img').naturalWidth") == 112
    time.sleep(0.3)
    browser.save_screenshot(str(shots / "07_recent_stranger.png"))

    form = browser.find_element(By.CSS_SELECTOR, f"#{stranger} form.assign")
    form.find_element(By.NAME, "name").send_keys("IU")
    form.find_element(By.TAG_NAME, "button").click()
    wait.until(lambda d: "faces like it are named IU" in text())
    number = stranger.split("-")[1]
    assert f"Sighting {number} is IU" in text()

    found = newest("IU")                       # the loop names her from now on
    assert [n for _, n in found] == ["IU", "unknown"]
    time.sleep(0.3)
    browser.save_screenshot(str(shots / "08_recent_named.png"))
    browser.find_element(By.CSS_SELECTOR, f"#{found[0][0]} form.reject button").click()
    wait.until(ec.alert_is_present())
    browser.switch_to.alert.accept()
    wait.until(lambda d: "is not IU" in text())
    time.sleep(0.3)
    browser.save_screenshot(str(shots / "09_recent_rejected.png"))
