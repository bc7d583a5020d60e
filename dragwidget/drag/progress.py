"""A tqdm-style text progress bar for long calls run from a script or a notebook cell."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

BAR_WIDTH = 24


class TextProgress:
    """`label |#########     | 120/300 phase loss 0.123 [12.3 s]`, redrawn in place on `file`.

    `update(record)` takes anything with `step`, `total`, `phase` and `loss`; redraws at most every
    `interval` seconds (and always at the last step). `close()` ends the line.
    """

    def __init__(
        self, total: int, label: str, file: TextIO | None = None, interval: float = 0.1
    ) -> None:
        self.total, self.label, self.interval = total, label, interval
        self.file = file if file is not None else sys.stderr
        self._start = time.perf_counter()
        self._drawn_at = -float("inf")
        self._line = ""

    def update(self, record: Any) -> None:
        now = time.perf_counter()
        if now - self._drawn_at < self.interval and record.step < self.total:
            return
        self._drawn_at = now
        filled = round(BAR_WIDTH * record.step / max(1, self.total))
        bar = "#" * filled + " " * (BAR_WIDTH - filled)
        line = (
            f"{self.label} |{bar}| {record.step}/{self.total} {record.phase} "
            f"loss {record.loss:.4f} [{now - self._start:.1f} s]"
        )
        self.file.write("\r" + line.ljust(len(self._line)))
        self.file.flush()
        self._line = line

    def close(self) -> None:
        if self._line:
            self.file.write("\n")
            self.file.flush()
