"""The drag engine: DragSession and the step math. Knows generators, not widgets."""

from dragwidget.drag.session import (
    DragBusyError,
    DragResult,
    DragSession,
    HistoryEntry,
    StepRecord,
    check_point,
    preferred_device,
)
from dragwidget.drag.settings import DragSettings, ResolvedSettings

__all__ = [
    "DragBusyError",
    "DragResult",
    "DragSession",
    "DragSettings",
    "HistoryEntry",
    "ResolvedSettings",
    "StepRecord",
    "check_point",
    "preferred_device",
]
