"""The two errors a checkpoint reader raises; every message names the file and the problem."""

from __future__ import annotations

import pickle

from dragwidget.messages import shorten


class CheckpointError(ValueError):
    """The file is not a generator checkpoint we can read: empty, truncated, corrupt, unknown.

    The message is capped at a couple of thousand characters, whatever the file put into it.
    """

    def __init__(self, message: str = ""):
        super().__init__(shorten(str(message)))


class UnsafeCheckpointError(CheckpointError):
    """The file asks for code we will not run (a pickle global outside the allow-list), or for
    something no real checkpoint holds and only an attack would (see limits.py)."""


def with_name(e: CheckpointError, name: str) -> CheckpointError:
    """`e`, its message starting with the file's name (once)."""
    message = str(e)
    return e if message.startswith(name) else type(e)(f"{name}: {message}")


def from_torch_load(name: str, what: str, e: Exception) -> CheckpointError:
    """Our error for a failed `torch.load(weights_only=True)`: its refusals are unsafe files."""
    if isinstance(e, CheckpointError):
        return type(e)(f"{name}: {what}: {e}")
    if isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in str(e):
        # torch's message is a page of advice; the line that names the global is what matters.
        lines = [ln for ln in str(e).splitlines() if "GLOBAL" in ln or "global" in ln]
        reason = lines[0].strip() if lines else str(e).splitlines()[0]
        return UnsafeCheckpointError(f"{name}: {what}: refused by torch's safe loader: {reason}")
    if isinstance(e, EOFError) or "unexpected EOF" in str(e) or "truncated" in str(e):
        return CheckpointError(f"{name}: {what}: the file ends early (truncated?)")
    return CheckpointError(f"{name}: {what}: cannot be read ({type(e).__name__}: {e})")
