"""`onethinker demo`: the work behind the page (answers, refusals) and the page itself in a real headless
Chromium (Debian's chromium + chromium-driver, driven by Selenium): upload, ask, see the answer and overlay;
broken and oversize uploads get a message on the page."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from onethinker.predictor import Predictor

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# .ci/run sets this: on CI the browser test must run, never skip
REQUIRED = os.environ.get("ONETHINKER_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from onethinker.data import synthesize
    from onethinker.tasks import task_key

    root = synthesize(tmp_path_factory.mktemp("demo_world"), 12, 7, split="test")
    rows = {}
    for line in (root / "data.jsonl").read_text().splitlines():
        row = json.loads(line)
        rows[task_key(row["problem_type"], row["data_type"])] = root / (row.get("images") or row.get("videos"))[0]
    return rows


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    from onethinker.models.tiny import build_tiny

    return Predictor(build_tiny(tmp_path_factory.mktemp("tiny_demo"), seed=0), max_new_tokens=6)


def test_answer_upload_answers_and_draws(predictor, world, tmp_path):
    from onethinker.demo import answer_upload

    reply = answer_upload(predictor, str(world["tracking"]), "tracking", "track the shape", out_dir=tmp_path)
    assert reply.video and Path(reply.video).suffix == ".mp4" and reply.image is None
    assert "tracking" in reply.status  # either "Answer (tracking)" or "does not parse as tracking: <reason>"


def test_answer_upload_refuses_bad_uploads_with_a_message(predictor, world, tmp_path):
    from onethinker.demo import answer_upload

    big = tmp_path / "big.png"
    shutil.copy(world["spatial grounding"], big)
    with big.open("ab") as f:
        f.write(b"\0" * (2 * 2**20))
    assert "big.png is too large" in answer_upload(predictor, str(big), "spatial grounding", "q",
                                                   max_upload_mb=1).status
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture at all")
    reply = answer_upload(predictor, str(broken), "spatial grounding", "q", out_dir=tmp_path)
    assert "Cannot answer" in reply.status and "broken.png: cannot be decoded as an image" in reply.status
    wrong = answer_upload(predictor, str(world["spatial grounding"]), "tracking", "q", out_dir=tmp_path)
    assert "task 'tracking' takes video, not image" in wrong.status
    assert "Upload an image or a video first" in answer_upload(predictor, None, "tracking", "q").status


def _browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    for module in ("gradio", "selenium"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module} (pip install -e '.[demo,test]')")
    return ", ".join(missing) or None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def browser(tmp_path):
    missing = _browser_missing()
    if missing:
        if REQUIRED:
            pytest.fail(f"the browser test must run here but these are missing: {missing}")
        pytest.skip(f"needs Chromium + chromedriver (apt-get install chromium chromium-driver) and Gradio + "
                    f"Selenium; missing: {missing}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1400,1700"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def test_demo_page_in_a_real_browser(predictor, world, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from onethinker.demo import serve

    app = serve(predictor, port=_free_port(), work=tmp_path / "demo", block=False, max_upload_mb=1)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        assert app.local_url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
        browser.get(app.local_url)
        wait = WebDriverWait(browser, 30, poll_frequency=0.2)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))

        def css(selector):
            return browser.find_element(By.CSS_SELECTOR, selector)

        def ask(media: Path, question: str, task: str | None = None) -> str:
            clear = browser.find_elements(By.CSS_SELECTOR, "#upload button[aria-label=Clear]")
            if clear:
                clear[0].click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
            css("#upload input[type=file]").send_keys(str(media))
            # uploaded: the file's row shows (stem and suffix are separate elements) and the Clear button is back
            wait.until(lambda d: d.execute_script(
                "const t = document.querySelector('#upload').innerText;"
                "return t.includes(arguments[0]) && !t.includes('Uploading')", media.stem)
                and d.find_elements(By.CSS_SELECTOR, "#upload button[aria-label=Clear]"))
            if task is not None:
                box = css("#task input")
                box.click()
                box.send_keys(Keys.CONTROL, "a")
                box.send_keys(task)
                box.send_keys(Keys.ENTER)
                wait.until(lambda d: css("#task input").get_attribute("value") == task)
            field = css("#question textarea")
            field.clear()
            field.send_keys(question)
            before = css("#status").text.strip()
            css("#ask").click()
            # done: the status changed and no output still shows Gradio's "processing | 1.2s" tracker
            # (one snapshot of the page per poll; while busy, Gradio's trackers add lines such as "0.3s" or
            # "processing | 0.3/0.5s" to the outputs, and an .eta-bar)
            return wait.until(lambda d: d.execute_script(
                "const s = document.querySelector('#status').innerText.trim();"
                "const busy = /processing \\||(^|\\n)[0-9.\\/]+s(\\n|$)/.test(document.body.innerText)"
                "  || document.querySelector('.eta-bar') !== null;"
                "return s && s !== arguments[0] && !busy ? s : null", before))

        # 1. an image, spatial grounding (the default task): the answer and the overlay image show
        status = ask(world["spatial grounding"], "the blue square")
        assert "spatial grounding" in status  # "Answer (spatial grounding): ..." or "does not parse as ..."
        assert css("#reasoning textarea").get_attribute("value")
        assert css("#answer textarea").get_attribute("value")
        size = wait.until(lambda d: d.execute_script(
            "const i = document.querySelector('#overlay-image img');"
            "return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null"))
        from PIL import Image

        assert tuple(size) == Image.open(world["spatial grounding"]).size  # the overlay, at the image's size
        browser.save_screenshot(str(shots / "1-image-spatial-grounding.png"))

        # 2. a video, tracking: the annotated video plays in the page
        status = ask(world["tracking"], "track the shape", task="tracking")
        assert "tracking" in status
        duration = wait.until(lambda d: d.execute_script(
            "const v = document.querySelector('#overlay-video video');"
            "return v && v.readyState >= 1 && v.duration > 0 ? v.duration : null"))
        from onethinker.data.media import probe_video

        assert abs(duration - probe_video(world["tracking"]).duration) < 0.3
        assert not browser.find_elements(By.CSS_SELECTOR, "#overlay-image img")  # the image overlay is hidden
        browser.save_screenshot(str(shots / "2-video-tracking.png"))

        # 3. a broken file: a message on the page, no traceback
        broken = tmp_path / "broken.mp4"
        broken.write_bytes(b"\x00\x00\x00 this is not a video " * 40)  # well under the limit
        status = ask(broken, "track the shape")
        assert "Cannot answer" in status and "broken.mp4: cannot be decoded" in status
        assert "Traceback" not in browser.page_source
        browser.save_screenshot(str(shots / "3-broken-file.png"))

        # 4. an oversize file (limit 1 MB here): refused with a message on the page before it is stored
        import numpy as np
        from PIL import Image

        big = tmp_path / "big.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (900, 900, 3), dtype=np.uint8)).save(big)
        assert big.stat().st_size > 2**20
        css("#upload button[aria-label=Clear]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#upload input[type=file]"))
        css("#upload input[type=file]").send_keys(str(big))
        wait.until(lambda d: "exceed the maximum allowed size" in d.find_element(By.TAG_NAME, "body").text)
        assert "big.png" in browser.find_element(By.TAG_NAME, "body").text
        browser.save_screenshot(str(shots / "4-oversize-file.png"))
    except Exception:
        browser.save_screenshot(str(shots / "failure.png"))
        raise
    finally:
        app.close()
        print(f"\ndemo screenshots: {shots}")


def test_demo_command_refuses_a_missing_model_folder(tmp_path):
    pytest.importorskip("gradio", reason="the demo extra is not installed")
    from typer.testing import CliRunner

    from onethinker.cli import app

    result = CliRunner().invoke(app, ["demo", "--model", str(tmp_path / "nowhere"), "--port", "0"])
    assert result.exit_code == 2 and "does not exist" in result.output
