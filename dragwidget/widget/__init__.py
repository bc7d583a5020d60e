"""The Jupyter widget: a canvas (anywidget) and a control panel driving a DragSession."""

from dragwidget.widget.widget import DragWidget

__all__ = ["DragWidget"]
