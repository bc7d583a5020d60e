"""DragWidget against a recording comm: the protocol, the worker, errors, save and export."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from recording_comm import recording_comm, send_msg, set_from_front  # noqa: F401
from toygen import BlobGenerator

from dragwidget.drag import DragBusyError
from dragwidget.drag.methods import METHODS, PatchDrag
from dragwidget.widget import DragWidget
from dragwidget.widget.frames import FrameStream

pytestmark = pytest.mark.usefixtures("recording_comm")


@pytest.fixture
def w():
    widget = DragWidget(BlobGenerator(64), seed=1, step_size=0.05)
    yield widget
    widget.close()


def comm_of(widget):
    return widget.canvas.comm


def blob(widget):
    return widget.session.generator.blob_centre(widget.session.latent)


def click_pair(widget, handle, target):
    """Two clicks, as the front end makes them: a handle, then its target."""
    points = list(widget.canvas.points)
    set_from_front(widget.canvas, points=points + [{"handle": list(handle), "target": None}])
    set_from_front(
        widget.canvas, points=points + [{"handle": list(handle), "target": list(target)}]
    )


def stroke(widget, mode, radius, xy, dtype="<i2"):
    buf = np.asarray(xy, dtype=dtype).tobytes()
    send_msg(widget.canvas, {"type": "stroke", "mode": mode, "radius": radius}, [memoryview(buf)])


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def snapshot(widget):
    s = widget.session
    return (
        s.points,
        None if s.mask is None else s.mask.copy(),
        s.latent.clone(),
        widget._paint.copy(),
    )


def assert_same(a, b):
    assert a[0] == b[0]
    assert (a[1] is None) == (b[1] is None) and (a[1] is None or np.array_equal(a[1], b[1]))
    assert torch.equal(a[2], b[2])
    assert np.array_equal(a[3], b[3])


# ----- the initial state ----------------------------------------------------------------------


def test_initial_traits_and_layout(w):
    assert (w.canvas.width, w.canvas.height) == (64, 64)
    assert decode(w.canvas.image).size == (64, 64)
    assert w.canvas.points == [] and w.canvas.mask == b""
    assert w.children == (w.canvas, w.controls)
    assert not w.running and w.error == ""


def test_ready_sends_the_current_image_as_a_final_png(w):
    send_msg(w.canvas, {"type": "ready"})
    ((content, data),) = comm_of(w).frames()
    assert content["format"] == "png" and content["final"] is True
    assert decode(data).format == "PNG"
    assert data == w.canvas.image


# ----- points ---------------------------------------------------------------------------------


def test_clicks_make_pairs_in_the_session(w):
    set_from_front(w.canvas, points=[{"handle": [10, 12], "target": None}])
    assert w.session.points == [] and w.error == ""
    set_from_front(w.canvas, points=[{"handle": [10, 12], "target": [30, 12]}])
    assert w.session.points == [((10.0, 12.0), (30.0, 12.0))]
    set_from_front(w.canvas, points=[{"handle": [11, 13], "target": [30, 12]}])  # dragged
    assert w.session.points == [((11.0, 13.0), (30.0, 12.0))]
    set_from_front(w.canvas, points=[])  # right-click removed it
    assert w.session.points == []


@pytest.mark.parametrize(
    "bad",
    [
        [{"handle": [100, 12], "target": None}],
        [{"handle": [10, 12], "target": [-1, 5]}],
        [{"handle": [float("nan"), 12], "target": None}],
        [{"handle": [10], "target": None}],
        [{"target": [10, 10]}],
        ["nonsense"],
    ],
)
def test_bad_points_are_reverted_with_an_error(w, bad):
    w.add_point((20, 20), (30, 30))
    before, trait = snapshot(w), list(w.canvas.points)
    set_from_front(w.canvas, points=bad)
    assert w.error
    assert w.canvas.points == trait
    assert_same(snapshot(w), before)
    # the revert reached the front end
    assert comm_of(w).updates("points")[-1] == trait
    # the next good action clears the error
    set_from_front(w.canvas, points=trait + [{"handle": [5, 5], "target": None}])
    assert w.error == ""


def test_add_point_updates_the_trait_and_keeps_a_pending_handle(w):
    set_from_front(w.canvas, points=[{"handle": [3, 4], "target": None}])
    w.add_point((20, 20), (30, 25))
    assert w.canvas.points == [
        {"handle": [20.0, 20.0], "target": [30.0, 25.0]},
        {"handle": [3.0, 4.0], "target": None},
    ]
    assert w.points == [((20.0, 20.0), (30.0, 25.0))]


def test_scripted_bad_input_raises_and_shows_the_error(w):
    with pytest.raises(ValueError, match="outside"):
        w.add_point((20, 20), (300, 25))
    assert "outside" in w.error and w.session.points == []
    with pytest.raises(ValueError, match="shape"):
        w.mask = np.ones((3, 3), bool)
    with pytest.raises(ValueError, match="max_steps"):
        w.add_point((20, 20), (30, 25))
        w.drag(max_steps=0)
    with pytest.raises(ValueError, match="step_size"):
        w.update_settings(step_size=-1)
    assert not w.running


def test_bad_mode_is_reverted(w):
    set_from_front(w.canvas, mode="lasso")
    assert w.canvas.mode == "point" and "mode" in w.error
    set_from_front(w.canvas, mode="fixed")
    assert w.canvas.mode == "fixed"


# ----- the mask -------------------------------------------------------------------------------


def test_strokes_paint_the_mask(w):
    stroke(w, "flexible", 3, [10, 10, 20, 10])
    paint = np.frombuffer(w.canvas.mask, np.uint8).reshape(64, 64)
    assert paint[10, 10] == 1 and paint[10, 20] == 1 and paint[13, 15] == 1 and paint[14, 15] == 0
    assert paint[10, 24] == 0
    assert np.array_equal(w.session.mask, paint == 1)
    stroke(w, "fixed", 2, [40, 40])
    paint = np.frombuffer(w.canvas.mask, np.uint8).reshape(64, 64)
    assert paint[40, 40] == 2
    assert np.array_equal(w.session.mask, paint == 1)  # flexible painted: only it may change
    stroke(w, "erase", 5, [10, 10, 20, 10])
    assert not (w._paint == 1).any()  # only fixed paint left: all but it may change
    assert np.array_equal(w.session.mask, w._paint != 2)
    stroke(w, "erase", 4, [40, 40])
    assert w.session.mask is None and w.canvas.mask == b""


def test_mask_property_round_trips(w):
    mask = np.zeros((64, 64), bool)
    mask[10:30, 5:20] = True
    w.mask = mask
    assert np.array_equal(w.mask, mask)
    assert np.array_equal(np.frombuffer(w.canvas.mask, np.uint8).reshape(64, 64) == 1, mask)
    w.mask = None
    assert w.mask is None and w.canvas.mask == b""


def test_mask_trait_from_the_front_end_is_checked(w):
    paint = np.zeros((64, 64), np.uint8)
    paint[:, :32] = 2
    set_from_front(w.canvas, mask=paint.tobytes())
    assert np.array_equal(w.session.mask, paint != 2)
    set_from_front(w.canvas, mask=b"\x01\x02")
    assert "bytes" in w.error and np.array_equal(w.session.mask, paint != 2)


@pytest.mark.parametrize(
    "content, buffers",
    [
        ({"type": "dance"}, []),
        ({"no": "type"}, []),
        ({"type": "stroke", "mode": "flexible", "radius": 3}, [b"\x01\x00\x02"]),  # odd length
        ({"type": "stroke", "mode": "flexible", "radius": 3}, [b"\x01\x00\x02\x00\x03\x00"]),
        ({"type": "stroke", "mode": "flexible", "radius": 3}, []),  # no buffer
        ({"type": "stroke", "mode": "flexible", "radius": 3}, [b"\0" * 4, b"\0" * 4]),
        ({"type": "stroke", "mode": "flexible", "radius": 3}, ["10,10"]),  # not binary
        ({"type": "stroke", "mode": "flexible"}, [b"\0" * 4]),  # no radius
        ({"type": "stroke", "radius": 3}, [b"\0" * 4]),  # no mode
        ({"type": "stroke", "mode": "paint", "radius": 3}, [b"\0" * 4]),
        ({"type": "stroke", "mode": "fixed", "radius": float("inf")}, [b"\0" * 4]),
        ({"type": "stroke", "mode": "fixed", "radius": "3"}, [b"\0" * 4]),
        ({"type": "command"}, []),
        ({"type": "command", "name": "explode"}, []),
        ({"type": "ack", "id": "seven"}, []),
    ],
)
def test_malformed_messages_set_error_and_change_nothing(w, content, buffers):
    w.add_point((20, 20), (30, 30))
    stroke(w, "flexible", 3, [30, 30])
    before = snapshot(w)
    comm_of(w).clear()
    send_msg(w.canvas, content, [memoryview(b) if isinstance(b, bytes) else b for b in buffers])
    assert w.error
    assert_same(snapshot(w), before)
    assert comm_of(w).frames() == []
    assert not w.running


def test_int16_strokes_use_little_endian_and_clip_to_the_image(w):
    stroke(w, "fixed", 2, [-10, 60, 70, 60])  # runs off both sides
    paint = w._paint
    assert paint[60, 0] == 2 and paint[60, 63] == 2 and w.error == ""


# ----- dragging -------------------------------------------------------------------------------


def test_a_drag_streams_jpeg_frames_and_ends_with_a_png(w):
    cx, cy = blob(w)
    acks = []

    def front(data, buffers):  # a front end that draws each frame and acks it
        content = data.get("content", {}) if data.get("method") == "custom" else {}
        if content.get("type") == "frame":
            acks.append(content["id"])
            threading.Timer(
                0.001, send_msg, (w.canvas, {"type": "ack", "id": content["id"]})
            ).start()

    comm_of(w).on_send = front
    click_pair(w, (cx, cy), (cx + 8, cy))
    send_msg(w.canvas, {"type": "command", "name": "start"})
    result = w.wait(timeout=60)
    assert result is not None and result.steps > 1
    frames = comm_of(w).frames()
    jpegs = [(c, d) for c, d in frames if c["format"] == "jpeg"]
    assert len(jpegs) >= 2
    for content, data in jpegs:
        assert decode(data).format == "JPEG" and decode(data).size == (64, 64)
        assert content["final"] is False and len(content["handles"]) == 1
        assert content["targets"] == [[cx + 8, cy]]
    last, data = frames[-1]
    assert last["final"] is True and last["format"] == "png" and data == w.canvas.image
    assert [c["id"] for c, _ in frames] == sorted(c["id"] for c, _ in frames)
    # the blob moved toward the target, and the points trait shows the tracked handle
    assert blob(w)[0] - cx > 4
    assert w.canvas.points[0]["handle"][0] > cx + 4
    assert not w.running and not w.canvas.running
    assert "reached the targets" in w.status or "steps" in w.status
    assert len(w.trajectory) == len(jpegs) + 1  # the frames shown (on demand), then the PNG


def test_flow_control_drops_frames_without_acks(w):
    w._stream.ack_timeout = 60  # no view acks: only the first frame may go out
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 10, cy))
    w.start(max_steps=6)
    result = w.wait(timeout=60)
    frames = comm_of(w).frames()
    assert [c["format"] for c, _ in frames] == ["jpeg", "png"]
    assert frames[-1][0]["final"] is True
    # 1 sent; no ack, so steps 2..6 drew no frame at all (nothing drawn only to be dropped)
    assert result.steps == 6 and w._stream.stats.dropped == 0 and len(w.trajectory) == 2


def test_frame_stream_policy():
    sent, now = [], [0.0]
    stream = FrameStream(lambda c, b: sent.append(c["id"]), ack_timeout=1.0, clock=lambda: now[0])
    assert stream.offer({}, b"1") == 1
    assert stream.offer({}, b"2") is None and stream.offer({}, b"3") is None  # 2 replaced by 3
    assert stream.ack(99) is None  # not a frame in flight
    assert stream.ack(1) == 2 and sent == [1, 2]  # the newest pending frame went out
    assert stream.ack(2) is None and stream.in_flight == []
    assert stream.offer({}, b"4") == 3
    now[0] = 5.0  # the ack never came: count it lost
    assert stream.offer({}, b"5") == 4
    assert stream.offer({}, b"f", final=True) == 5  # final frames always go
    assert stream.stats.dropped == 1 and stream.stats.timed_out == 1


def test_frame_stream_window_of_two():
    sent = []
    stream = FrameStream(lambda c, b: sent.append(c["id"]), window=2)
    assert stream.offer({}, b"1") == 1 and stream.offer({}, b"2") == 2
    assert stream.offer({}, b"3") is None
    assert stream.ack(1) == 3 and stream.in_flight == [2, 3]


def test_stop_takes_effect_within_one_step(w):
    cx, cy = blob(w)
    w.add_point((cx, cy), (63, cy))
    w.update_settings(step_size=1e-4)  # far from converging
    seen, stopped_at = [], []

    def slow(record):
        seen.append(record.step)
        time.sleep(0.02)

    w.on_step(slow)
    assert w.start(max_steps=1000)
    while len(seen) < 3:
        time.sleep(0.005)
    stopped_at.append(len(seen))
    send_msg(w.canvas, {"type": "command", "name": "stop"})
    result = w.wait(timeout=30)
    assert result.stopped and result.steps <= stopped_at[0] + 1


def test_start_twice_runs_one_drag_and_says_why(w):
    cx, cy = blob(w)
    w.add_point((cx, cy), (63, cy))
    w.update_settings(step_size=1e-4)
    gate = threading.Event()
    w.on_step(lambda r: gate.wait(5))
    threads_before = threading.active_count()
    assert w.start(max_steps=50) is True
    with pytest.raises(DragBusyError, match="press Stop"):
        w.start(max_steps=50)
    assert "press Stop" in w.error and "dragging" in w.status
    send_msg(w.canvas, {"type": "command", "name": "start"})  # a second Space: nothing changes
    assert threading.active_count() == threads_before + 1
    with pytest.raises(DragBusyError):
        w.drag()
    w.stop()
    gate.set()
    result = w.wait(timeout=30)
    assert result.steps <= 2
    assert w.error == ""  # the drag it was about has ended
    assert w.status.startswith("stopped after")


def test_an_exception_in_a_step_keeps_the_image_and_history(w):
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 10, cy))
    first = w.drag(max_steps=3)  # one finished drag in the history
    assert first.steps == 3 and len(w.session.history) == 1
    real_step, calls = w.session.step, []

    def failing_step(render=False):
        calls.append(1)
        if len(calls) == 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real_step(render=render)

    w.session.step = failing_step
    with pytest.raises(torch.cuda.OutOfMemoryError):
        w.drag(max_steps=10)
    assert "out of memory" in w.error and "smaller model" in w.error and "w space" in w.error
    assert not w.running and not w.canvas.running
    # two good steps were committed; the image shown is the session's; the history is whole
    assert len(w.session.history) == 2
    assert np.array_equal(np.asarray(decode(w.canvas.image).convert("RGB")), w.session.image())
    # still usable: undo twice returns to the start
    w.session.step = real_step
    assert w.undo() and w.undo()
    assert w.error == ""
    w.add_point((cx, cy), (cx, cy + 5))
    assert w.drag(max_steps=2).steps == 2


def test_undo_redo_and_new_image_update_the_view(w):
    start = w.session.image()
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 8, cy))
    w.drag(max_steps=5)
    moved = w.session.image()
    assert not np.array_equal(start, moved)
    comm_of(w).clear()
    send_msg(w.canvas, {"type": "command", "name": "undo"})
    assert np.array_equal(np.asarray(decode(w.canvas.image).convert("RGB")), start)
    assert comm_of(w).custom("clear_path")  # the drag's tracked paths are gone from the view
    assert comm_of(w).frames()[-1][0]["final"] is True
    assert w.canvas.points == [{"handle": [cx, cy], "target": [cx + 8, cy]}]
    send_msg(w.canvas, {"type": "command", "name": "redo"})
    assert np.array_equal(np.asarray(decode(w.canvas.image).convert("RGB")), moved)
    w.new_image(7)
    assert w.session.seed == 7 and w.canvas.points == []
    assert w.undo() and w.session.seed == 1
    assert w.controls.seed.value == "1"


def test_reset_commands(w):
    w.add_point((20, 20), (30, 30))
    stroke(w, "flexible", 3, [30, 30])
    send_msg(w.canvas, {"type": "command", "name": "reset_points"})
    assert w.session.points == [] and w.canvas.points == []
    send_msg(w.canvas, {"type": "command", "name": "reset_mask"})
    assert w.session.mask is None and w.canvas.mask == b""
    send_msg(w.canvas, {"type": "command", "name": "start"})  # nothing to drag: a message
    assert "handle" in w.error and not w.running


def test_editing_during_a_drag_is_refused_and_undo_stops_it(w):
    cx, cy = blob(w)
    w.add_point((cx, cy), (63, cy))
    w.update_settings(step_size=1e-4)
    gate = threading.Event()
    w.on_step(lambda r: gate.wait(0.05))
    w.start(max_steps=1000)
    trait = list(w.canvas.points)
    set_from_front(w.canvas, points=trait + [{"handle": [5, 5], "target": [6, 6]}])
    assert "Stop the drag" in w.error and w.canvas.points == trait
    stroke(w, "flexible", 3, [5, 5])
    assert "Stop the drag" in w.error and w.session.mask is None
    with pytest.raises(DragBusyError):
        w.update_settings(step_size=1e-3)
    send_msg(w.canvas, {"type": "command", "name": "undo"})
    assert not w.running and w.error == ""
    assert len(w.session.history) == 0 and w.session.can_redo


def test_blocking_drag_streams_frames_without_acks(w):
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 10, cy))
    w.update_settings(step_size=1e-4)
    w.on_step(lambda r: time.sleep(0.03))
    result = w.drag(max_steps=12)
    jpegs = [c for c, _ in comm_of(w).frames() if c["format"] == "jpeg"]
    assert result.steps == 12 and len(jpegs) >= 4  # no ack ever came, frames still flowed


def test_drag_async(w):
    import asyncio

    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 6, cy))
    result = asyncio.run(w.drag_async(max_steps=4))
    assert result.steps == 4


def test_settings_controls_reach_the_session(w):
    w.controls.step_size.value = 0.01
    assert w.session.settings.step_size == pytest.approx(0.01)
    w.controls.latent_space.value = "w"
    assert w.session.settings.latent_space == "w"
    w.controls.r2.value = "5"
    assert w.session.settings.r2 == 5
    w.controls.r2.value = ""
    assert w.session.settings.r2 is None
    w.controls.r2.value = "lots"
    assert "r2" in w.error and w.session.settings.r2 is None and w.controls.r2.value == ""
    w.controls.r1.value = "2000"  # 3.6 GB and 35 s a step on a 512 px model, were it allowed
    assert "r1 must be in (0, 64]" in w.error and w.session.settings.r1 is None


def click(button):
    """A click on an ipywidgets Button in the front end."""
    send_msg(button, {"event": "click"})


def test_the_step_size_slider_snapping_its_value_changes_nothing(w):
    w.update_settings(step_size=2e-3)
    w.new_image(1)  # the status line says so, and must stay
    set_from_front(w.controls.step_size, value=10**-2.7)  # 2e-3 on the slider's grid
    assert w.session.settings.step_size == 2e-3 and w.status.startswith("new image")
    set_from_front(w.controls.step_size, value=10**-2.5)  # a person moved it
    assert w.session.settings.step_size == pytest.approx(10**-2.5)
    assert w.status == "step_size set to 0.00316"


def test_method_selector_reaches_the_session(w):
    assert w.controls.method.value == w.session.settings.method
    w.controls.method.value = "freedrag"
    assert w.session.settings.method == "freedrag"
    w.update_settings(method="stabledrag")
    assert w.controls.method.value == "stabledrag"


def test_the_step_size_slider_shows_the_methods_own_until_a_person_sets_one():
    widget = DragWidget(BlobGenerator(64), seed=1, method="draggan")
    try:
        assert widget.session.settings.step_size is None
        assert widget.controls.step_size.value == pytest.approx(2e-3)
        widget.controls.method.value = "patchdrag"
        assert widget.controls.step_size.value == pytest.approx(PatchDrag.step_size)
        assert widget.session.settings.step_size is None  # showing it did not set it
        set_from_front(widget.controls.step_size, value=10**-2.0)
        widget.controls.method.value = "draggan"
        assert widget.session.settings.step_size == pytest.approx(0.01)
        assert widget.controls.step_size.value == pytest.approx(0.01)
    finally:
        widget.close()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_streams_the_tracked_path(w, method):
    w.controls.method.value = method

    def front(data, buffers):  # a front end that draws each frame and acks it
        content = data.get("content", {}) if data.get("method") == "custom" else {}
        if content.get("type") == "frame":
            send_msg(w.canvas, {"type": "ack", "id": content["id"]})

    comm_of(w).on_send = front
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 8, cy))
    result = w.drag(max_steps=15)
    settled = list(w.session.points[0][0])

    frames = [c for c, _ in comm_of(w).frames() if c["format"] in ("jpeg", "png")]
    handles = [c["handles"][0] for c in frames]
    # Frames come on demand (not one per step), the steps' as JPEG; the settled image comes last.
    assert result.steps >= 5 and sum(c["format"] == "jpeg" for c in frames) >= 2
    assert frames[-1]["final"] and handles[-1] == pytest.approx(settled, abs=1e-3)
    assert handles[-1][0] > handles[0][0]  # the front end draws this path, toward the target


def test_a_double_click_on_start_starts_one_drag(w):
    cx, cy = blob(w)
    w.add_point((cx, cy), (63, cy))
    w.update_settings(step_size=1e-4)
    w.on_step(lambda r: time.sleep(0.01))
    start, stop = w.controls.start_button, w.controls.stop_button
    assert not start.disabled and stop.disabled
    click(start)
    click(start)  # the second click of a double click: the drag goes on
    assert w.running and w.error == ""
    assert start.disabled and not stop.disabled
    time.sleep(0.2)
    assert w.running and len(w.session.history) == 0
    click(stop)
    result = w.wait(timeout=30)
    assert result.stopped and result.steps > 2 and len(w.session.history) == 1
    assert not start.disabled and stop.disabled
    assert w.status.startswith(f"stopped after {result.steps} steps")


def test_one_step_is_one_step(w):
    cx, cy = blob(w)
    w.add_point((cx, cy), (63, cy))
    w.on_step(lambda r: w.stop())
    result = w.drag()
    assert result.steps == 1 and w.status.startswith("stopped after 1 step ·")


# ----- save and export ------------------------------------------------------------------------


def test_save_writes_png_with_provenance_and_the_session(w, tmp_path):
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 8, cy))
    w.drag(max_steps=4)
    path = w.save(tmp_path / "edit.png")
    png = Image.open(path)
    assert png.format == "PNG"
    text = png.text
    assert text["Software"].startswith("dragwidget")
    assert json.loads(text["dragwidget.seed"]) == 1
    assert json.loads(text["dragwidget.model"])["kind"].endswith("BlobGenerator")
    assert len(json.loads(text["dragwidget.points"])) == 1
    assert json.loads(text["dragwidget.settings"])["step_size"] == 0.05
    assert json.loads(text["dragwidget.session_file"]) == "edit.session.safetensors"
    assert np.array_equal(np.asarray(png.convert("RGB")), w.session.image())
    again = DragWidget.load(tmp_path / "edit.session.safetensors", w.session.generator)
    assert np.array_equal(again.session.image(), w.session.image())
    again.close()
    with pytest.raises(ValueError, match="png"):
        w.save(tmp_path / "edit.jpg")


def test_a_widget_on_a_broken_session_fails_with_one_clear_error(w, tmp_path, monkeypatch):
    import gc
    import sys

    import safetensors.torch
    from safetensors import safe_open

    path = w.session.save(tmp_path / "s.safetensors")
    with safe_open(str(path), framework="pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    tensors["mask"] = torch.ones(3, 5, dtype=torch.uint8)
    safetensors.torch.save_file(tensors, path, metadata=metadata)
    ignored = []  # exceptions Python could only print, as from a __del__
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    with pytest.raises(ValueError, match=r"s\.safetensors: mask: mask must have shape"):
        DragWidget.load(path, w.session.generator)
    broken = w.session
    broken._mask = np.ones((3, 5), bool)  # past the checks: the widget's own __init__ fails
    with pytest.raises(ValueError):
        DragWidget(session=broken)
    gc.collect()
    assert not ignored


def test_export_gif_has_the_frames_shown_plus_the_result(w, tmp_path):
    with pytest.raises(ValueError, match="no drag"):
        w.export(tmp_path / "none.gif")
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 8, cy))
    result = w.drag(max_steps=7)
    path = w.export(tmp_path / "drag.gif")
    gif = Image.open(path)
    assert gif.n_frames == len(w.trajectory) and 2 <= gif.n_frames <= result.steps + 1
    with pytest.raises(ValueError, match="gif or .mp4"):
        w.export(tmp_path / "drag.avi")
    mp4 = w.export(tmp_path / "drag.mp4")  # imageio-ffmpeg is in the test extra
    import imageio.v2 as imageio

    with imageio.get_reader(mp4) as reader:
        frames = [frame for frame in reader]
    assert len(frames) == len(w.trajectory) and frames[0].shape[:2] == (64, 64)


def test_a_real_stylegan2_drag_streams_frames():
    from conftest import small_stylegan2

    w = DragWidget(small_stylegan2(64), seed=3)
    try:
        w.add_point((30, 30), (40, 30))
        result = w.drag(max_steps=3)
        assert result.steps == 3 and len(w.session.history) == 1
        jpegs = [d for c, d in comm_of(w).frames() if c["format"] == "jpeg"]
        assert jpegs and decode(jpegs[0]).size == (64, 64)
        assert "DragWidget(Generator 64x64, seed=3, 1 point(s), 1 drag(s)" in repr(w)
    finally:
        w.close()


def test_a_picture_from_disk_opens_for_editing(w, tmp_path):
    picture = tmp_path / "picture.png"
    w.image.save(picture)  # a picture the model can draw, so the fit can be checked
    edit = DragWidget.from_image(picture, BlobGenerator(64), steps=60)
    try:
        assert edit.session.seed is None
        difference = np.abs(edit.session.image().astype(int) - np.asarray(w.image).astype(int))
        assert difference.mean() < 6
        assert decode(edit.canvas.image).size == (64, 64)
    finally:
        edit.close()


# ----- every message true, nothing stale --------------------------------------------------------


@pytest.mark.parametrize(
    "name, typed",
    [
        ("max_steps", "-1"),
        ("max_steps", "abc"),
        ("max_steps", "2.5"),
        ("max_steps", ""),
        ("mask_weight", "-3"),
        ("mask_weight", "lots"),
        ("free_layers", "0"),
    ],
)
def test_a_bad_number_is_refused_with_a_message_and_the_old_value_stays(w, name, typed):
    box = getattr(w.controls, name)
    label = box.description
    before = box.value
    set_from_front(box, value=typed)  # what Enter in the box sends
    assert name in w.error and typed in w.error and f"{label} stays {before}" in w.error
    assert box.value == before
    assert getattr(w.session.resolved_settings(), name) == float(before)
    set_from_front(box, value="5")
    assert w.error == "" and getattr(w.session.settings, name) == 5
    assert w.status == f"{name} set to 5"


def test_typing_a_seed_and_enter_makes_the_new_image(w):
    set_from_front(w.controls.seed, value="5")  # Enter (or leaving the box) sends the value
    assert w.session.seed == 5 and w.status.startswith("new image from seed 5")
    assert np.array_equal(np.asarray(decode(w.canvas.image).convert("RGB")), w.session.image())
    for typed in ("-3", "abc"):
        set_from_front(w.controls.seed, value=typed)
        assert "seed" in w.error and "Seed stays 5" in w.error
        assert w.session.seed == 5 and w.controls.seed.value == "5"
    w.undo()
    assert w.controls.seed.value == "1"


def test_the_status_line_follows_each_action(w, tmp_path):
    cx, cy = blob(w)
    click_pair(w, (cx, cy), (cx + 8, cy))
    assert w.status == ""  # "": the front end shows the hint of what to do next
    result = w.drag(max_steps=3)
    assert re.fullmatch(
        r"(max steps \(3\) reached|reached the targets in \d+ steps?) · mean distance [\d.]+ px",
        w.status,
    )
    w.export(tmp_path / "a.gif")
    assert w.status == f"exported {len(w.trajectory)} frames to {tmp_path / 'a.gif'}"
    click_pair(w, (10, 10), (20, 20))  # new clicks: the export is old news
    assert w.status == ""
    assert w.undo() and w.status == f"undid a drag of {result.steps} steps · Redo brings it back"
    assert w.redo() and w.status == f"redid a drag of {result.steps} steps"
    w.update_settings(max_steps=7)
    assert w.status == "max_steps set to 7"
    stroke(w, "flexible", 3, [30, 30])
    assert w.status == ""
    w.reset_mask()
    assert w.status == "mask cleared: the whole image may change"
    w.save(tmp_path / "b.png")
    assert w.status == f"saved {tmp_path / 'b.png'} and b.session.safetensors"
    set_from_front(w.canvas, mode="fixed")
    assert w.status == ""  # the brush's hint
    w.new_image(4)
    assert w.status.startswith(
        "new image from seed 4 · points and mask cleared, as in the official"
    )
    assert w.undo() and w.status == "undid New image (seed 1 → 4) · Redo brings it back"
    assert w.undo() and w.undo() is False and w.status == "nothing to undo"
    with pytest.raises(ValueError):
        w.add_point((1, 1), (999, 1))
    assert w.status == "" and "outside" in w.error  # the error says what happened


def test_export_is_the_drag_of_the_image_shown(w, tmp_path):
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 8, cy))
    result = w.drag(max_steps=4)
    shown = len(w.trajectory)  # frames on demand: the frames that were shown, and the result
    assert 2 <= shown <= result.steps + 1
    assert Image.open(w.export(tmp_path / "a.gif")).n_frames == shown
    w.new_image(5)
    with pytest.raises(ValueError, match="no drag of the image shown"):
        w.export(tmp_path / "b.gif")
    assert "no drag of the image shown" in w.error and not (tmp_path / "b.gif").exists()
    w.undo()  # the dragged image is back, and so is its export
    assert Image.open(w.export(tmp_path / "c.gif")).n_frames == shown
    w.undo()
    with pytest.raises(ValueError, match="undone"):
        w.export(tmp_path / "d.gif")
    w.redo()
    w.export(tmp_path / "e.gif")


def test_new_image_clears_the_mask_and_undo_brings_it_back(w):
    stroke(w, "flexible", 4, [20, 20, 40, 20])
    paint, mask = w.canvas.mask, w.mask.copy()
    w.new_image(5)
    assert w.mask is None and w.canvas.mask == b"" and "mask cleared" in w.status
    w.undo()
    assert np.array_equal(w.mask, mask) and w.canvas.mask == paint and w.session.seed == 1
    w.redo()
    assert w.mask is None and w.session.seed == 5
    w.undo()
    assert np.array_equal(w.mask, mask)


def test_a_handle_outside_the_area_that_may_change_is_named(w):
    may_change = np.zeros((64, 64), bool)
    may_change[:, :20] = True
    w.mask = may_change
    w.add_point((10, 30), (15, 30))
    w.add_point((40, 30), (45, 30))
    w.start(max_steps=2)
    assert "point 2's handle is outside the area that may change: it cannot move" in w.status
    w.wait(timeout=30)
    assert "point 2's handle is outside the area that may change" in w.status
    w.mask = None
    w.drag(max_steps=1)
    assert "outside" not in w.status


def test_save_and_export_from_the_panel_write_outside_the_working_folder(w, tmp_path, monkeypatch):
    from dragwidget.widget.controls import default_folder

    monkeypatch.chdir(tmp_path)  # the notebook's folder: a checkout, perhaps
    cx, cy = blob(w)
    w.add_point((cx, cy), (cx + 8, cy))
    w.drag(max_steps=2)
    click(w.controls.save)
    click(w.controls.export)
    assert w.error == "" and list(tmp_path.iterdir()) == []
    saved, exported = Path(w.controls.save_path.value), Path(w.controls.export_path.value)
    assert saved.parent == exported.parent == default_folder() != tmp_path
    assert saved.exists() and exported.exists() and str(exported) in w.status
