"""dragwidget: DragGAN point-based image editing as a Jupyter widget, in plain PyTorch.

In a notebook, `DragWidget()` shows the embedded default model; from a script,
`DragSession(load_generator(), seed=3)` drives the same engine.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["DragSession", "DragWidget", "load_generator", "save_generator", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that a headless script (or a GPU box without ipywidgets) imports only what it uses.
    if name == "DragSession":
        from dragwidget.drag import DragSession

        return DragSession
    if name == "DragWidget":
        from dragwidget.widget import DragWidget

        return DragWidget
    if name in ("load_generator", "save_generator"):
        from dragwidget import checkpoints

        return getattr(checkpoints, name)
    raise AttributeError(f"module 'dragwidget' has no attribute {name!r}")
