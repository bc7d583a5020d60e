"""The control panel beside the canvas: plain ipywidgets calling DragWidget's public methods."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from dragwidget.drag import DragBusyError
from dragwidget.drag.methods import METHODS

if TYPE_CHECKING:
    from dragwidget.widget.widget import DragWidget

_LABEL = {"description_width": "7.5em"}
_METHOD_LABELS = {
    "draggan": "DragGAN (the paper)",
    "freedrag": "FreeDrag (template, line search)",
    "stabledrag": "StableDrag (learned tracker)",
}


def _row() -> w.Layout:
    # "auto" in a column stretches to the panel; "100%" would overflow by the widget's margin.
    return w.Layout(width="auto")


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

        self.seed = w.BoundedIntText(
            value=session.seed or 0, min=0, max=2**32 - 1, description="Seed", style=_LABEL,
            layout=w.Layout(width="14em"),
        )  # fmt: skip
        self.new_image = w.Button(description="New image", icon="image")
        self.latent_space = w.Dropdown(
            options=[("w+ (a latent per layer)", "w+"), ("w (one latent)", "w")],
            description="Latent space", style=_LABEL, layout=_row(),
        )  # fmt: skip
        self.step_size = w.FloatLogSlider(
            base=10, min=-4, max=-1, step=0.1, description="Step size", style=_LABEL,
            readout_format=".1e", layout=_row(),
        )  # fmt: skip
        self.mask_weight = w.BoundedFloatText(
            min=0, max=1e4, description="Mask weight λ", style=_LABEL, layout=_row()
        )
        self.max_steps = w.BoundedIntText(
            min=1, max=100_000, description="Max steps", style=_LABEL, layout=_row()
        )
        self.r1 = w.Text(
            description="r1 (motion)", style=_LABEL, continuous_update=False, layout=_row()
        )
        self.r2 = w.Text(
            description="r2 (tracking)", style=_LABEL, continuous_update=False, layout=_row()
        )
        self.free_layers = w.BoundedIntText(
            min=1,
            max=session.generator.num_ws,
            description="Free layers",
            style=_LABEL,
            layout=_row(),
        )
        self.stop_distance = w.Text(
            description="Stop at (px)", style=_LABEL, continuous_update=False, layout=_row()
        )
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

        self.start_stop = w.Button(description="Start", icon="play", button_style="success")
        self.undo = w.Button(description="Undo", icon="undo")
        self.redo = w.Button(description="Redo", icon="repeat")
        self.reset_points = w.Button(description="Reset points", icon="times")
        self.reset_mask = w.Button(description="Reset mask", icon="eraser")
        self.progress = w.IntProgress(
            value=0, min=0, max=session.settings.max_steps, description="Steps", style=_LABEL,
            layout=_row(),
        )  # fmt: skip
        self.save_path = w.Text(value="drag.png", layout=w.Layout(flex="1 1 auto", width="auto"))
        self.save = w.Button(description="Save", icon="save", layout=w.Layout(width="7.5em"))
        self.export_path = w.Text(value="drag.gif", layout=w.Layout(flex="1 1 auto", width="auto"))
        self.export = w.Button(description="Export", icon="film", layout=w.Layout(width="7.5em"))

        small = w.Layout(width="auto", flex="1 1 auto")
        for button in (self.undo, self.redo, self.reset_points, self.reset_mask, self.start_stop):
            button.layout = small
        super().__init__(
            [
                w.HBox([self.seed, self.new_image]),
                self.latent_space,
                self.step_size,
                self.mask_weight,
                self.max_steps,
                advanced,
                w.HBox([self.start_stop, self.undo, self.redo], layout=_row()),
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
        self.new_image.on_click(lambda _: self._act(widget.new_image, self.seed.value))
        self.start_stop.on_click(
            lambda _: self._act(widget.stop if widget.running else widget.start)
        )
        self.undo.on_click(lambda _: self._act(widget.undo))
        self.redo.on_click(lambda _: self._act(widget.redo))
        self.reset_points.on_click(lambda _: self._act(widget.clear_points))
        self.reset_mask.on_click(lambda _: self._act(widget.reset_mask))
        self.save.on_click(lambda _: self._act(widget.save, self.save_path.value))
        self.export.on_click(lambda _: self._act(widget.export, self.export_path.value))

        for name in ("latent_space", "step_size", "mask_weight", "max_steps", "free_layers"):
            getattr(self, name).observe(lambda c, name=name: self._setting(name, c["new"]), "value")
        self.method.observe(lambda c: self._setting("method", c["new"]), "value")
        for name in ("r1", "r2", "stop_distance"):
            getattr(self, name).observe(
                lambda c, name=name: self._setting(name, _optional_number(c["new"])), "value"
            )
        canvas.observe(self._on_running, "running")

    def refresh(self) -> None:
        """Show the session's settings and what can be done now."""
        session = self._widget.session
        settings, resolved = session.settings, session.resolved_settings()
        with self._quiet():
            if session.seed is not None:
                self.seed.value = session.seed
            self.latent_space.value = settings.latent_space
            self.step_size.value = settings.step_size
            self.mask_weight.value = settings.mask_weight
            self.max_steps.value = settings.max_steps
            self.free_layers.value = resolved.free_layers
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
        self.start_stop.description = "Stop" if running else "Start"
        self.start_stop.icon = "stop" if running else "play"
        self.start_stop.button_style = "danger" if running else "success"

    def _setting(self, name: str, value: Any) -> None:
        if self._refreshing:
            return
        try:
            self._widget.update_settings(**{name: value})
        except (ValueError, DragBusyError):
            self.refresh()  # show the value still in force

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
