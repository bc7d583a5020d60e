"""The "Open image" control: choose a picture (upload or path), see what the fit keeps, invert it.

The preview shows the whole picture with the part that is kept outlined (crop) or the padding
added around it (pad). Invert calls DragWidget.open_image, which runs in the background while the
canvas shows the reconstruction sharpening and the progress bar fills.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import ipywidgets as w
from PIL import Image

from dragwidget.drag import DragBusyError
from dragwidget.drag.pictures import fit_picture, fit_preview, open_picture

if TYPE_CHECKING:
    from dragwidget.widget.widget import DragWidget


class OpenImagePanel(w.VBox):
    def __init__(self, widget: DragWidget) -> None:
        self._widget = widget
        self._picture: Image.Image | None = None
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Upload")
        self.path = w.Text(placeholder="or a file path", layout=w.Layout(flex="1 1 auto"))
        self.open_path = w.Button(
            description="Open", icon="folder-open", layout=w.Layout(width="6em")
        )
        self.fit = w.ToggleButtons(
            options=[("Crop", "crop"), ("Pad", "pad")], value="crop", style={"button_width": "5em"}
        )
        self.crop_position = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="Crop at", readout_format=".2f"
        )
        self.preview = w.Image(format="png", layout=w.Layout(max_width="100%", display="none"))
        self.invert = w.Button(
            description="Invert", icon="magic", button_style="info", disabled=True,
            tooltip="Invert the picture into the model (projection, then pivotal tuning)",
        )  # fmt: skip
        super().__init__(
            [
                self.upload,
                w.HBox([self.path, self.open_path]),
                self.fit,
                self.crop_position,
                self.preview,
                self.invert,
            ]
        )
        self.upload.observe(self._on_upload, "value")
        self.open_path.on_click(lambda _: self._choose(self.path.value.strip()))
        self.fit.observe(lambda _: self._show_fit(), "value")
        self.crop_position.observe(lambda _: self._show_fit(), "value")
        self.invert.on_click(lambda _: self._start())

    @property
    def picture(self) -> Image.Image | None:
        """The chosen picture (RGB), before fitting."""
        return self._picture

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if files:
            self._choose(bytes(files[0]["content"]), files[0].get("name", "the upload"))

    def _choose(self, source: str | bytes, name: str | None = None) -> None:
        canvas = self._widget.canvas
        try:
            if source == "":
                raise ValueError("type the path of a picture first")
            self._picture = open_picture(source)
        except ValueError as error:
            canvas.error = str(error) if name is None else str(error).replace("the picture", name)
            return
        canvas.error = ""
        self._show_fit()

    def _show_fit(self) -> None:
        if self._picture is None:
            return
        size = height, width = self._widget.session.height, self._widget.session.width
        fitted = fit_picture(self._picture, size, self.fit.value, self.crop_position.value)
        buffer = io.BytesIO()
        fit_preview(self._picture, fitted).save(buffer, format="PNG")
        self.preview.value = buffer.getvalue()
        self.preview.layout.display = None
        same_shape = abs(self._picture.width * height - self._picture.height * width) < max(
            self._picture.width, self._picture.height
        )
        self.crop_position.disabled = self.fit.value == "pad" or same_shape
        self.invert.disabled = False

    def _start(self) -> None:
        if self._picture is None:
            return
        try:
            self._widget.open_image(
                self._picture, fit=self.fit.value, crop_position=self.crop_position.value
            )
        except (ValueError, DragBusyError):
            pass  # already shown in the widget
