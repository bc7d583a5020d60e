"""The control panel beside the canvas: plain ipywidgets calling DragWidget's public methods."""

from __future__ import annotations

import contextlib
import functools
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from dragwidget.drag import DragBusyError
from dragwidget.drag.methods import METHODS
from dragwidget.widget.open_image import OpenImagePanel

if TYPE_CHECKING:
    from dragwidget.widget.widget import DragWidget

_LABEL = {"description_width": "7.5em"}
_METHOD_LABELS = {
    "draggan": "DragGAN (the paper)",
    "freedrag": "FreeDrag (template, line search)",
    "stabledrag": "StableDrag (learned tracker)",
    "patchdrag": "PatchDrag (block matching)",
}


def _row() -> w.Layout:
    # "auto" in a column stretches to the panel; "100%" would overflow by the widget's margin.
    return w.Layout(width="auto")


def _number_box(description: str, layout: w.Layout | None = None) -> w.Text:
    """A typed number, sent on Enter or when the box loses focus.

    Text rather than IntText: a number box would quietly clamp -1 to its minimum or blank out
    "abc", and the person would never learn why; here every value reaches the kernel, which
    takes it or says what is wrong with it.
    """
    return w.Text(
        description=description, style=_LABEL, continuous_update=False, layout=layout or _row()
    )


@functools.cache
def default_folder() -> Path:
    """Where Save and Export write unless told otherwise: a folder of its own under the temp
    folder (one per kernel), never the notebook's folder (a checkout, perhaps)."""
    return Path(tempfile.mkdtemp(prefix="dragwidget-"))


class ControlPanel(w.VBox):
    """Seed, settings, Start/Stop, history, save/export and progress.

    The tool (points / brush), the status line and errors are the canvas's own (its toolbar).

    Every action goes through DragWidget's public methods, so a click and a script do the same
    thing; their errors are already shown in the widget and are swallowed here.
    """

    def __init__(self, widget: DragWidget) -> None:
        self._widget = widget
        self._refreshing = False
        session = widget.session

        self.seed = _number_box("Seed", w.Layout(width="14em"))  # Enter makes the new image
        self.new_image = w.Button(description="New image", icon="image")
        self.open_image = OpenImagePanel(widget)
        opening = w.Accordion(children=[self.open_image], titles=("Open image",))
        opening.selected_index = None
        self.latent_space = w.Dropdown(
            options=[("w+ (a latent per layer)", "w+"), ("w (one latent)", "w")],
            description="Latent space", style=_LABEL, layout=_row(),
        )  # fmt: skip
        self.step_size = w.FloatLogSlider(
            base=10, min=-4, max=-1, step=0.1, description="Step size", style=_LABEL,
            readout_format=".1e", layout=_row(),
        )  # fmt: skip
        self.mask_weight = _number_box("Mask weight λ")
        self.max_steps = _number_box("Max steps")
        self.r1 = _number_box("r1 (motion)")
        self.r2 = _number_box("r2 (tracking)")
        self.free_layers = _number_box("Free layers")
        self.stop_distance = _number_box("Stop at (px)")
        self.method = w.Dropdown(
            options=[(_METHOD_LABELS.get(name, name), name) for name in METHODS],
            description="Method", style=_LABEL, layout=_row(),
        )  # fmt: skip
        advanced = w.Accordion(
            children=[
                w.VBox([self.method, self.r1, self.r2, self.free_layers, self.stop_distance])
            ],
            titles=("Advanced",),
            selected_index=None,
        )

        # Two buttons, as in the official DragGAN GUI: a double click on Start starts one drag.
        self.start_button = w.Button(description="Start", icon="play", button_style="success")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.undo = w.Button(description="Undo", icon="undo")
        self.redo = w.Button(description="Redo", icon="repeat")
        self.reset_points = w.Button(description="Reset points", icon="times")
        self.reset_mask = w.Button(description="Reset mask", icon="eraser")
        self.progress = w.IntProgress(
            value=0, min=0, max=session.settings.max_steps, description="Steps", style=_LABEL,
            layout=_row(),
        )  # fmt: skip
        folder = default_folder()
        self.save_path = w.Text(
            value=str(folder / "drag.png"), layout=w.Layout(flex="1 1 auto", width="auto")
        )
        self.save = w.Button(description="Save", icon="save", layout=w.Layout(width="7.5em"))
        self.export_path = w.Text(
            value=str(folder / "drag.gif"), layout=w.Layout(flex="1 1 auto", width="auto")
        )
        self.export = w.Button(description="Export", icon="film", layout=w.Layout(width="7.5em"))

        small = w.Layout(width="auto", flex="1 1 auto")
        buttons = (self.start_button, self.stop_button, self.undo, self.redo)
        for button in (*buttons, self.reset_points, self.reset_mask):
            button.layout = small
        super().__init__(
            [
                w.HBox([self.seed, self.new_image]),
                opening,
                self.latent_space,
                self.step_size,
                self.mask_weight,
                self.max_steps,
                advanced,
                w.HBox(list(buttons), layout=_row()),
                w.HBox([self.reset_points, self.reset_mask], layout=_row()),
                self.progress,
                w.HBox([self.save_path, self.save], layout=_row()),
                w.HBox([self.export_path, self.export], layout=_row()),
            ],
            layout=w.Layout(width="24em", padding="0 0 0 12px"),
        )
        self._wire()
        self.refresh()

    def _wire(self) -> None:
        widget, canvas = self._widget, self._widget.canvas
        self.new_image.on_click(lambda _: self._new_image())
        self.seed.observe(lambda _: self._new_image(), "value")
        # A click that reached the kernel before the button was disabled changes nothing.
        self.start_button.on_click(lambda _: widget.running or self._act(widget.start))
        self.stop_button.on_click(lambda _: self._act(widget.stop))
        self.undo.on_click(lambda _: self._act(widget.undo))
        self.redo.on_click(lambda _: self._act(widget.redo))
        self.reset_points.on_click(lambda _: self._act(widget.clear_points))
        self.reset_mask.on_click(lambda _: self._act(widget.reset_mask))
        self.save.on_click(lambda _: self._act(widget.save, self.save_path.value))
        self.export.on_click(lambda _: self._act(widget.export, self.export_path.value))

        self.latent_space.observe(lambda c: self._setting("latent_space", c["new"]), "value")
        self.method.observe(lambda c: self._setting("method", c["new"]), "value")
        self.step_size.observe(self._on_step_size, "value")
        for name in ("mask_weight", "max_steps", "free_layers", "r1", "r2", "stop_distance"):
            getattr(self, name).observe(
                lambda c, name=name: self._setting(name, _optional_number(c["new"])), "value"
            )
        canvas.observe(self._on_running, "running")

    def refresh(self) -> None:
        """Show the session's settings and what can be done now."""
        session = self._widget.session
        settings, resolved = session.settings, session.resolved_settings()
        with self._quiet():
            self.seed.value = "" if session.seed is None else str(session.seed)
            self.latent_space.value = settings.latent_space
            self.step_size.value = resolved.step_size
            self.mask_weight.value = f"{settings.mask_weight:g}"
            self.max_steps.value = str(settings.max_steps)
            self.free_layers.value = str(resolved.free_layers)
            self.method.value = settings.method
            for name in ("r1", "r2", "stop_distance"):
                value = getattr(settings, name)
                control = getattr(self, name)
                control.value = "" if value is None else f"{value:g}"
                control.placeholder = f"auto ({getattr(resolved, name):g})"
        self.undo.disabled = not session.can_undo
        self.redo.disabled = not session.can_redo
        if not self._widget.running:
            self.progress.max = settings.max_steps

    def _on_running(self, change: dict) -> None:
        running = change["new"]
        if not running:
            self.refresh()  # Undo is ready by the time Start is: a quick click never meets it off
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        self.stop_button.button_style = "danger" if running else ""

    def _setting(self, name: str, value: Any) -> None:
        if self._refreshing:
            return
        try:
            self._widget.update_settings(**{name: value})
        except (ValueError, DragBusyError):
            self._keep(getattr(self, name))

    def _on_step_size(self, change: dict) -> None:
        # The slider's front end snaps the value to its grid (10 ** (k / 10)) when it draws it, and
        # sends that back: a value within half a grid step of the one in force is not a new one.
        in_force = self._widget.session.resolved_settings().step_size
        if abs(math.log10(change["new"] / in_force)) <= self.step_size.step / 2 + 1e-9:
            return
        self._setting("step_size", change["new"])

    def _new_image(self) -> None:
        if self._refreshing:
            return
        text = self.seed.value.strip()
        try:
            seed: Any = int(text)
        except ValueError:
            seed = text  # new_image names the problem
        try:
            self._widget.new_image(seed)
        except (ValueError, DragBusyError):
            self._keep(self.seed)

    def _keep(self, control: w.Text) -> None:
        """After a refused value: show the value still in force, and say so after the error."""
        self.refresh()
        kept = control.value or control.placeholder
        error = self._widget.error
        self._widget.canvas.error = f"{error}; {control.description} stays {kept}"

    def _act(self, action: Callable, *args: Any) -> None:
        with contextlib.suppress(ValueError, DragBusyError):  # already shown in the widget
            action(*args)

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        self._refreshing = True
        try:
            yield
        finally:
            self._refreshing = False


def _optional_number(text: str) -> float | int | None:
    """'' -> None (auto); '3' -> 3; '2.5' -> 2.5; anything else is passed on for the error."""
    text = text.strip()
    if not text or text.lower() == "auto" or text.lower().startswith("auto ("):
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # type: ignore[return-value]  (update_settings names the problem)
