"""Frames on demand: a drag draws a frame only when the browser can take one, within a budget."""

from __future__ import annotations

import threading
import time

import pytest
from recording_comm import recording_comm, send_msg  # noqa: F401
from toygen import BlobGenerator

from dragwidget.widget import DragWidget
from dragwidget.widget.frames import FramePacer, FrameStream

pytestmark = pytest.mark.usefixtures("recording_comm")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pacer_waits_for_the_browser_and_keeps_frames_within_the_budget():
    clock = Clock()
    pacer = FramePacer(budget=0.25, floor_fps=2.0, clock=clock)
    assert not pacer.wants_frame(browser_ready=False)
    assert pacer.wants_frame(browser_ready=True)  # the drag's first step
    done = pacer.drawing()
    clock.now += 0.01  # the frame took 10 ms: the next may start 40 ms after it began
    done()
    clock.now += 0.02
    assert not pacer.wants_frame(True)
    clock.now += 0.0101
    assert pacer.wants_frame(True) and not pacer.wants_frame(False)
    start, done = clock.now, pacer.drawing()
    clock.now += 1.0  # a costly frame: a budget of 4 s would leave too few, the floor is 0.5 s
    done()
    assert pacer.interval == pytest.approx(0.5)
    clock.now = start + 0.49
    assert not pacer.wants_frame(True)
    clock.now = start + 0.5
    assert pacer.wants_frame(True)
    pacer.reset()  # a new drag shows its first step at once
    assert pacer.wants_frame(True)


@pytest.mark.parametrize(
    "kwargs, message", [({"budget": 0}, "budget"), ({"floor_fps": 0}, "floor_fps")]
)
def test_the_pacer_refuses_a_bad_policy(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FramePacer(**kwargs)


def test_the_stream_says_when_a_frame_would_go_out_at_once():
    clock = Clock()
    stream = FrameStream(lambda content, buffers: None, ack_timeout=0.5, clock=clock)
    assert stream.can_send()
    frame_id = stream.offer({}, b"jpeg")
    assert not stream.can_send()
    stream.ack(frame_id)
    assert stream.can_send()
    stream.offer({}, b"jpeg")
    clock.now += 0.6  # the ack was lost: the slot frees after the timeout
    assert stream.can_send() and stream.stats.timed_out == 1


def test_a_drag_draws_only_the_frames_the_browser_takes():
    w = DragWidget(BlobGenerator(64), seed=1, step_size=0.01)
    drawn = []
    step_image = w.session.step_image
    w.session.step_image = lambda: drawn.append(1) or step_image()

    def browser(data, buffers):  # draws each frame in 30 ms, then acks it
        content = data.get("content", {}) if data.get("method") == "custom" else {}
        if content.get("type") == "frame" and not content["final"]:
            ack = {"type": "ack", "id": content["id"]}
            threading.Timer(0.03, send_msg, (w.canvas, ack)).start()

    w.canvas.comm.on_send = browser
    w.on_step(lambda record: time.sleep(0.005))
    cx, cy = w.session.generator.blob_centre(w.session.latent)
    w.add_point((cx, cy), (cx + 20, cy))
    w.start(max_steps=40)
    result = w.wait(timeout=60)
    jpegs = [c for c, _ in w.canvas.comm.frames() if c["format"] == "jpeg"]
    assert 2 <= len(drawn) == len(jpegs) < result.steps  # each drawn frame went out
    assert w.frame_stats.dropped == 0 and jpegs[0]["step"] == 1
    assert [c["step"] for c in jpegs] == sorted({c["step"] for c in jpegs})
    final = w.canvas.comm.frames()[-1][0]
    assert final["final"] and final["format"] == "png"  # the last step, always
    w.close()
