"""The portable panel's front end (dragwidget/static/panel.js) in headless Chromium, against a fake
anywidget model holding what PortablePanel describes: what the page sends for a chosen file, a
toggle and a picture, and what it refuses to send."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import pytest
from jupyter_browser import CHROMIUM, CHROMIUM_ARGS
from PIL import Image
from recording_comm import recording_comm  # noqa: F401
from toygen import BlobGenerator

from dragwidget.widget import DragWidget
from dragwidget.widget.portable import PortablePanel

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("recording_comm")]

PANEL_JS = Path(__file__).resolve().parents[1] / "dragwidget" / "static" / "panel.js"
ORIGIN = "http://dwp.test"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"></head><body><div id="cell"></div>
<script type="module">
import panel from "/panel.js";

class FakeModel {
  constructor(attrs) { this.attrs = attrs; this.handlers = {}; this.sent = []; }
  get(name) { return this.attrs[name]; }
  on(name, fn) { (this.handlers[name] ??= []).push(fn); }
  off(name, fn) { this.handlers[name] = (this.handlers[name] ?? []).filter((f) => f !== fn); }
  send(content, callbacks, buffers) {
    const bytes = (b) => Array.from(new Uint8Array(b.buffer ?? b, b.byteOffset ?? 0, b.byteLength));
    this.sent.push({ content, buffers: (buffers ?? []).map(bytes) });
  }
  kernelSet(name, value) {
    this.attrs[name] = value;
    for (const fn of this.handlers["change:" + name] ?? []) fn();
  }
}
const fromB64 = (s) => new DataView(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer);
window.mount = (controls, images) => {
  const pictures = Object.fromEntries(Object.entries(images).map(([k, v]) => [k, fromB64(v)]));
  window.model = new FakeModel({ controls, images: pictures });
  panel.render({ model: window.model, el: document.getElementById("cell") });
};
window.showImages = (images) => window.model.kernelSet(
  "images", Object.fromEntries(Object.entries(images).map(([k, v]) => [k, fromB64(v)])));
window.harnessReady = true;
</script></body></html>"""

LIMIT = 3 * 1024  # bytes the page may send in these tests


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 600, "height": 900})
    js = PANEL_JS.read_text()
    pg.route(f"{ORIGIN}/", lambda r: r.fulfill(body=PAGE, content_type="text/html"))
    pg.route(f"{ORIGIN}/panel.js", lambda r: r.fulfill(body=js, content_type="text/javascript"))
    pg.goto(f"{ORIGIN}/")
    pg.wait_for_function("window.harnessReady === true")
    yield pg
    pg.close()


@pytest.fixture
def w():
    widget = DragWidget(BlobGenerator(64), seed=1)
    yield widget
    widget.close()


@pytest.fixture
def panel(w):
    return PortablePanel(w.controls, max_upload_bytes=LIMIT)


def b64(images: dict[str, bytes]) -> dict[str, str]:
    return {k: base64.b64encode(v).decode() for k, v in images.items()}


def png(width: int, height: int) -> bytes:
    data = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(data, format="PNG")
    return data.getvalue()


def leaf(panel: PortablePanel, kind: str, **match) -> dict:
    def leaves(node: dict) -> list[dict]:
        if "children" in node:
            return [x for child in node["children"] for x in leaves(child)]
        return [node]

    (found,) = [
        c
        for c in leaves(panel.controls)
        if c["kind"] == kind and all(c.get(k) == v for k, v in match.items())
    ]
    return found


def choose(page, path: Path) -> None:
    with page.expect_file_chooser() as chooser:
        page.locator(".dwp-upload button").click()
    chooser.value.set_files(str(path))


def test_a_chosen_file_is_sent_with_its_bytes_and_a_too_big_one_is_not(page, panel, tmp_path):
    page.evaluate("([c, i]) => mount(c, i)", [panel.controls, b64(panel.images)])
    page.locator("summary", has_text="Open image").click()
    upload_id = leaf(panel, "upload")["id"]

    big = tmp_path / "big.png"
    big.write_bytes(bytes(5 * 1024))
    choose(page, big)
    note = page.locator(".dwp-upload .dwp-note")
    note.filter(has_text="big.png is").wait_for()
    assert note.inner_text() == "big.png is 5 KB; files up to 3 KB can be opened"
    assert page.evaluate("model.sent") == []

    small = tmp_path / "small.png"
    small.write_bytes(bytes(range(256)) * 4)
    choose(page, small)
    page.wait_for_function("model.sent.length === 1")
    (message,) = page.evaluate("model.sent")
    assert message["content"]["type"] == "upload" and message["content"]["id"] == upload_id
    (meta,) = message["content"]["files"]
    assert meta["name"] == "small.png" and meta["size"] == 1024
    assert isinstance(meta["last_modified"], (int, float))
    assert message["buffers"] == [list(range(256)) * 4] and note.inner_text() == ""


def test_toggles_send_the_option_and_the_preview_shows_the_kernels_picture(page, w, panel):
    page.evaluate("([c, i]) => mount(c, i)", [panel.controls, b64(panel.images)])
    page.locator("summary", has_text="Open image").click()
    preview = page.locator("img.dwp-image")
    assert not preview.is_visible()  # hidden, as its layout says, and without a picture

    pad = page.locator(".dwp-toggles button", has_text="Pad")
    crop = page.locator(".dwp-toggles button", has_text="Crop")
    assert crop.get_attribute("aria-pressed") == "true"
    pad.click()
    (message,) = page.evaluate("model.sent")
    assert message["content"] == {
        "type": "set",
        "value": 1,
        "id": leaf(panel, "choice", look="buttons")["id"],
    }

    # What the kernel sends when a picture is chosen: the preview shown, then its bytes.
    opening = w.controls.open_image
    opening.preview.value = png(30, 20)
    opening.preview.layout.display = None
    page.evaluate("c => model.kernelSet('controls', c)", panel.controls)
    page.evaluate("i => showImages(i)", b64(panel.images))
    natural = "i => i.complete ? [i.naturalWidth, i.naturalHeight] : null"
    page.wait_for_function(f"({natural})(document.querySelector('img.dwp-image'))?.[0] === 30")
    assert preview.is_visible() and preview.evaluate(natural) == [30, 20]
    opening.preview.value = png(40, 40)
    page.evaluate("i => showImages(i)", b64(panel.images))
    page.wait_for_function(f"({natural})(document.querySelector('img.dwp-image'))?.[0] === 40")
