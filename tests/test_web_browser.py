"""The site's pages in a real browser: headless Chromium (Debian's) driven by Playwright.

Each test walks one page the way a person would and checks what they rely on: the result's
size, the downloaded file, the caption shown literally, the job's progress, the camera's
frames. With FASTNST_SCREENSHOTS=1 the tests also write the README's screenshots to
docs/images/web_*.png (otherwise nothing in the repository is written).
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import ASSETS, ROOT
from tests.web_server import web_server

CHROMIUM = shutil.which("chromium")  # Debian's /usr/bin/chromium
if CHROMIUM is None:
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)",
                allow_module_level=True)
try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
except ImportError:
    pytest.skip("playwright is not installed (pip install -e '.[dev]')", allow_module_level=True)

CHROMIUM_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--no-sandbox"]
VIEWPORT = {"width": 1280, "height": 800}
SHOTS = ROOT / "docs" / "images"
CAPTION = "<script>alert(1)</script> & ok"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One site (with one job worker) for the module; yields its base URL."""
    with web_server(tmp_path_factory.mktemp("web-data"), "--workers", "1") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, base: str) -> Iterator[Page]:
    """A fresh browser profile (own cookies) per test. Fails the test when a page logged an
    error (a script error, a Content-Security-Policy violation) or opened a dialog."""
    context = browser.new_context(base_url=base, viewport=VIEWPORT, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error on {tab.url}: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda err: problems.append(f"script error on {tab.url}: {err}"))
    tab.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                     dialog.dismiss()))
    yield tab
    context.close()
    assert problems == []


def screenshot(page: Page, name: str, full_page: bool = False) -> None:
    """Write docs/images/NAME.png when FASTNST_SCREENSHOTS=1 (the README's pictures), as a
    256-colour PNG: a third of the size of the full-colour one and still sharp for text."""
    if os.environ.get("FASTNST_SCREENSHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    with Image.open(io.BytesIO(page.screenshot(full_page=full_page))) as shot:
        palette = shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    path = SHOTS / f"{name}.png"
    palette.save(path, optimize=True)
    assert path.stat().st_size < 300_000, f"{path} is too large for the README"


def natural_size(page: Page, selector: str) -> tuple[int, int]:
    """The (width, height) in px of a loaded <img>; (0, 0) before it has loaded."""
    size = page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]")
    return int(size[0]), int(size[1])


def wait_for_image(page: Page, selector: str, timeout: float = 30_000) -> tuple[int, int]:
    """Wait until the <img> at selector has loaded a picture; returns its natural size."""
    page.wait_for_function(
        "s => { const img = document.querySelector(s);"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=selector, timeout=timeout)
    return natural_size(page, selector)


def png_size(path: Path) -> tuple[int, int]:
    """The size of a PNG file; fails when the file is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "PNG"
        return picture.size


def test_stylize_download_share_and_delete(page: Page, base: str, tmp_path: Path) -> None:
    """Stylize a sample with the first style at strength 0.6, download the PNG, share it with
    a caption full of markup, see the caption shown as text in the gallery, then delete it."""
    sample_width, sample_height = Image.open(ASSETS / "content" / "chicago.jpg").size
    page.goto("/")
    first_style = page.locator('input[name="style"]').first
    assert first_style.is_checked()
    page.click('button.sample[data-url$="/chicago.jpg"]')
    page.wait_for_function("() => !document.getElementById('stylize-button').disabled")
    page.fill("#strength", "0.6")
    assert page.inner_text("#strength-value") == "0.60"
    page.click("#stylize-button")

    width, height = wait_for_image(page, "#result", timeout=60_000)
    assert (width, height) == (sample_width, sample_height) == (512, 341)
    assert page.inner_text("#status") == "Done."
    assert page.is_hidden("#error")

    with page.expect_download() as info:
        page.click("#download")
    saved = tmp_path / "download.png"
    info.value.save_as(saved)
    assert info.value.suggested_filename == "stylized.png"
    assert png_size(saved) == (width, height)
    # Not the photo itself: strength 0.6 of a style changes the pixels.
    with Image.open(saved) as result:
        original = Image.open(ASSETS / "content" / "chicago.jpg").convert("RGB")
        difference = sum(abs(a - b) for a, b in zip(result.convert("RGB").tobytes(),
                                                     original.tobytes(), strict=True))
        assert difference / (width * height * 3) > 5

    screenshot(page, "web_stylize", full_page=True)
    page.fill("#caption", CAPTION)
    page.click("#share")
    page.wait_for_selector("#gallery-link")
    assert page.inner_text("#share-status").startswith("Shared.")

    listing = httpx.get(f"{base}/api/gallery", timeout=10).json()["items"]
    item = next(entry for entry in listing if entry["caption"] == CAPTION)
    assert item["style"] == first_style.get_attribute("value")

    page.click("#gallery-link")
    page.wait_for_url("**/gallery")
    card = page.locator(f"#item-{item['id']}")
    assert card.locator(".caption").inner_text() == CAPTION
    assert card.locator("script").count() == 0
    assert wait_for_image(page, f"#item-{item['id']} img")[0] > 0
    screenshot(page, "web_gallery")

    card.locator("button.delete-item").click()
    card.wait_for(state="detached")
    listing = httpx.get(f"{base}/api/gallery", timeout=10).json()["items"]
    assert item["id"] not in [entry["id"] for entry in listing]
    assert httpx.get(f"{base}{item['image_url']}", timeout=10).status_code == 404


@pytest.mark.slow
def test_custom_style_job(page: Page, tmp_path: Path) -> None:
    """A 12-step artistic job at 64 px from the custom page: the job page follows it to done
    and offers the 64 px result for download."""
    page.goto("/custom")
    page.set_input_files("#content", str(ASSETS / "content" / "chicago.jpg"))
    page.set_input_files("#style-image", str(ASSETS / "styles" / "candy.jpg"))
    page.fill("#size", "64")
    page.fill("#iterations", "12")
    assert wait_for_image(page, "#content-preview") == (512, 341)
    assert wait_for_image(page, "#style-preview")[0] > 0
    screenshot(page, "web_custom")
    page.click("#submit-job")
    page.wait_for_url("**/jobs/*")
    job_id = page.get_attribute("#job-page", "data-job-id")
    assert job_id and page.url.endswith(f"/jobs/{job_id}")

    page.wait_for_function("() => document.getElementById('job-status').textContent === 'done'",
                           timeout=90_000)
    assert page.eval_on_selector("#job-progress", "p => p.value") == 1
    assert page.inner_text("#job-iteration") == "12 / 12"
    assert page.is_hidden("#job-error")
    assert page.is_hidden("#cancel-job")
    width, height = wait_for_image(page, "#job-result-image")
    assert (width, height) == (64, round(64 * 341 / 512))
    screenshot(page, "web_job")

    with page.expect_download() as info:
        page.click("#job-download")
    saved = tmp_path / "job.png"
    info.value.save_as(saved)
    assert png_size(saved) == (width, height)


def test_live_camera(page: Page) -> None:
    """The fake camera's frames go to the server and come back stylized, at most 384 px."""
    page.goto("/camera")
    frame_side = int(page.get_attribute("#camera-page", "data-frame-side") or 0)
    assert frame_side == 384
    page.click("#camera-start")
    # Read every figure in the same animation frame that sees the third frame arrive.
    stats = page.wait_for_function(
        """() => {
             const frames = parseInt(document.getElementById('camera-frames').textContent, 10);
             const img = document.getElementById('camera-output');
             if (!(frames >= 3 && img.complete && img.naturalWidth > 0)) { return null; }
             return {frames, fps: parseFloat(document.getElementById('camera-fps').textContent),
                     width: img.naturalWidth, height: img.naturalHeight, hidden: img.hidden};
           }""", timeout=60_000).json_value()
    assert stats["frames"] >= 3
    assert stats["fps"] > 0
    assert not stats["hidden"]
    assert 0 < max(stats["width"], stats["height"]) <= frame_side
    assert page.is_hidden("#error")
    assert page.is_enabled("#camera-stop")
    screenshot(page, "web_camera")
    page.click("#camera-stop")
    assert page.is_enabled("#camera-start")


def test_about_and_api_docs(page: Page) -> None:
    """The about page lists the shipped style; /docs shows the API's endpoints (Swagger UI
    served by the site itself, allowed by the page's script hash)."""
    page.goto("/about")
    assert page.inner_text("h1") == "About fastnst"
    assert "starry_night" in page.inner_text("main").lower().replace(" ", "_")
    screenshot(page, "web_about")

    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .opblock")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/api/stylize", "/api/jobs", "/api/gallery"} <= {p.replace("\u200b", "")
                                                          for p in paths}
    screenshot(page, "web_docs")


@pytest.mark.slow
def test_train_a_fast_model_then_stylize_with_it(browser: Browser, tmp_path: Path) -> None:
    """The whole path of a training job on a miniature setting (the debug recipe, 4 steps at
    32 px): upload a painting on the custom page, follow the job page's progress and preview
    to done, then pick the new model on the stylize page and in the camera."""
    # Every preview the job page loads, recorded as it loads (the job may be quick).
    record_previews = """document.addEventListener("load", (event) => {
        if (event.target.id === "job-preview") {
          (window.previews = window.previews || []).push(
            [event.target.naturalWidth, event.target.naturalHeight]);
        }
      }, true);"""
    with web_server(tmp_path / "data", "--workers", "1", "--train-config", "debug",
                    "--train-steps", "4", "--train-size", "32") as url:
        context = browser.new_context(base_url=url, viewport=VIEWPORT)
        context.add_init_script(record_previews)
        page = context.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" else None)
        page.goto("/custom")
        page.set_input_files("#train-style", str(ASSETS / "styles" / "candy.jpg"))
        assert wait_for_image(page, "#train-style-preview")[0] > 0
        page.click("#submit-train")
        page.wait_for_url("**/jobs/*")
        job_id = page.get_attribute("#job-page", "data-job-id")
        page.wait_for_function(
            "() => document.getElementById('job-status').textContent === 'done'",
            timeout=120_000)
        assert page.inner_text("#job-iteration") == "4 / 4"
        assert page.eval_on_selector("#job-progress", "p => p.value") == 1
        assert page.is_visible("#job-kind") and page.is_hidden("#job-error")
        # At least one preview while it ran: the sample photo at 256 px, stylized.
        assert [256, 170] in page.evaluate("() => window.previews || []")
        assert wait_for_image(page, "#job-result-image") == (512, 341)

        page.click("#job-model-link")
        page.wait_for_url(re.compile(rf"/\?style=trained-{job_id}$"))
        choice = page.locator(f'input[name="style"][value="trained-{job_id}"]')
        assert choice.is_checked()
        page.click('button.sample[data-url$="/chicago.jpg"]')
        page.wait_for_function("() => !document.getElementById('stylize-button').disabled")
        page.click("#stylize-button")
        assert wait_for_image(page, "#result", timeout=60_000) == (512, 341)
        assert page.inner_text("#status") == "Done."

        page.goto("/camera")
        page.select_option("#camera-style", f"trained-{job_id}")
        page.click("#camera-start")
        page.wait_for_function(
            "() => parseInt(document.getElementById('camera-frames').textContent, 10) >= 1",
            timeout=60_000)
        assert page.is_hidden("#error")
        page.click("#camera-stop")
        context.close()
        assert errors == []
