"""The control panel for hosts that show anywidgets but not ipywidgets (marimo).

`PortablePanel(panel)` mirrors an ipywidgets panel (the ControlPanel) in an anywidget of its own:
each control becomes an entry of the `controls` trait, kept in step with it, and what a person
does in the page goes back to that very ipywidget (a click runs its handlers, a typed value sets
its `value`). So there is one panel, defined once, and the same handlers run in every host.
"""

from __future__ import annotations

import pathlib
import threading
from typing import Any

import anywidget
import ipywidgets
import traitlets

_STATIC = pathlib.Path(__file__).parent.parent / "static"


class PortablePanel(anywidget.AnyWidget):
    """An anywidget drawing `panel`'s controls; their state arrives as `controls`."""

    _esm = _STATIC / "panel.js"

    controls = traitlets.Dict({}).tag(sync=True)

    def __init__(self, panel: ipywidgets.Box) -> None:
        super().__init__()
        self._panel = panel
        self._widgets: list[ipywidgets.Widget] = []
        self._lock = threading.Lock()
        self._tree = self._walk(panel)
        for widget in self._widgets:
            widget.observe(self._refresh)
        self._refresh()
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

    def _fill(self, node: dict[str, Any]) -> dict[str, Any]:
        if "id" not in node:
            return {**node, "children": [self._fill(child) for child in node["children"]]}
        return {"id": node["id"], **describe(self._widgets[node["id"]])}

    def _on_msg(self, _widget: Any, content: Any, _buffers: list) -> None:
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
            if isinstance(widget, ipywidgets.Dropdown) and isinstance(value, int):
                widget.index = value
            elif isinstance(widget, ipywidgets.Text) and isinstance(value, str):
                widget.value = value
            elif isinstance(widget, (ipywidgets.FloatLogSlider, ipywidgets.FloatSlider)):
                if isinstance(value, (int, float)):
                    widget.value = float(value)
            # The value in force now, even if it is the one from before (a refused value is put
            # back before `controls` could change): the page shows it instead of what was typed.
            self.send({"type": "control", "id": index, "spec": describe(widget)})


def describe(widget: ipywidgets.Widget) -> dict[str, Any]:
    """What the page needs to draw one control (and only that)."""
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
    if isinstance(widget, ipywidgets.Dropdown):
        return {
            "kind": "choice",
            "label": label,
            "options": [str(option) for option in widget._options_labels],
            "index": widget.index,
            "disabled": disabled,
        }
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
