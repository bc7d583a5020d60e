"""Opening a picture in the widget: background inversion, streamed frames, progress, stop, undo."""

from __future__ import annotations

import datetime
import io
import threading

import numpy as np
import pytest
from conftest import small_stylegan2
from PIL import Image
from recording_comm import recording_comm, send_msg  # noqa: F401

from dragwidget.datasets.faces import render_face
from dragwidget.drag import DragBusyError
from dragwidget.widget import DragWidget

pytestmark = pytest.mark.usefixtures("recording_comm")

FAST = {"steps": 6, "tuning_steps": 6, "tuning_lr": 1e-2}


@pytest.fixture
def w():
    widget = DragWidget(small_stylegan2(32), seed=1, device="cpu")
    yield widget
    widget.close()


@pytest.fixture(scope="module")
def face():
    return Image.fromarray(render_face(90_002, 48)[0])


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_open_image_inverts_in_the_background_with_frames_and_progress(w, face):
    def front(data, buffers):  # a front end that draws each frame and acks it
        content = data.get("content", {}) if data.get("method") == "custom" else {}
        if content.get("type") == "frame":
            threading.Timer(
                0.001, send_msg, (w.canvas, {"type": "ack", "id": content["id"]})
            ).start()

    w.canvas.comm.on_send = front
    seed_image = w.session.image()
    w.add_point((5, 5), (9, 5))
    inversion = w.open_image(face, **FAST)
    assert w.running and w.canvas.running
    with pytest.raises(DragBusyError):
        w.open_image(face, **FAST)
    with pytest.raises(DragBusyError):
        w.start()  # no drag while inverting
    result = w.wait(timeout=120)
    assert result is not None and not result.stopped and result.steps == inversion.total_steps
    frames = w.canvas.comm.frames()
    jpegs = [(c, d) for c, d in frames if c["format"] == "jpeg"]
    steps = [c["step"] for c, _ in jpegs]  # unacked frames are replaced, not queued
    assert len(jpegs) >= 2 and steps[0] == 1 and steps == sorted(steps)
    assert not np.array_equal(decode(jpegs[0][1]), decode(jpegs[-1][1]))  # it sharpened
    assert frames[-1][0]["final"] is True
    assert np.array_equal(decode(w.canvas.image), result.image())
    assert w.controls.progress.value == w.controls.progress.max == 12
    assert "dB PSNR" in w.status and not w.running and not w.canvas.running
    history = w.session.history
    assert history[-1].kind == "picture" and w.session.seed is None and w.points == []
    assert w.undo() and np.array_equal(decode(w.canvas.image), seed_image)
    assert w.points == [((5.0, 5.0), (9.0, 5.0))]


def test_stop_ends_the_inversion_with_the_best_so_far(w, face):
    sent = []

    def front(data, buffers):
        content = data.get("content", {}) if data.get("method") == "custom" else {}
        if content.get("type") == "frame":
            sent.append(content["step"])
            if len(sent) == 1:
                w.stop()  # at the first frame: in the projection, well before the tuning

    w.canvas.comm.on_send = front
    w.open_image(face, steps=100, tuning_steps=100)
    result = w.wait(timeout=120)
    assert result.stopped and result.steps < 100 and result.tuning is None
    assert "stopped early" in w.status
    assert w.session.history[-1].kind == "picture"
    assert np.array_equal(w.session.image(), result.image())


def test_a_bad_picture_is_refused_with_a_message(w, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        w.open_image(empty)
    assert "empty" in w.error and not w.running


def test_the_open_image_panel_previews_the_fit_and_inverts(w, tmp_path):
    panel = w.controls.open_image
    assert panel.invert.disabled and panel.preview.layout.display == "none"
    panel.path.value = str(tmp_path / "missing.png")
    panel.open_path.click()
    assert "no such file" in w.error and panel.invert.disabled

    landscape = Image.fromarray(render_face(90_003, 64)[0]).resize((96, 48))
    data = io.BytesIO()
    landscape.save(data, format="PNG")
    panel.upload.value = (
        {
            "name": "wide.png", "type": "image/png", "size": len(data.getvalue()),
            "content": memoryview(data.getvalue()),
            "last_modified": datetime.datetime.now(datetime.timezone.utc),
        },
    )  # fmt: skip
    assert w.error == "" and panel.picture.size == (96, 48)
    preview = Image.open(io.BytesIO(panel.preview.value))
    assert preview.size == (96, 48) and panel.preview.layout.display is None
    assert not panel.crop_position.disabled and not panel.invert.disabled
    panel.fit.value = "pad"
    assert Image.open(io.BytesIO(panel.preview.value)).size == (96, 96)
    assert panel.crop_position.disabled

    panel.fit.value = "crop"
    panel.crop_position.value = 0.0
    original = w._session  # noqa: SLF001  (the panel drives the same session)
    panel.invert.click()
    w.stop()  # the settings were passed on; the whole inversion is tested above
    result = w.wait(timeout=120)
    assert result.stopped and result.picture.fit == "crop"
    assert result.picture.box == (0.0, 0.0, 48.0, 48.0)
    assert w.session is original and w.session.history[-1].kind == "picture"


def test_from_image_without_waiting_returns_at_once_and_inverts(face):
    widget = DragWidget.from_image(
        face, small_stylegan2(32), device="cpu", wait=False, step_size=0.01, **FAST
    )
    try:
        assert widget.session.settings.step_size == 0.01
        result = widget.wait(timeout=120)
        assert widget.session.seed is None and result.tuning is widget.session.tuning
    finally:
        widget.close()
