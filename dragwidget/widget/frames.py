"""Frames: encoding (JPEG while dragging, PNG when settled), ack-based flow control, pacing, export.

The flow control follows what was measured in a real browser: waiting for an ack per frame keeps a
512-px JPEG stream near 30 fps without ever piling frames up, so at most one frame is in flight
and a newer frame replaces one that has not been sent yet (drop, don't queue). A frame that would
be dropped need not be drawn: the pacer draws one only when the browser can take it, and within a
share of the drag's time (frames on demand).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

JPEG_QUALITY = 85
# Frames on demand: drawing frames may take about this fraction of a drag's time ...
FRAME_BUDGET = 0.25
# ... unless that would leave fewer frames a second than this.
FRAME_FLOOR_FPS = 2.0


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """uint8 HxWx3 -> JPEG bytes (fast, small: for frames during a drag)."""
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def encode_png(image: np.ndarray | Image.Image, text: dict[str, str] | None = None) -> bytes:
    """uint8 HxWx3 (or a PIL image) -> PNG bytes, with optional text chunks."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_itxt(key, value)
    out = io.BytesIO()
    # compress_level 1: the final frame must not stall the stream (level 6 costs ~3x the time).
    pil.save(out, format="PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


@dataclass
class StreamStats:
    sent: int = 0
    dropped: int = 0
    acked: int = 0
    timed_out: int = 0


class FrameStream:
    """At most `window` frames in flight (1 by default); a newer frame replaces an unsent one.

    `send(content, buffers)` is called with the frame's message. An ack for a frame in flight frees
    its slot and sends the pending frame, if any. A frame in flight for longer than `ack_timeout`
    seconds counts as lost (no view, a closed tab, or a cell that blocks the kernel so acks cannot
    arrive), so the stream never stalls. Final frames are sent at once: the last image must
    arrive. Thread-safe: frames are offered from the drag's worker thread, acks arrive on the
    kernel's main thread.
    """

    def __init__(
        self,
        send: Callable[[dict, list[bytes]], None],
        ack_timeout: float = 0.5,
        window: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self.ack_timeout = ack_timeout
        self.window = window
        self._clock = clock
        # Reentrant: a send that is answered at once (in tests) may ack on the same thread.
        self._lock = threading.RLock()
        self._next_id = 1
        self._in_flight: dict[int, float] = {}  # frame id -> when it was sent
        self._pending: tuple[dict, bytes] | None = None
        self.stats = StreamStats()

    @property
    def in_flight(self) -> list[int]:
        with self._lock:
            return list(self._in_flight)

    def can_send(self) -> bool:
        """Whether a frame offered now would go out at once: a slot is free."""
        with self._lock:
            self._expire_locked()
            return len(self._in_flight) < self.window

    def offer(self, content: dict, data: bytes, final: bool = False) -> int | None:
        """Send now if a slot is free (or `final`), else keep as the pending frame.

        Returns the frame id when sent, None when it waits (and may be replaced).
        """
        with self._lock:
            self._expire_locked()
            if len(self._in_flight) >= self.window and not final:
                if self._pending is not None:
                    self.stats.dropped += 1
                self._pending = (content, data)
                return None
            if self._pending is not None:
                self.stats.dropped += 1
                self._pending = None
            return self._send_locked(content, data)

    def ack(self, frame_id: int) -> int | None:
        """The front end drew `frame_id`: free its slot and send the pending frame, if any."""
        with self._lock:
            if self._in_flight.pop(frame_id, None) is None:
                return None  # a late ack (after a timeout) or a second view's ack
            self.stats.acked += 1
            if self._pending is None or len(self._in_flight) >= self.window:
                return None
            content, data = self._pending
            self._pending = None
            return self._send_locked(content, data)

    def reset(self) -> None:
        """Forget the frames in flight and the pending one (a view re-rendered)."""
        with self._lock:
            self._in_flight.clear()
            self._pending = None

    def _expire_locked(self) -> None:
        now = self._clock()
        for frame_id, sent_at in list(self._in_flight.items()):
            if now - sent_at > self.ack_timeout:
                self.stats.timed_out += 1
                del self._in_flight[frame_id]

    def _send_locked(self, content: dict, data: bytes) -> int:
        frame_id = self._next_id
        self._next_id += 1
        self._in_flight[frame_id] = self._clock()
        self.stats.sent += 1
        self._send({**content, "id": frame_id}, [data])
        return frame_id


class FramePacer:
    """Which steps of a drag get a frame (the rest of the network runs only for those).

    A frame is drawn only when the browser can take it (no frame in flight), and at most as
    often as keeps drawing under `budget` of the drag's time: after a frame that took c seconds,
    the next waits c / budget. When frames are so costly that this would leave fewer than
    `floor_fps` a second, they come at `floor_fps` instead. The first step always gets one. On a
    fast GPU the browser sets the pace; on a CPU the budget does, and the steps in between run
    at full speed.
    """

    def __init__(
        self,
        budget: float = FRAME_BUDGET,
        floor_fps: float = FRAME_FLOOR_FPS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not 0 < budget <= 1:
            raise ValueError(f"budget must be a fraction in (0, 1], not {budget!r}")
        if not floor_fps > 0:
            raise ValueError(f"floor_fps must be > 0, not {floor_fps!r}")
        self.budget, self.floor_fps, self._clock = budget, floor_fps, clock
        self._last_start: float | None = None
        self._cost = 0.0

    def reset(self) -> None:
        """A new drag: its first step gets a frame."""
        self._last_start = None

    @property
    def interval(self) -> float:
        """The least time from the start of one frame to the start of the next."""
        return min(self._cost / self.budget, 1 / self.floor_fps)

    def wants_frame(self, browser_ready: bool) -> bool:
        if not browser_ready:
            return False
        return self._last_start is None or self._clock() - self._last_start >= self.interval

    def drawing(self) -> Callable[[], None]:
        """Call at the start of a frame; call what it returns when the frame is done."""
        start = self._clock()
        self._last_start = start

        def done() -> None:
            self._cost = self._clock() - start

        return done


def png_provenance(info: dict[str, Any]) -> dict[str, str]:
    """PNG text chunks: one JSON value per key under a `dragwidget.` prefix, plus Software."""
    text = {"Software": f"dragwidget {_version()}"}
    for key, value in info.items():
        text[f"dragwidget.{key}"] = json.dumps(value)
    return text


def _version() -> str:
    try:
        return metadata.version("dragwidget")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "dev"


def export_trajectory(frames: Sequence[bytes], path: str | Path, fps: float = 15.0) -> Path:
    """Write encoded frames (JPEG/PNG bytes) as a GIF, or as MP4 (needs imageio-ffmpeg)."""
    path = Path(path)
    if not frames:
        raise ValueError("there is no drag to export yet: run a drag first")
    if not (fps > 0 and np.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, not {fps!r}")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        images = [Image.open(io.BytesIO(f)).convert("RGB") for f in frames]
        images[0].save(
            path,
            save_all=True,
            append_images=images[1:],
            duration=max(20, round(1000 / fps)),
            loop=0,
            optimize=False,
        )
    elif suffix == ".mp4":
        try:
            import imageio.v2 as imageio
            import imageio_ffmpeg  # noqa: F401  (imageio needs it for MP4)
        except ImportError as exc:
            raise ValueError(
                "MP4 export needs imageio and imageio-ffmpeg (pip install 'dragwidget[video]'); "
                "export a .gif instead"
            ) from exc
        with imageio.get_writer(path, fps=fps, macro_block_size=1) as writer:
            for f in frames:
                writer.append_data(np.asarray(Image.open(io.BytesIO(f)).convert("RGB")))
    else:
        raise ValueError(f"export writes .gif or .mp4 files, not {path.name!r}")
    return path
