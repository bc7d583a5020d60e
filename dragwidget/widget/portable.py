"""The control panel for hosts that show anywidgets but not ipywidgets (marimo).

`PortablePanel(panel)` mirrors an ipywidgets panel (the ControlPanel) in an anywidget of its own:
each control becomes an entry of the `controls` trait, kept in step with it, and what a person
does in the page goes back to that very ipywidget (a click runs its handlers, a typed value sets
its `value`, a chosen file becomes a FileUpload's `value`). So there is one panel, defined once,
and the same handlers run in every host.

Pictures (ipywidgets Image) travel apart, in the `images` trait, as binary buffers: `controls`
changes many times a second while a drag runs, and a picture should not travel with each change.
"""

from __future__ import annotations

import math
import pathlib
import threading
import time
from typing import Any

import anywidget
import ipywidgets
import traitlets

from dragwidget.drag.pictures import MAX_FILE_BYTES

_STATIC = pathlib.Path(__file__).parent.parent / "static"


class PortablePanel(anywidget.AnyWidget):
    """An anywidget drawing `panel`'s controls; their state arrives as `controls`."""

    _esm = _STATIC / "panel.js"

    controls = traitlets.Dict({}).tag(sync=True)
    # str(control id) -> the bytes of that Image control
    images = traitlets.Dict({}).tag(sync=True)

    def __init__(self, panel: ipywidgets.Box, max_upload_bytes: int = MAX_FILE_BYTES) -> None:
        """`max_upload_bytes`: the largest file the page sends. By default what the picture
        reader takes: a bigger file would travel only to be refused."""
        super().__init__()
        self._panel = panel
        self._max_upload_bytes = max_upload_bytes
        self._widgets: list[ipywidgets.Widget] = []
        self._lock = threading.Lock()
        self._tree = self._walk(panel)
        for widget in self._widgets:
            widget.observe(self._refresh)
            if isinstance(getattr(widget, "layout", None), ipywidgets.Layout):
                widget.layout.observe(self._refresh, "display")  # shown or hidden
            if isinstance(widget, ipywidgets.Image):
                widget.observe(self._send_images, "value")
        self._refresh()
        self._send_images()
        self.on_msg(self._on_msg)

    def _walk(self, widget: ipywidgets.Widget) -> dict[str, Any]:
        """The panel's structure; leaves refer to their widget by index."""
        if isinstance(widget, ipywidgets.Accordion):
            titles = [widget.get_title(i) or "" for i in range(len(widget.children))]
            return {
                "kind": "sections",
                "titles": titles,
                "children": [self._walk(child) for child in widget.children],
            }
        if isinstance(widget, ipywidgets.Box):
            kind = "row" if isinstance(widget, ipywidgets.HBox) else "column"
            return {"kind": kind, "children": [self._walk(child) for child in widget.children]}
        self._widgets.append(widget)
        return {"id": len(self._widgets) - 1}

    def _refresh(self, _change: Any = None) -> None:
        with self._lock:
            self.controls = self._fill(self._tree)

    def _send_images(self, _change: Any = None) -> None:
        with self._lock:
            self.images = {
                str(index): bytes(widget.value)
                for index, widget in enumerate(self._widgets)
                if isinstance(widget, ipywidgets.Image)
            }

    def _fill(self, node: dict[str, Any]) -> dict[str, Any]:
        if "id" not in node:
            return {**node, "children": [self._fill(child) for child in node["children"]]}
        return {"id": node["id"], **self._spec(node["id"])}

    def _spec(self, index: int) -> dict[str, Any]:
        spec = describe(self._widgets[index])
        if spec["kind"] == "upload":
            spec["max_bytes"] = self._max_upload_bytes
        return spec

    def _on_msg(self, _widget: Any, content: Any, buffers: list) -> None:
        if not isinstance(content, dict):
            return
        index = content.get("id")
        if not isinstance(index, int) or not 0 <= index < len(self._widgets):
            return
        widget = self._widgets[index]
        if content.get("type") == "click" and isinstance(widget, ipywidgets.Button):
            widget.click()
        elif content.get("type") == "set":
            value = content.get("value")
            if isinstance(widget, _CHOICES) and isinstance(value, int):
                if 0 <= value < len(widget.options):
                    widget.index = value
            elif isinstance(widget, ipywidgets.Text) and isinstance(value, str):
                widget.value = value
            elif isinstance(widget, (ipywidgets.FloatLogSlider, ipywidgets.FloatSlider)):
                if isinstance(value, (int, float)):
                    widget.value = float(value)
            self._answer(index)
        elif content.get("type") == "upload" and isinstance(widget, ipywidgets.FileUpload):
            self._upload(widget, content.get("files"), buffers)
            self._answer(index)

    def _answer(self, index: int) -> None:
        # The value in force now, even if it is the one from before (a refused value is put
        # back before `controls` could change): the page shows it instead of what was typed.
        self.send({"type": "control", "id": index, "spec": self._spec(index)})

    def _upload(self, widget: ipywidgets.FileUpload, files: Any, buffers: list) -> None:
        """Files chosen in the page become `widget`'s value, as its own front end sets it (one
        buffer per file, content and metadata), so its observers run as in Jupyter."""
        if not isinstance(files, list) or not files or len(files) != len(buffers):
            return
        if len(files) > 1 and not widget.multiple:
            return
        contents = [memoryview(buffer).cast("B") for buffer in buffers]
        if not all(isinstance(f, dict) for f in files) or any(
            content.nbytes > self._max_upload_bytes for content in contents
        ):
            return
        value = []
        for meta, content in zip(files, contents, strict=True):
            modified = meta.get("last_modified")  # ms since 1970, as File.lastModified
            if not _is_time(modified):
                modified = time.time() * 1000
            value.append(
                {
                    "name": str(meta.get("name", "")),
                    "type": str(meta.get("type", "")),
                    "size": content.nbytes,
                    "content": content,
                    "last_modified": modified,
                }
            )
        widget.set_state({"value": value})  # the from-json path of the widget's own front end


_CHOICES = (ipywidgets.Dropdown, ipywidgets.ToggleButtons)


def _is_time(ms: Any) -> bool:
    """A time in ms since 1970 that a datetime can hold (up to the year 9999)."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return False
    return math.isfinite(ms) and 0 <= ms < 253_402_300_800_000


def describe(widget: ipywidgets.Widget) -> dict[str, Any]:
    """What the page needs to draw one control (and only that)."""
    layout = getattr(widget, "layout", None)
    hidden = isinstance(layout, ipywidgets.Layout) and layout.display == "none"
    return {**_describe(widget), "hidden": hidden}


def _describe(widget: ipywidgets.Widget) -> dict[str, Any]:
    label = getattr(widget, "description", "") or ""
    disabled = bool(getattr(widget, "disabled", False))
    if isinstance(widget, ipywidgets.Button):
        return {
            "kind": "button",
            "label": label,
            "disabled": disabled,
            "style": widget.button_style,
            "tooltip": widget.tooltip or "",
        }
    if isinstance(widget, ipywidgets.Text):
        return {
            "kind": "text",
            "label": label,
            "value": widget.value,
            "placeholder": widget.placeholder,
            "disabled": disabled,
        }
    if isinstance(widget, _CHOICES):
        return {
            "kind": "choice",
            "label": label,
            "look": "buttons" if isinstance(widget, ipywidgets.ToggleButtons) else "list",
            "options": [str(option) for option in widget._options_labels],
            "index": widget.index,
            "disabled": disabled,
        }
    if isinstance(widget, ipywidgets.FileUpload):
        return {
            "kind": "upload",
            "label": label,
            "accept": widget.accept,
            "multiple": widget.multiple,
            "count": len(widget.value),
            "style": widget.button_style,
            "disabled": disabled,
        }
    if isinstance(widget, ipywidgets.Image):  # the bytes travel in PortablePanel.images
        return {"kind": "image", "label": label, "format": widget.format}
    if isinstance(widget, ipywidgets.FloatLogSlider):
        return {
            "kind": "slider",
            "label": label,
            "log_base": widget.base,
            "min": widget.min,
            "max": widget.max,
            "step": widget.step,
            "value": widget.value,
            "readout": format(widget.value, widget.readout_format),
            "disabled": disabled,
        }
    if isinstance(widget, ipywidgets.FloatSlider):
        return {
            "kind": "slider",
            "label": label,
            "log_base": None,
            "min": widget.min,
            "max": widget.max,
            "step": widget.step,
            "value": widget.value,
            "readout": format(widget.value, widget.readout_format),
            "disabled": disabled,
        }
    if isinstance(widget, (ipywidgets.IntProgress, ipywidgets.FloatProgress)):
        return {"kind": "progress", "label": label, "value": widget.value, "max": widget.max}
    if isinstance(widget, (ipywidgets.Label, ipywidgets.HTML)):
        return {"kind": "label", "label": label, "text": str(widget.value)}
    return {"kind": "missing", "label": label or type(widget).__name__}
