"""Run by .ci/run with the Python of a fresh venv that has only the built wheel (and its
dependencies): the package data a user needs must be inside it.

Shows the widget on the default model (the front-end bundles, the default weights), runs a drag,
and finds landmarks with the shipped detector. Run from outside the checkout, so that nothing of
the source tree can stand in for the install.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

import dragwidget
from dragwidget.evaluation.landmarks import load_detector, to_tensor
from dragwidget.widget import DragWidget
from dragwidget.widget.portable import PortablePanel

installed = Path(dragwidget.__file__).resolve().parent
assert "site-packages" in installed.parts, f"dragwidget comes from {installed}, not the wheel"

w = DragWidget()  # the default model, shipped in the wheel
bundle = (installed / "static" / "widget.js").read_text()
assert "export" in bundle and "dw-root" in bundle, "the front end's bundle is not in the wheel"
assert w.canvas._esm == bundle, "the canvas does not load the bundled front end"
assert "dwp-root" in PortablePanel(w.controls)._esm, "the marimo panel's bundle is missing"
shown = w._repr_mimebundle_()
assert "application/vnd.jupyter.widget-view+json" in shown, shown.keys()

size = w.session.width
w.add_point((0.5 * size, 0.4 * size), (0.6 * size, 0.4 * size))
before = w.session.image()
result = w.drag(max_steps=5)
assert result.steps == 5 and len(w.session.history) == 1
assert not np.array_equal(before, w.session.image()), "the drag changed nothing"

detector = load_detector()  # the shipped landmark detector's weights
with torch.no_grad():
    landmarks, confidence = detector.detect(to_tensor(w.session.image()[None]))
assert landmarks.shape[-1] == 2 and torch.isfinite(landmarks).all()
w.close()
print(f"wheel smoke test passed: dragwidget from {installed}, Python {sys.version.split()[0]}")
