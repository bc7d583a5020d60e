"""DragWidget: the canvas, the control panel and a DragSession, wired together.

Data flows one way: the front end proposes (clicks, strokes, commands), this module checks the input
and calls the session, and the session's state is pushed back to the front end. The Python object is
the single source of truth; scripted calls and clicks go through the same methods and share one
history (the session's).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import numpy as np
import torch
from PIL import Image

from dragwidget.drag import (
    DragBusyError,
    DragResult,
    DragSession,
    HistoryEntry,
    StepRecord,
    check_point,
    preferred_device,
)
from dragwidget.drag.pti import Inversion, InversionResult, InversionStep, split_inversion_options
from dragwidget.widget import editing
from dragwidget.widget.canvas import MODES, DragCanvas
from dragwidget.widget.controls import ControlPanel
from dragwidget.widget.frames import (
    FramePacer,
    FrameStream,
    StreamStats,
    encode_jpeg,
    encode_png,
    export_trajectory,
    png_provenance,
)
from dragwidget.widget.runner import DragRunner

log = logging.getLogger(__name__)

# While a cell blocks in drag(), acks cannot reach the kernel: count a frame as delivered after
# this long instead (about 25 fps at most). Otherwise a lost ack (a closed tab) stalls the stream
# for ACK_TIMEOUT at most.
BLOCKING_FRAME_INTERVAL = 0.04
ACK_TIMEOUT = 0.5
# Frames in flight awaiting an ack. The protocol says 1; 2 hides one round trip and about doubles
# the frame rate in JupyterLab on a 2-core machine (benchmarks/widget_stream.py --window 2).
FRAME_WINDOW = 1

_BUSY = "A drag is running: press Stop (or call stop()) first."
# What New image does to the mask: the official DragGAN GUI starts a new seed with a blank mask.
_NEW_IMAGE_NOTE = "points and mask cleared, as in the official DragGAN GUI; Undo brings them back"


def _generator_or_default(generator: torch.nn.Module | None) -> torch.nn.Module:
    """`generator`, or the model that ships with dragwidget (loaded only when it is needed)."""
    if generator is not None:
        return generator
    from dragwidget.checkpoints import load_generator

    return load_generator()


class DragWidget(ipywidgets.HBox):
    """Drag points on a generated image, by mouse or from Python.

    `DragWidget(generator=None, seed=0, **settings)`: with no generator the embedded default model
    is used; `settings` are DragSettings fields (step_size, latent_space, r1, r2, mask_weight, ...).
    Shown as the canvas (`.canvas`, an anywidget) beside the control panel (`.controls`).
    """

    def __init__(
        self,
        generator: torch.nn.Module | None = None,
        seed: int = 0,
        *,
        session: DragSession | None = None,
        device: str | torch.device | None = None,
        truncation_psi: float = 0.7,
        **settings: Any,
    ) -> None:
        if session is None:
            generator = _generator_or_default(generator)
            session = DragSession(
                generator,
                seed,
                truncation_psi=truncation_psi,
                device=device or preferred_device(),
                **settings,
            )
        elif generator is not None or settings:
            raise ValueError("pass either a session or a generator (with settings), not both")
        self._session = session
        self._lock = threading.RLock()
        self._local = threading.local()
        self._runner = DragRunner()
        self._step_callbacks: list[Callable[[StepRecord], None]] = []
        self._trajectory: list[bytes] = []
        # The history entry the trajectory ends in: export only while that is what is shown.
        self._trajectory_entry: HistoryEntry | None = None
        self._entry_before_drag: HistoryEntry | None = None
        # The paint a New image cleared, per new_image entry, so that Undo brings it back.
        self._paint_before: dict[int, tuple[HistoryEntry, np.ndarray]] = {}
        self._last_frame: tuple[dict, bytes] | None = None
        self._targets: list[list[float]] = []
        self._progress_at = 0.0
        self.encode_seconds: list[float] = []  # JPEG encode time of each frame of the last drag

        height, width = session.height, session.width
        self._paint = editing.paint_from_mask(session.mask, width, height)
        self.canvas = DragCanvas(
            width=width,
            height=height,
            image=encode_png(session.image()),
            points=editing.points_trait(session.points),
            mask=self._mask_bytes(),
        )
        self._stream = FrameStream(self.canvas.send, ack_timeout=ACK_TIMEOUT, window=FRAME_WINDOW)
        self._pacer = FramePacer()
        self.canvas.on_msg(self._on_msg)
        self.canvas.observe(self._on_points_trait, "points")
        self.canvas.observe(self._on_mask_trait, "mask")
        self.canvas.observe(self._on_mode_trait, "mode")
        self.controls = ControlPanel(self)
        self._portable: Any = None  # the panel as an anywidget, made when marimo shows the widget
        super().__init__(
            [self.canvas, self.controls],
            layout=ipywidgets.Layout(flex_flow="row wrap", align_items="flex-start"),
        )

    @classmethod
    def from_image(
        cls,
        image: Image.Image | np.ndarray | str | Path,
        generator: torch.nn.Module | None = None,
        steps: int = 100,
        device: str | torch.device | None = None,
        wait: bool = True,
        **options: Any,
    ) -> DragWidget:
        """A widget editing a picture (a path, PIL image or uint8 array), inverted into G.

        `options`: Inversion's (tuning_steps, fit, crop_position, loss, ...) and DragSettings
        fields. With `wait=False` the widget comes back at once, on the model's image, and
        inverts in the background (`open_image`): frames show the reconstruction sharpening.
        """
        generator = _generator_or_default(generator)
        device = device or preferred_device()
        if wait:
            session = DragSession.from_image(generator, image, steps, device=device, **options)
            return cls(session=session)
        inversion_options, settings = split_inversion_options(options)
        widget = cls(generator, device=device, **settings)
        widget.open_image(image, steps=steps, **inversion_options)
        return widget

    @classmethod
    def load(
        cls, path: str | Path, generator: torch.nn.Module | None = None, device: Any = None
    ) -> DragWidget:
        """A widget on a session saved by `save()` (the .session.safetensors file)."""
        generator = _generator_or_default(generator)
        return cls(session=DragSession.load(path, generator, device=device))

    # ----- state, readable from scripts ----------------------------------------------------------

    def __repr__(self) -> str:
        s = self._session
        drags = sum(1 for entry in s.history if entry.kind == "drag")
        return (
            f"DragWidget({type(s.generator).__name__} {s.width}x{s.height}, seed={s.seed}, "
            f"{len(s.points)} point(s), {drags} drag(s) in the history"
            f"{', running' if self.running else ''})"
        )

    @property
    def session(self) -> DragSession:
        return self._session

    @property
    def frame_stats(self) -> StreamStats:
        """Frames sent, acked, dropped (replaced before sending) and timed out, so far."""
        return self._stream.stats

    @property
    def running(self) -> bool:
        return self._runner.running

    @property
    def error(self) -> str:
        return self.canvas.error

    @property
    def status(self) -> str:
        return self.canvas.status

    @property
    def image(self) -> Image.Image:
        """The current image (PIL)."""
        return self._session.image("pil")

    @property
    def trajectory(self) -> list[bytes]:
        """Encoded frames of the last drag as shown (frames on demand), then the result."""
        return list(self._trajectory)

    @property
    def points(self) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """Complete handle -> target pairs, as the session has them."""
        return self._session.points

    @points.setter
    def points(self, pairs: list) -> None:
        with self._scripted():
            w, h = self._session.width, self._session.height
            checked = [
                (
                    check_point(p[0], w, h, f"point {i}'s handle"),
                    check_point(p[1], w, h, f"point {i}'s target"),
                )
                for i, p in enumerate(pairs, start=1)
            ]
            with self._lock:
                self._mirror_points(checked)
                self._push_points()
                self._set_status("")

    @property
    def mask(self) -> np.ndarray | None:
        """H x W bool, True where the image may change; None: no mask. Settable."""
        return self._session.mask

    @mask.setter
    def mask(self, value: np.ndarray | None) -> None:
        with self._scripted():
            paint = editing.paint_from_mask(value, self._session.width, self._session.height)
            with self._lock:
                self._apply_paint(paint)
                self._set_status("")

    # ----- editing -------------------------------------------------------------------------------

    def add_point(self, handle: tuple[float, float], target: tuple[float, float]) -> int:
        """Add a handle -> target pair (image pixels); returns its index."""
        with self._scripted(), self._lock:
            index = self._session.add_point(handle, target)
            self._push_points()
            self._set_status("")
            return index

    def clear_points(self) -> None:
        with self._scripted():
            self._stop_and_wait()
            with self._lock:
                self._session.clear_points()
                self.canvas.send({"type": "clear_path"})
                self._push_points(keep_incomplete=False)
                self._set_status("")

    def reset_mask(self) -> None:
        with self._scripted():
            self._stop_and_wait()
            with self._lock:
                self._apply_paint(np.zeros_like(self._paint))
                self._set_status("mask cleared: the whole image may change")

    def update_settings(self, **changes: Any) -> None:
        """Change drag settings (DragSettings fields); ValueError names a bad one."""
        with self._scripted(), self._lock:
            if self._runner.running:
                raise DragBusyError(_BUSY)
            self._session.update_settings(**changes)
            self.controls.refresh()
            self._set_status(
                ", ".join(f"{name} set to {_shown(value)}" for name, value in changes.items())
            )

    def new_image(self, seed: int) -> None:
        """A new image from `seed`; points and mask are cleared. Undo brings all three back."""
        with self._scripted():
            self._stop_and_wait()
            with self._lock:
                self._session.new_image(seed)
                self._clear_paint_for(self._session.history[-1])
                self._after_history_change()
                self._set_status(f"new image from seed {seed} · {_NEW_IMAGE_NOTE}")

    def undo(self) -> bool:
        """Go back one drag (or new image); False when there is nothing to undo."""
        with self._scripted():
            self._stop_and_wait()
            with self._lock:
                history = self._session.history
                done = self._session.undo()
                if done and history[-1].kind == "new_image":
                    self._restore_paint_for(history[-1])
                self._after_history_change()
                self._set_status(
                    f"undid {_describe(history[-1])} · Redo brings it back"
                    if done
                    else "nothing to undo"
                )
                return done

    def redo(self) -> bool:
        """Go forward again after undo(); False when there is nothing to redo."""
        with self._scripted():
            self._stop_and_wait()
            with self._lock:
                done = self._session.redo()
                entry = self._session.history[-1] if done else None
                if entry is not None and entry.kind == "new_image":
                    self._clear_paint_for(entry)
                self._after_history_change()
                self._set_status(f"redid {_describe(entry)}" if entry else "nothing to redo")
                return done

    # ----- opening a picture ---------------------------------------------------------------------

    def open_image(
        self, picture: str | Path | bytes | Image.Image | np.ndarray, **options: Any
    ) -> Inversion:
        """Invert a picture in the background, then edit it (undo brings the old image back).

        `options` are Inversion's (fit "crop"/"pad", crop_position, steps, tuning_steps, loss...).
        Frames stream as the reconstruction sharpens; Stop (or stop()) ends it early with the best
        so far; wait() returns the InversionResult.
        """
        with self._scripted(), self._lock:
            if self._runner.running:
                raise DragBusyError("Stop the running drag or inversion first.")
            inversion = Inversion(self._session.base_generator, picture, **options)
            self._stream.reset()
            self._last_frame = None
            self._progress_at = 0.0
            self.controls.progress.max = inversion.total_steps
            self.controls.progress.value = 0
            self.canvas.status = "inverting the picture…"
            self.canvas.running = True
            self._runner.start(
                inversion, {"on_step": self._on_inversion_step}, self._on_inversion_done
            )
            return inversion

    def _on_inversion_step(self, record: InversionStep) -> None:
        jpeg = encode_jpeg(record.image())
        content = {
            "type": "frame", "format": "jpeg", "step": record.step,
            "handles": [], "targets": [], "distances": [], "final": False,
        }  # fmt: skip
        self._last_frame = (content, jpeg)
        self._stream.offer(content, jpeg)
        now = time.monotonic()
        if now - self._progress_at > 0.1 or record.step == record.total:
            self._progress_at = now
            self.controls.progress.value = min(record.step, self.controls.progress.max)
            self.canvas.status = (
                f"inverting the picture: {record.phase} {record.step}/{record.total}…"
            )

    def _on_inversion_done(self, result: InversionResult | None, error: BaseException | None):
        try:
            with self._lock:
                if result is not None:
                    self._session.open_picture(result)
                    self._after_history_change()
                else:
                    self._show_settled_image()
        except Exception as exc:  # noqa: BLE001  (keep the widget usable whatever happened)
            log.exception("could not open the inverted picture")
            error = error or exc
        if error is not None:
            self._show_error(f"The picture could not be inverted: {error}")
        elif result is not None:
            early = " (stopped early)" if result.stopped else ""
            self.canvas.status = (
                f"picture inverted{early}: {result.psnr:.1f} dB PSNR (projection alone "
                f"{result.projection_psnr:.1f} dB) in {result.seconds:.0f} s"
            )
            self.controls.progress.value = min(result.steps, self.controls.progress.max)
        self.canvas.running = False  # the controls refresh themselves on it

    # ----- dragging ------------------------------------------------------------------------------

    def on_step(self, callback: Callable[[StepRecord], None]) -> Callable[[], None]:
        """Call `callback(record)` after every step (on the drag's worker thread).

        Returns a function that removes the callback. An exception in it ends the drag.
        """
        self._step_callbacks.append(callback)
        return lambda: self._step_callbacks.remove(callback)

    def start(self, max_steps: int | None = None) -> bool:
        """Start a drag in the background and return True.

        DragBusyError (nothing started) if a drag is running; ValueError if there is nothing to
        drag or `max_steps` is bad.
        """
        with self._scripted(), self._lock:
            if self._runner.running:
                raise DragBusyError(_BUSY)
            if not self._session.points:
                raise ValueError(
                    "Add a handle and its target first: click the point to move, then where it "
                    "should go (or call add_point(handle, target))."
                )
            limit = self._session.settings.max_steps if max_steps is None else max_steps
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError(f"max_steps must be a positive integer, not {max_steps!r}")
            self._trajectory = []
            self._trajectory_entry = None
            history = self._session.history
            self._entry_before_drag = history[-1] if history else None
            self.encode_seconds = []
            self._targets = [[t[0], t[1]] for _, t in self._session.points]
            self._last_frame = None
            self._stream.reset()
            self.controls.progress.max = limit
            self.controls.progress.value = 0
            self._set_status(_join(f"dragging (at most {limit} steps)…", self._fixed_handles()))
            self._progress_at = 0.0
            self.canvas.running = True
            self._runner.start(
                self._session,
                {"max_steps": limit, "on_step": self._on_step, "render": False},
                self._on_done,
            )
            return True

    def stop(self) -> None:
        """End the running drag after its current step (no-op when idle)."""
        self._runner.stop()

    def wait(self, timeout: float | None = None) -> DragResult | None:
        """Block until the running drag ends; the last drag's result (None if none, or on timeout).

        An exception that ended the drag is raised here.
        """
        if not self._runner.wait(timeout):
            return None
        future = self._runner.future
        return None if future is None else future.result()

    def drag(self, max_steps: int | None = None) -> DragResult:
        """Run a drag to the end and return its result; frames stream while it runs.

        Interrupting the kernel stops the drag after its current step.
        """
        with self._blocking():
            self.start(max_steps)
            future = self._runner.future
            try:
                return future.result()
            except KeyboardInterrupt:
                self.stop()
                self._runner.wait()
                raise

    async def drag_async(self, max_steps: int | None = None) -> DragResult:
        """`await w.drag_async()`: like drag(), without blocking the event loop."""
        with self._blocking():
            self.start(max_steps)
            future = self._runner.future
            try:
                return await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                self.stop()
                raise

    # ----- saving --------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the image as PNG with provenance text chunks, and the session file beside it.

        `edit.png` gets `edit.session.safetensors`; `DragWidget.load` reopens the latter.
        """
        with self._scripted():
            path = Path(path)
            if path.suffix.lower() != ".png":
                raise ValueError(f"save writes a .png file, not {path.name!r}")
            if not path.parent.is_dir():
                raise ValueError(f"the folder {str(path.parent)!r} does not exist")
            self._stop_and_wait()
            with self._lock:
                session_path = path.with_name(path.stem + ".session.safetensors")
                self._session.save(session_path)
                path.write_bytes(
                    encode_png(
                        self._session.image(), png_provenance(self._provenance(session_path))
                    )
                )
                self._set_status(f"saved {path} and {session_path.name}")
                return path

    def export(self, path: str | Path, fps: float = 15.0) -> Path:
        """Write the last drag's frames as a GIF (or MP4 with imageio-ffmpeg installed).

        Only while the image shown is that drag's result: after Undo or New image, ValueError.
        """
        with self._scripted():
            history = self._session.history
            if self._trajectory_entry is None:
                raise ValueError("there is no drag to export yet: run a drag first")
            if not history or history[-1] is not self._trajectory_entry:
                raise ValueError(
                    "there is no drag of the image shown to export: the last drag was undone or "
                    "a new image came after it (Redo brings it back, or run a drag)"
                )
            out = export_trajectory(list(self._trajectory), path, fps)
            self._set_status(f"exported {len(self._trajectory)} frames to {out}")
            return out

    def refresh(self) -> None:
        """Re-read everything from the session (after changing `session` directly)."""
        with self._lock:
            self._paint = editing.paint_from_mask(
                self._session.mask, self._session.width, self._session.height
            )
            self._set_quietly(mask=self._mask_bytes())
            self._after_history_change()

    def close(self) -> None:
        # Also runs from __del__ on a widget whose __init__ failed: close what was made.
        runner = getattr(self, "_runner", None)
        if runner is not None:
            runner.stop()
            runner.wait(timeout=10)
        parts = ("_portable", "controls", "canvas")
        for part in (getattr(self, name, None) for name in parts):
            if part is not None:
                part.close()
        super().close()

    def _display_(self) -> Any:
        """marimo's display hook. marimo shows anywidgets but not ipywidgets, so there the canvas
        comes with a portable copy of the control panel (the same ipywidgets behind it)."""
        import marimo as mo

        from dragwidget.widget.portable import PortablePanel

        if self._portable is None:
            self._portable = PortablePanel(self.controls)
        return mo.hstack(
            [mo.ui.anywidget(self.canvas), mo.ui.anywidget(self._portable)],
            justify="start",
            align="start",
            wrap=True,
            gap=0,
        )

    # ----- the front end's messages --------------------------------------------------------------

    def _on_msg(self, _widget: Any, content: Any, buffers: list) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ack":
            frame_id = content.get("id")
            if isinstance(frame_id, int) and not isinstance(frame_id, bool):
                self._stream.ack(frame_id)
            else:
                self._show_error(f"an ack needs an integer frame id, not {frame_id!r}")
        elif kind == "ready":
            self._send_current_frame()
        elif kind == "stroke":
            self._from_front(self._stroke, content, buffers)
        elif kind == "command":
            self._from_front(self._command, content.get("name"))
        else:
            self._show_error(f"the widget got a message it does not understand (type {kind!r})")

    def _stroke(self, content: dict, buffers: list) -> None:
        value, radius, xy = editing.parse_stroke(content, buffers)
        if self._runner.running:
            self.canvas.send_state("mask")  # the view drew the stroke already: redraw the truth
            raise DragBusyError("Stop the drag before painting the mask.")
        with self._lock:
            paint = self._paint.copy()
            editing.paint_stroke(paint, xy, radius, value)
            self._apply_paint(paint)
            self._set_status("")

    def _command(self, name: Any) -> None:
        actions: dict[str, Callable[[], Any]] = {
            # a second Start (a double click, a key pressed twice) while dragging changes nothing
            "start": lambda: None if self.running else self.start(),
            "stop": self.stop,
            "undo": self.undo,
            "redo": self.redo,
            "reset_points": self.clear_points,
            "reset_mask": self.reset_mask,
        }
        if name not in actions:
            raise ValueError(f"unknown command {name!r}; the commands are {', '.join(actions)}")
        actions[name]()

    def _on_points_trait(self, change: dict) -> None:
        if self._quiet:
            return

        def apply() -> None:
            try:
                pairs = editing.parse_points(change["new"], self.canvas.width, self.canvas.height)
                if self._runner.running:
                    raise DragBusyError("Stop the drag before editing points.")
            except (ValueError, DragBusyError):
                self._set_quietly(points=change["old"])
                raise
            with self._lock:
                self._mirror_points([(h, t) for h, t in pairs if t is not None])
                self._set_status("")

        self._from_front(apply)

    def _on_mask_trait(self, change: dict) -> None:
        if self._quiet:
            return

        def apply() -> None:
            try:
                paint = editing.parse_mask_bytes(
                    change["new"], self.canvas.width, self.canvas.height
                )
                if self._runner.running:
                    raise DragBusyError("Stop the drag before painting the mask.")
            except (ValueError, DragBusyError):
                self._set_quietly(mask=change["old"])
                raise
            with self._lock:
                self._apply_paint(paint)
                self._set_status("")

        self._from_front(apply)

    def _on_mode_trait(self, change: dict) -> None:
        if change["new"] not in MODES:
            self._set_quietly(mode=change["old"])
            self._show_error(f"mode must be one of {', '.join(MODES)}, not {change['new']!r}")
        elif not self._runner.running:
            self._set_status("")  # the front end shows the new tool's hint

    def _send_current_frame(self) -> None:
        """A view has (re)rendered: give it the latest frame (the settled image when idle)."""
        self._stream.reset()
        if self._runner.running and self._last_frame is not None:
            self._stream.offer(*self._last_frame)
        else:
            self._stream.offer(
                self._frame_content("png", final=True), self.canvas.image, final=True
            )

    # ----- the drag's worker thread --------------------------------------------------------------

    def _on_step(self, record: StepRecord) -> None:
        if self._runner.stop_requested:
            self._session.stop()  # a stop() that came before run() began would be lost
        if record.step == 1:
            self._pacer.reset()
        if self._pacer.wants_frame(self._stream.can_send()):
            self._send_frame(record)
        # The canvas shows each frame's step and distances itself; the bar needs no 100 Hz.
        now = time.monotonic()
        if now - self._progress_at > 0.05:
            self._progress_at = now
            self.controls.progress.value = min(record.step, self.controls.progress.max)
        for callback in list(self._step_callbacks):
            callback(record)

    def _send_frame(self, record: StepRecord) -> None:
        """Draw the image this step tracked on (only now: frames on demand), send it as JPEG."""
        done = self._pacer.drawing()
        image = self._session.step_image() if record.image is None else record.image
        start = time.perf_counter()
        jpeg = encode_jpeg(image)
        self.encode_seconds.append(time.perf_counter() - start)
        done()
        self._trajectory.append(jpeg)
        content = {
            "type": "frame",
            "format": "jpeg",
            "step": record.step,
            "handles": [[x, y] for x, y in record.handles],
            "targets": self._targets,
            "distances": record.distances,
            "final": False,
        }
        self._last_frame = (content, jpeg)
        self._stream.offer(content, jpeg)

    def _on_done(self, result: DragResult | None, error: BaseException | None) -> None:
        try:
            with self._lock:
                self._push_points()
                self._trajectory.append(self._show_settled_image())
        except Exception as exc:  # noqa: BLE001  (keep the widget usable whatever happened)
            log.exception("could not show the final image")
            error = error or exc
        history = self._session.history
        top = history[-1] if history else None
        self._trajectory_entry = top if top is not self._entry_before_drag else None
        if error is not None:
            self._set_status("")
            self._show_error(_drag_failure_message(error))
        elif result is not None:
            self._show_error("")  # what was refused while it ran ("Stop the drag first") is past
            mean = sum(result.distances) / max(1, len(result.distances))
            steps = _count(result.steps, "step")
            if result.converged:
                how = f"reached the targets in {steps}"
            elif result.stopped:
                how = f"stopped after {steps}"
            else:
                how = f"max steps ({result.steps}) reached"
            self._set_status(_join(how, f"mean distance {mean:.1f} px", self._fixed_handles()))
        if result is not None:
            self.controls.progress.value = min(result.steps, self.controls.progress.max)
        self.canvas.running = False  # the controls refresh themselves on it

    # ----- helpers -------------------------------------------------------------------------------

    @property
    def _quiet(self) -> bool:
        return getattr(self._local, "quiet", False)

    def _set_quietly(self, **traits: Any) -> None:
        """Set canvas traits without the observers taking it for the front end's input."""
        self._local.quiet = True
        try:
            for name, value in traits.items():
                setattr(self.canvas, name, value)
        finally:
            self._local.quiet = False

    def _show_error(self, message: str) -> None:
        self.canvas.error = message
        if message and not self._runner.running:
            self._set_status("")  # the error says what happened; an older status would not

    def _set_status(self, text: str) -> None:
        """The status line: the last action, or "" for the front end's hint of what to do next."""
        self.canvas.status = text

    def _fixed_handles(self) -> str:
        """A note naming the handles that sit where the mask says nothing may change."""
        mask = self._session.mask
        if mask is None:
            return ""
        stuck = [
            str(i)
            for i, (handle, _) in enumerate(self._session.points, start=1)
            if not mask[round(handle[1]), round(handle[0])]
        ]
        if not stuck:
            return ""
        if len(stuck) == 1:
            return f"point {stuck[0]}'s handle is outside the area that may change: it cannot move"
        return (
            f"the handles of points {', '.join(stuck)} are outside the area that may change: "
            "they cannot move"
        )

    def _clear_paint_for(self, entry: HistoryEntry) -> None:
        """New image (or its redo): keep the paint for an undo of `entry`, then clear it."""
        self._paint_before[id(entry)] = (entry, self._paint.copy())
        self._apply_paint(np.zeros_like(self._paint))

    def _restore_paint_for(self, entry: HistoryEntry) -> None:
        kept = self._paint_before.pop(id(entry), None)
        if kept is not None:
            self._apply_paint(kept[1])

    def _from_front(self, handler: Callable, *args: Any) -> None:
        """Run a handler of front-end input: a problem goes to `error`, never raises."""
        try:
            handler(*args)
        except (ValueError, DragBusyError) as exc:
            self._show_error(str(exc))
        except Exception as exc:  # noqa: BLE001  (a comm callback must not kill the widget)
            log.exception("dragwidget: unexpected error")
            self._show_error(f"Something went wrong: {type(exc).__name__}: {exc}")
        else:
            self._show_error("")

    @contextlib.contextmanager
    def _scripted(self) -> Iterator[None]:
        """Scripted calls: show a problem in the widget too, then raise it."""
        depth = getattr(self._local, "depth", 0)
        self._local.depth = depth + 1
        try:
            yield
        except (ValueError, DragBusyError) as exc:
            if depth == 0:
                self._show_error(str(exc))
            raise
        else:
            if depth == 0:
                self._show_error("")
        finally:
            self._local.depth = depth

    @contextlib.contextmanager
    def _blocking(self) -> Iterator[None]:
        self._stream.ack_timeout = BLOCKING_FRAME_INTERVAL
        try:
            yield
        finally:
            self._stream.ack_timeout = ACK_TIMEOUT

    def _stop_and_wait(self) -> None:
        """Stop a running drag and wait for it to end (never while holding self._lock)."""
        if self._runner.running:
            self._runner.stop()
            self._runner.wait()

    def _mirror_points(self, pairs: list) -> None:
        """Make the session's points `pairs` (all or nothing)."""
        old = self._session.points
        if pairs == old:
            return
        try:
            self._session.clear_points()
            for handle, target in pairs:
                self._session.add_point(handle, target)
        except Exception:
            with contextlib.suppress(Exception):
                self._session.clear_points()
                for handle, target in old:
                    self._session.add_point(handle, target)
            raise

    def _push_points(self, keep_incomplete: bool = True) -> None:
        """Send the session's points to the front end, keeping a handle still without target."""
        pairs: list = list(self._session.points)
        if keep_incomplete:
            with contextlib.suppress(ValueError):
                current = editing.parse_points(
                    self.canvas.points, self.canvas.width, self.canvas.height
                )
                pairs += [(h, None) for h, t in current if t is None]
        self._set_quietly(points=editing.points_trait(pairs))

    def _apply_paint(self, paint: np.ndarray) -> None:
        self._session.set_mask(editing.may_change(paint))
        self._paint = paint
        self._set_quietly(mask=self._mask_bytes())

    def _mask_bytes(self) -> bytes:
        return self._paint.tobytes() if self._paint.any() else b""

    def _show_settled_image(self) -> bytes:
        """The image trait and a final PNG frame for the views; returns the PNG."""
        png = encode_png(self._session.image())
        self._set_quietly(image=png)
        self._stream.offer(self._frame_content("png", final=True), png, final=True)
        return png

    def _after_history_change(self) -> None:
        self.canvas.send({"type": "clear_path"})  # the last drag's tracked paths no longer apply
        self._push_points(keep_incomplete=False)
        self._show_settled_image()
        self.controls.refresh()

    def _frame_content(self, fmt: str, final: bool) -> dict:
        points = self._session.points
        return {
            "type": "frame",
            "format": fmt,
            "step": 0,
            "handles": [[h[0], h[1]] for h, _ in points],
            "targets": [[t[0], t[1]] for _, t in points],
            "distances": [math.dist(h, t) for h, t in points],
            "final": final,
        }

    def _provenance(self, session_path: Path) -> dict[str, Any]:
        from dataclasses import asdict

        g = self._session.generator
        return {
            "model": {
                "name": getattr(g, "name", None) or type(g).__name__,
                "kind": f"{type(g).__module__}.{type(g).__qualname__}",
                "resolution": [self._session.height, self._session.width],
                "init_kwargs": getattr(g, "init_kwargs", None),
            },
            "seed": self._session.seed,
            "truncation_psi": self._session.truncation_psi,
            "points": [[list(h), list(t)] for h, t in self._session.points],
            "settings": asdict(self._session.resolved_settings()),
            "drags": sum(1 for e in self._session.history if e.kind == "drag"),
            "session_file": session_path.name,
        }


def _shown(value: Any) -> str:
    """A setting's value as the status line says it."""
    if value is None:
        return "auto"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _join(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


def _describe(entry: HistoryEntry) -> str:
    if entry.kind == "new_image":
        return f"New image (seed {entry.seed_before} → {entry.seed_after})"
    return f"a drag of {_count(entry.steps, 'step')}"


def _drag_failure_message(error: BaseException) -> str:
    kept = "The image and the history are kept."
    if isinstance(error, torch.cuda.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return (
            f"The drag stopped: the GPU ran out of memory. {kept} Try a smaller model, the CPU "
            "(DragWidget(..., device='cpu')), or w space instead of w+ (fewer latents to optimize)."
        )
    if isinstance(error, (ValueError, DragBusyError)):
        return f"The drag stopped: {error} {kept}"
    return f"The drag stopped: {type(error).__name__}: {error}. {kept}"
