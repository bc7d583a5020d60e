"""The front end (dragwidget/static/widget.js) in headless Chromium, against a fake anywidget model.

The page imports the built ES module and renders it with a JS stand-in for the model that records
every set / save_changes / send, so each test checks what the kernel would receive.
"""

import base64
import io
import os
from pathlib import Path

import pytest
from jupyter_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

WIDGET_JS = Path(__file__).resolve().parents[1] / "dragwidget" / "static" / "widget.js"
ORIGIN = "http://dw.test"
SCREENSHOT = Path("/tmp/dw_frontend.png")

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)
if not WIDGET_JS.exists():
    pytest.skip(f"{WIDGET_JS} is missing (cd js && npm run build)", allow_module_level=True)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<style>body { margin: 0; padding: 16px; background: white; } #cell { width: 800px; }</style>
</head><body><div id="cell"></div>
<script type="module">
import widget from "/widget.js";

class FakeModel {
  constructor(attrs) {
    this.attrs = { ...attrs };
    this.handlers = {};
    this.sets = [];
    this.saves = 0;
    this.sent = [];
  }
  get(name) { return this.attrs[name]; }
  set(name, value) {
    this.attrs[name] = value;
    this.sets.push([name, JSON.parse(JSON.stringify(value))]);
    this.fire("change:" + name);
  }
  save_changes() { this.saves += 1; }
  on(name, fn) { (this.handlers[name] ??= []).push(fn); }
  off(name, fn) { this.handlers[name] = (this.handlers[name] ?? []).filter((f) => f !== fn); }
  send(content, callbacks, buffers) {
    const bufs = (buffers ?? []).map((b) => ({
      isArrayBuffer: b instanceof ArrayBuffer,
      byteLength: b.byteLength,
      int16: b.byteLength % 2 === 0 ? Array.from(new Int16Array(b.buffer ?? b)) : null,
    }));
    this.sent.push({ content: JSON.parse(JSON.stringify(content)), buffers: bufs });
  }
  fire(name, ...args) { for (const fn of this.handlers[name] ?? []) fn(...args); }
  // What the kernel does: change a trait, or send a custom message with binary buffers.
  kernelSet(name, value) { this.attrs[name] = value; this.fire("change:" + name); }
  kernelSend(msg, buffers) { this.fire("msg:custom", msg, buffers); }
}

const fromB64 = (s) => {
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new DataView(bytes.buffer);
};
window.fromB64 = fromB64;

window.mount = (attrs, cellWidth) => {
  const cell = document.getElementById("cell");
  cell.style.width = cellWidth + "px";
  const a = { ...attrs };
  for (const k of ["image", "mask"]) if (typeof a[k] === "string") a[k] = fromB64(a[k]);
  window.model = new FakeModel(a);
  window.cleanup = widget.render({ model: window.model, el: cell });
};
// The canvas beside a 24em control panel in a wrapping row, as ipywidgets' HBox lays them out.
window.mountBesidePanel = (attrs) => {
  document.getElementById("cell").innerHTML =
    '<div id="row" style="display: flex; flex-flow: row wrap; width: 1100px">' +
    '<div id="canvas-cell"></div><div id="panel" style="width: 24em; height: 300px"></div></div>';
  const a = { ...attrs };
  for (const k of ["image", "mask"]) if (typeof a[k] === "string") a[k] = fromB64(a[k]);
  window.model = new FakeModel(a);
  const el = document.getElementById("canvas-cell");
  window.cleanup = widget.render({ model: window.model, el });
};
window.pixel = (selector, x, y) =>
  Array.from(document.querySelector(selector).getContext("2d").getImageData(x, y, 1, 1).data);
window.keysSeenByDocument = 0;
const MODIFIERS = ["Control", "Shift", "Alt", "Meta"];
document.addEventListener("keydown", (e) => {
  if (!MODIFIERS.includes(e.key)) window.keysSeenByDocument += 1;
});
window.harnessReady = true;
</script></body></html>"""


def encode(img, fmt):
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=95) if fmt == "JPEG" else img.save(buf, format=fmt)
    return base64.b64encode(buf.getvalue()).decode()


def solid(colour, size=(256, 256), fmt="PNG"):
    return encode(Image.new("RGB", size, colour), fmt)


def scene_image(size=256):
    """A small picture with shapes, for the screenshot."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size] / size
    sky = np.stack([0.45 + 0.3 * yy, 0.65 + 0.2 * yy, 0.95 - 0.1 * yy], -1)
    grass = np.stack([0.35 - 0.1 * yy, 0.6 - 0.2 * yy, 0.3 + 0 * yy], -1)
    img = np.where((yy > 0.68)[..., None], grass, sky)
    sun = (xx - 0.3) ** 2 + (yy - 0.3) ** 2 < 0.012
    img[sun] = [1.0, 0.85, 0.35]
    hill = (xx - 0.7) ** 2 / 0.09 + (yy - 0.75) ** 2 / 0.05 < 1
    img[hill] = [0.3, 0.5, 0.25]
    return encode(Image.fromarray((img * 255).clip(0, 255).astype("uint8")), "PNG")


BASE_ATTRS = {
    "width": 256,
    "height": 256,
    "points": [],
    "mode": "point",
    "brush_radius": 8,
    "show_mask": False,
    "mask": b"",
    "running": False,
    "status": "",
    "error": "",
}


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    yield from open_page(browser)


@pytest.fixture
def hidpi_page(browser):
    yield from open_page(browser, device_scale_factor=2)


def open_page(browser, **options):
    pg = browser.new_page(viewport={"width": 900, "height": 760}, **options)
    js = WIDGET_JS.read_text()
    pg.route(f"{ORIGIN}/", lambda r: r.fulfill(body=PAGE, content_type="text/html"))
    pg.route(f"{ORIGIN}/widget.js", lambda r: r.fulfill(body=js, content_type="text/javascript"))
    pg.goto(f"{ORIGIN}/")
    pg.wait_for_function("window.harnessReady === true")
    yield pg
    pg.close()


def mount(page, cell_width=800, **attrs):
    a = {**BASE_ATTRS, "image": solid((128, 128, 128)), **attrs}
    a["mask"] = base64.b64encode(a["mask"]).decode() if isinstance(a["mask"], bytes) else a["mask"]
    page.evaluate("([a, w]) => mount(a, w)", [a, cell_width])
    page.wait_for_function("pixel('.dw-image', 0, 0)[3] === 255")
    box = page.locator(".dw-overlay").bounding_box()
    scale = box["width"] / a["width"]
    return box, scale


def at(box, scale, x, y):
    """Viewport position of image pixel (x, y) (pixel centres at integers)."""
    return box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale


def attr(page, name):
    return page.evaluate(f"model.attrs[{name!r}]")


def settle(page):
    """Wait until the overlay, redrawn on the next animation frame, has been painted."""
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def wait_for_ack(page, frame_id):
    page.wait_for_function(
        f"model.sent.some(m => m.content.type === 'ack' && m.content.id === {frame_id})"
    )


def sent(page, type_=None):
    msgs = page.evaluate("model.sent")
    return [m for m in msgs if type_ is None or m["content"]["type"] == type_]


def test_clicks_place_handle_then_target_on_a_scaled_canvas(page):
    box, scale = mount(page)
    assert scale == 2  # 256 px image, shown at 512 css px, crisp
    assert "dw-pixelated" in page.get_attribute(".dw-image", "class")
    assert [m["content"] for m in sent(page, "ready")] == [{"type": "ready"}]

    page.mouse.click(box["x"] + 101, box["y"] + 61)  # middle of pixel (50, 30)
    assert attr(page, "points") == [{"handle": [50, 30], "target": None}]
    page.mouse.click(*at(box, scale, 120, 90))
    assert attr(page, "points") == [{"handle": [50, 30], "target": [120, 90]}]
    page.mouse.click(*at(box, scale, 10, 200))
    assert attr(page, "points")[1] == {"handle": [10, 200], "target": None}
    assert page.evaluate("model.saves") == 3


def test_click_mapping_on_a_fractional_scale(page):
    image = solid((90, 90, 90), (128, 96))
    box, scale = mount(page, cell_width=200, width=128, height=96, image=image)
    assert 1 < scale < 2 and box["width"] == pytest.approx(196, abs=0.5)
    page.mouse.click(box["x"] + 50, box["y"] + 30)
    (p,) = attr(page, "points")
    assert p["handle"] == pytest.approx([50 / scale - 0.5, 30 / scale - 0.5], abs=0.02)
    page.mouse.click(box["x"] + box["width"] - 1, box["y"] + box["height"] - 1)
    assert attr(page, "points")[0]["target"] == pytest.approx([127, 95], abs=0.5)


def test_high_dpi_overlay_is_sharp_and_clicks_map_the_same(hidpi_page):
    page = hidpi_page
    box, scale = mount(page, points=[{"handle": [50, 50], "target": None}])
    assert page.evaluate("document.querySelector('.dw-overlay').width") == 1024  # 512 css px x 2
    page.mouse.click(*at(box, scale, 120, 90))
    assert attr(page, "points") == [{"handle": [50, 50], "target": [120, 90]}]
    settle(page)
    r, g, b, a = page.evaluate("pixel('.dw-overlay', 2 * 101, 2 * 101)")  # the handle at (50, 50)
    assert r > 200 and g < 100 and a == 255


def test_dragging_an_existing_point_moves_it(page):
    box, scale = mount(page, points=[{"handle": [50, 50], "target": [100, 80]}])
    page.mouse.move(*at(box, scale, 100, 80))
    page.mouse.down()
    page.mouse.move(*at(box, scale, 140, 120), steps=6)
    page.mouse.up()
    assert attr(page, "points") == [{"handle": [50, 50], "target": [140, 120]}]
    assert [s[0] for s in page.evaluate("model.sets")] == ["points"]  # one edit for the whole drag


def test_a_click_on_a_point_without_moving_changes_nothing(page):
    box, scale = mount(page, points=[{"handle": [50, 50], "target": [100, 80]}])
    page.mouse.click(*at(box, scale, 50, 50))
    assert page.evaluate("model.sets") == []


def test_right_click_and_alt_click_remove_a_pair(page):
    pts = [{"handle": [20, 20], "target": [60, 20]}, {"handle": [20, 150], "target": [60, 150]}]
    box, scale = mount(page, points=pts)
    page.mouse.click(*at(box, scale, 60, 20), button="right")
    assert attr(page, "points") == pts[1:]
    page.keyboard.down("Alt")
    page.mouse.click(*at(box, scale, 20, 150))
    page.keyboard.up("Alt")
    assert attr(page, "points") == []
    page.mouse.click(*at(box, scale, 200, 200), button="right")  # nothing there: no change
    assert len(page.evaluate("model.sets")) == 2


@pytest.fixture
def touch_page(browser):
    yield from open_page(browser, has_touch=True)


def touch(cdp, kind, xy=None):
    """A real touch through the DevTools protocol: Chromium makes touch pointer events of it."""
    points = [] if kind == "touchEnd" else [{"x": xy[0], "y": xy[1]}]
    cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})


def test_a_long_press_removes_a_pair_and_a_short_one_or_a_drag_does_not(touch_page):
    page = touch_page
    pts = [{"handle": [20, 20], "target": [60, 20]}, {"handle": [20, 150], "target": [60, 150]}]
    box, scale = mount(page, points=pts)
    cdp = page.context.new_cdp_session(page)
    touch(cdp, "touchStart", at(box, scale, 60, 20))  # a tap: nothing changes
    touch(cdp, "touchEnd")
    page.wait_for_timeout(800)
    assert attr(page, "points") == pts
    touch(cdp, "touchStart", at(box, scale, 20, 150))  # held: the second pair goes,
    touch(cdp, "touchMove", at(box, scale, 22, 152))  # even though the finger wanders a little
    page.wait_for_timeout(800)
    assert attr(page, "points") == pts[:1]
    touch(cdp, "touchEnd")
    touch(cdp, "touchStart", at(box, scale, 60, 20))  # pressed and dragged at once: a move
    touch(cdp, "touchMove", at(box, scale, 90, 40))
    page.wait_for_timeout(800)
    touch(cdp, "touchEnd")
    assert attr(page, "points") == [{"handle": [20, 20], "target": [90, 40]}]
    assert len(page.evaluate("model.sets")) == 2


def test_the_hint_names_every_way_to_remove_and_breaks_only_between_parts(page):
    mount(page, cell_width=300, points=[{"handle": [20, 20], "target": [60, 20]}])
    text = page.inner_text(".dw-status")
    assert "right-click\u00a0or\u00a0long-press\u00a0removes" in text
    assert " · " in text and "Space\u00a0starts" in text


def test_a_held_mouse_button_on_a_point_never_removes_it(page):
    pts = [{"handle": [20, 20], "target": [60, 20]}]
    box, scale = mount(page, points=pts)
    page.mouse.move(*at(box, scale, 60, 20))
    page.mouse.down()
    page.wait_for_timeout(800)
    page.mouse.up()
    assert attr(page, "points") == pts and page.evaluate("model.sets") == []


def test_brush_stroke_sends_one_int16_message_along_the_path(page):
    box, scale = mount(page, mode="flexible", brush_radius=5, show_mask=True)
    page.mouse.move(*at(box, scale, 20, 50))
    page.mouse.down()
    page.mouse.move(*at(box, scale, 150, 50), steps=12)
    page.mouse.up()
    (msg,) = sent(page, "stroke")
    assert msg["content"] == {"type": "stroke", "mode": "flexible", "radius": 5}
    (buf,) = msg["buffers"]
    xy = buf["int16"]
    assert buf["isArrayBuffer"] and len(xy) % 2 == 0 and len(xy) >= 4
    xs, ys = xy[0::2], xy[1::2]
    assert set(ys) == {50}
    assert xs[0] == 20 and xs[-1] == 150 and xs == sorted(xs)
    assert page.evaluate("model.sets") == []  # no trait edit: the kernel answers with the mask
    # drawn locally right away: the overlay is tinted green where the stroke went
    settle(page)
    r, g, b, a = page.evaluate("pixel('.dw-overlay', 161, 101)")  # image (80, 50)
    assert a > 0 and g > r and g > b


def test_mask_trait_is_tinted_when_shown(page):
    mask = bytes([1] * (256 * 128) + [2] * (256 * 128))  # top half flexible, bottom half fixed
    box, scale = mount(page, mask=mask, show_mask=True)
    settle(page)
    top = page.evaluate("pixel('.dw-overlay', 100, 100)")
    assert top[1] > top[0] and top[3] > 0  # green-ish
    stripes = [page.evaluate(f"pixel('.dw-overlay', {x}, 400)") for x in range(100, 110)]
    assert all(p[3] > 0 for p in stripes)  # a grey hatch: dark and light stripes
    assert max(sum(p[:3]) for p in stripes) - min(sum(p[:3]) for p in stripes) > 150
    page.evaluate("model.kernelSet('show_mask', false)")
    settle(page)
    assert page.evaluate("pixel('.dw-overlay', 100, 100)")[3] == 0


def test_keyboard_shortcuts_send_commands_and_stay_in_the_widget(page):
    mount(page)
    page.focus(".dw-root")
    page.keyboard.press("Space")
    page.evaluate("model.kernelSet('running', true)")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+Shift+Z")
    page.keyboard.press("Control+y")
    page.keyboard.press("Meta+z")
    page.keyboard.press("Delete")
    page.keyboard.press("Shift+Delete")
    names = [m["content"]["name"] for m in sent(page, "command")]
    assert names == ["start", "stop", "undo", "redo", "redo", "undo", "reset_points", "reset_mask"]

    modes = []
    for key in ["b", "f", "e", "p"]:
        page.keyboard.press(key)
        modes.append(attr(page, "mode"))
    assert modes == ["flexible", "fixed", "erase", "point"]
    show = attr(page, "show_mask")  # a brush turned the tint on
    page.keyboard.press("m")
    assert show is True and attr(page, "show_mask") is False
    page.keyboard.press("]")
    assert attr(page, "brush_radius") == 9
    assert page.evaluate("keysSeenByDocument") == 0  # the notebook saw none of them


def test_toolbar_sets_mode_radius_and_show_mask(page):
    mount(page)
    page.click(".dw-mode-fixed")
    assert attr(page, "mode") == "fixed" and attr(page, "show_mask") is True
    assert "dw-active" in page.get_attribute(".dw-mode-fixed", "class")
    page.fill(".dw-radius-input", "20")
    assert attr(page, "brush_radius") == 20
    page.click(".dw-show-mask input")
    assert attr(page, "show_mask") is False
    page.evaluate("model.kernelSet('mode', 'erase')")
    assert "dw-active" in page.get_attribute(".dw-mode-erase", "class")
    page.click(".dw-mode-point")
    page.keyboard.press("Space")  # starts the drag, does not press the button again
    assert [m["content"]["name"] for m in sent(page, "command")] == ["start"]
    assert attr(page, "mode") == "point"


def test_frames_are_drawn_and_acknowledged(page):
    box, scale = mount(page, points=[{"handle": [50, 50], "target": [100, 50]}])
    assert page.evaluate("pixel('.dw-image', 10, 10)")[:3] == [128, 128, 128]  # the image trait

    def frame(id_, colour, fmt, step, hx, final=False):
        b64 = solid(colour, fmt=fmt.upper())
        msg = {
            "type": "frame",
            "id": id_,
            "format": fmt,
            "step": step,
            "handles": [[hx, 50]],
            "targets": [[100, 50]],
            "distances": [100 - hx],
            "final": final,
        }
        page.evaluate("([m, b]) => model.kernelSend(m, [fromB64(b)])", [msg, b64])
        wait_for_ack(page, id_)

    frame(7, (200, 30, 60), "png", 1, 60)
    assert page.evaluate("pixel('.dw-image', 10, 10)") == [200, 30, 60, 255]
    frame(8, (20, 120, 220), "jpeg", 2, 70)
    jpeg = page.evaluate("pixel('.dw-image', 128, 128)")
    assert all(abs(a - b) <= 6 for a, b in zip(jpeg, [20, 120, 220, 255], strict=True))
    frame(9, (20, 120, 220), "jpeg", 3, 80, final=True)
    acks = [m["content"] for m in sent(page, "ack")]
    assert acks == [{"type": "ack", "id": 7}, {"type": "ack", "id": 8}, {"type": "ack", "id": 9}]
    status = page.inner_text(".dw-status-frame").replace("\u00a0", " ")
    assert "step 3" in status and "mean distance 20.0 px" in status and "fps" in status
    page.evaluate("model.kernelSet('status', 'step 3 · mean distance 20.0 px')")
    assert page.inner_text(".dw-status-kernel") == ""  # the frame's own numbers say it already
    # the handle is drawn where the frame says it is (80, 50), not at the trait's (50, 50)
    settle(page)
    hx, hy = (80 + 0.5) * scale, (50 + 0.5) * scale
    r, g, b, a = page.evaluate(f"pixel('.dw-overlay', {int(hx)}, {int(hy)})")
    assert r > 200 and g < 100 and b < 100


def test_a_bad_frame_is_still_acknowledged(page):
    mount(page)
    page.evaluate(
        "model.kernelSend({type: 'frame', id: 3, format: 'png', step: 1, handles: []}, "
        "[new DataView(new Uint8Array([1, 2, 3]).buffer)])"
    )
    wait_for_ack(page, 3)
    assert "Could not show" in page.inner_text(".dw-status-error")


def test_error_trait_shows_red_in_the_status_line(page):
    mount(page, status="step 12 · mean distance 4.1 px")
    assert "step 12" in page.inner_text(".dw-status")
    page.evaluate("model.kernelSet('error', 'The checkpoint could not be read.')")
    err = page.locator(".dw-status-error")
    assert err.inner_text() == "The checkpoint could not be read."
    r, g, b = [
        int(v) for v in err.evaluate("e => getComputedStyle(e).color").strip("rgb()").split(",")
    ]
    assert r > 150 and g < 80 and b < 80
    page.evaluate("model.kernelSet('error', '')")
    assert not err.is_visible()


def test_a_long_error_wraps_inside_the_widget_and_the_panel_stays_beside_it(page):
    attrs = {**BASE_ATTRS, "image": solid((128, 128, 128))}
    page.evaluate("(a) => mountBesidePanel(a)", attrs)
    page.wait_for_function("pixel('.dw-image', 0, 0)[3] === 255")
    root, panel = page.locator(".dw-root"), page.locator("#panel")
    before = root.bounding_box(), panel.bounding_box()
    assert before[1]["y"] == before[0]["y"]  # side by side
    message = "max_steps must be an integer in [1, 100000], not '" + "x" * 300 + "'"
    page.evaluate(f"model.kernelSet('error', {message!r})")
    settle(page)
    after = root.bounding_box(), panel.bounding_box()
    assert after[1] == before[1]  # the panel did not move
    assert after[0]["width"] == before[0]["width"] and after[0]["height"] > before[0]["height"]
    assert page.locator(".dw-status-error").inner_text().replace("\n", "") == message


def test_cleanup_removes_listeners_and_dom(page):
    mount(page)
    page.evaluate("cleanup()")
    left = page.evaluate("Object.values(model.handlers).reduce((n, fns) => n + fns.length, 0)")
    assert left == 0 and page.locator(".dw-root").count() == 0


def test_screenshot(page):
    w = h = 256
    mask = bytearray(w * h)
    for y in range(60, 200):
        for x in range(120, 240):
            if (x - 180) ** 2 / 60**2 + (y - 130) ** 2 / 70**2 < 1:
                mask[y * w + x] = 1
    for y in range(200, 256):
        mask[y * w : (y + 1) * w] = b"\x02" * w
    points = [
        {"handle": [180, 150], "target": [150, 110]},
        {"handle": [77, 77], "target": [110, 60]},
        {"handle": [220, 60], "target": None},
    ]
    scene = scene_image()
    mount(
        page,
        image=scene,
        mask=bytes(mask),
        show_mask=True,
        points=points,
        mode="flexible",
        status="running · 8 steps",
    )
    for step in range(1, 9):  # a drag in progress: handle 0 walks towards its target
        hx, hy = 180 - 3 * step + (step % 2), 150 - 4 * step
        msg = {
            "type": "frame",
            "id": step,
            "format": "png",
            "step": step,
            "handles": [[hx, hy], [77 + step, 77 - step]],
            "targets": [[150, 110], [110, 60]],
            "distances": [abs(hy - 110) * 1.25, 30.0 - step],
            "final": step == 8,
        }
        page.evaluate("([m, b]) => model.kernelSend(m, [fromB64(b)])", [msg, scene])
        wait_for_ack(page, step)
        page.wait_for_timeout(30)
    box = page.locator(".dw-overlay").bounding_box()
    page.mouse.move(box["x"] + 200, box["y"] + 300)  # the brush cursor
    settle(page)
    page.locator(".dw-root").screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    # narrow cell, point mode, an error: the toolbar wraps, the image shrinks
    page.evaluate(
        "model.kernelSet('mode', 'point'); model.kernelSet('error', 'CUDA out of memory: "
        "try a smaller model'); document.getElementById('cell').style.width = '330px'"
    )
    page.mouse.move(box["x"] + 60, box["y"] + 240)
    settle(page)
    page.locator(".dw-root").screenshot(path=str(SCREENSHOT.with_name("dw_frontend_narrow.png")))
