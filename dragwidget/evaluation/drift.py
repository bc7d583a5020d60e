"""Handle drift: where a drag's tracking says a handle is, against where a detector finds it.

A drag reports its handles after every step; on the faces model the landmark detector
(`dragwidget.evaluation.landmarks`) says independently where each dragged landmark is on that
step's image. Their distance is the tracking error: large when tracking has let go of the feature
(the drift of smooth, textureless areas the DragGAN paper reports). A drag that stops because
tracking says "arrived" while the detector puts a landmark more than `FALSE_ARRIVAL_PX` from its
handle has declared a false arrival: the content did not get there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dragwidget.evaluation.landmarks import LandmarkDetector, to_tensor

FALSE_ARRIVAL_PX = 2.0


@dataclass
class DriftRecord:
    """One drag, step by step: tracked and detected positions [S, N, 2] of its N handles."""

    tracked: np.ndarray
    detected: np.ndarray
    converged: bool

    @property
    def errors(self) -> np.ndarray:
        """Tracking error per step and handle [S, N], pixels."""
        return np.linalg.norm(self.tracked - self.detected, axis=-1)

    @property
    def false_arrival(self) -> bool:
        """Tracking declared arrival while the detector disagrees by more than 2 px."""
        return self.converged and bool(self.errors[-1].max() > FALSE_ARRIVAL_PX)


@dataclass
class DriftSummary:
    median_px: float
    p90_px: float
    false_arrival_rate: float
    drags: int


def summarize(records: Sequence[DriftRecord]) -> DriftSummary:
    """Median and 90th percentile of the tracking error over every step and handle of every
    drag, and the share of drags that declared a false arrival."""
    if not records:
        raise ValueError("summarize needs at least one drag")
    errors = np.concatenate([r.errors.ravel() for r in records])
    return DriftSummary(
        median_px=float(np.median(errors)),
        p90_px=float(np.percentile(errors, 90)),
        false_arrival_rate=sum(r.false_arrival for r in records) / len(records),
        drags=len(records),
    )


class DetectorWatch:
    """An `on_step` callback for `DragSession.run(render=True)` that records, step by step, the
    tracked handles and the detector's positions of the landmarks `indices` on the step's image.

    The step's image is the one its handles were tracked on, so the two describe the same picture.
    """

    def __init__(self, detector: LandmarkDetector, indices: Sequence[int]) -> None:
        self.detector, self.indices = detector, list(indices)
        self.tracked: list[np.ndarray] = []
        self.detected: list[np.ndarray] = []

    def __call__(self, record) -> None:
        if record.image is None:
            raise ValueError("DetectorWatch needs the step's image: run(..., render=True)")
        marks, _ = self.detector.detect(to_tensor(record.image[None]))
        self.detected.append(marks[0, self.indices].numpy())
        self.tracked.append(np.asarray(record.handles, dtype=np.float32))

    def record(self, converged: bool) -> DriftRecord:
        return DriftRecord(np.stack(self.tracked), np.stack(self.detected), converged)


@torch.no_grad()
def detect_landmarks(detector: LandmarkDetector, image: np.ndarray) -> np.ndarray:
    """The detector's landmarks [K, 2] on one H x W x 3 uint8 image."""
    marks, _ = detector.detect(to_tensor(image[None]))
    return marks[0].numpy()
