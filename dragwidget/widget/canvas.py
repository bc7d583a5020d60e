"""The canvas: an anywidget whose traits are the protocol with the front end (dragwidget/static)."""

from __future__ import annotations

import pathlib

import anywidget
import traitlets
from ipywidgets.widgets.trait_types import bytes_serialization

_STATIC = pathlib.Path(__file__).parent.parent / "static"
_MISSING_ESM = """
export default {
  render({ el }) {
    el.textContent = "dragwidget: the front end (dragwidget/static/widget.js) is missing; "
      + "build it with `npm run build` in js/.";
  },
};
"""

MODES = ("point", "flexible", "fixed", "erase")


class DragCanvas(anywidget.AnyWidget):
    """Image, points and mask as synced traits; frames arrive as binary custom messages.

    Traits hold what a freshly rendered view needs (the settled image, the points, the painted
    mask); the stream of frames during a drag travels as custom messages only. The kernel validates
    every change the front end makes and reverts bad ones, setting `error`.
    """

    _esm = _STATIC / "widget.js" if (_STATIC / "widget.js").is_file() else _MISSING_ESM

    # Bytes set by the front end arrive as memoryviews: bytes_serialization turns them into bytes.
    image = traitlets.Bytes(b"").tag(sync=True, **bytes_serialization)
    width = traitlets.Int(0).tag(sync=True)
    height = traitlets.Int(0).tag(sync=True)
    points = traitlets.List([]).tag(sync=True)
    mode = traitlets.Unicode("point").tag(sync=True)
    brush_radius = traitlets.Int(16).tag(sync=True)
    show_mask = traitlets.Bool(True).tag(sync=True)
    mask = traitlets.Bytes(b"").tag(sync=True, **bytes_serialization)
    running = traitlets.Bool(False).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
