"""A comm that records what a widget sends, and helpers that play the front end's part."""

from __future__ import annotations

import threading
from typing import Any

import comm
import pytest


class RecordingComm:
    """Stands in for the kernel's comm: keeps every message the widget sends."""

    comm_id = "recording"
    kernel = "a kernel"  # ipywidgets only sends when this is truthy

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.open_data = kwargs.get("data")
        self.sent: list[tuple[dict, list]] = []
        self.handler = None
        self.on_send = None  # called as on_send(data, buffers) after recording: a fake front end
        self._lock = threading.Lock()

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, callback: Any) -> None:
        self.handler = callback

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        with self._lock:
            self.sent.append((data, list(buffers or [])))
        if self.on_send is not None:
            self.on_send(data, list(buffers or []))

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    # what was sent

    def custom(self, kind: str | None = None) -> list[tuple[dict, list]]:
        with self._lock:
            sent = list(self.sent)
        out = [(d["content"], b) for d, b in sent if d.get("method") == "custom"]
        return [m for m in out if kind is None or m[0].get("type") == kind]

    def frames(self) -> list[tuple[dict, bytes]]:
        return [(c, bytes(b[0])) for c, b in self.custom("frame")]

    def updates(self, name: str) -> list[Any]:
        with self._lock:
            sent = list(self.sent)
        return [
            d["state"][name] for d, _ in sent if d.get("method") == "update" and name in d["state"]
        ]

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()


@pytest.fixture
def recording_comm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))


def send_msg(widget: Any, content: dict, buffers: list | None = None) -> None:
    """The front end's model.send(content, undefined, buffers)."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
    )


def set_from_front(widget: Any, **state: Any) -> None:
    """The front end's model.set(...); model.save_changes() (bytes travel as buffers)."""
    paths, buffers = [], []
    for name, value in list(state.items()):
        if isinstance(value, (bytes, bytearray, memoryview)):
            paths.append([name])
            buffers.append(memoryview(value))
            state[name] = None
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": paths}},
            "buffers": buffers,
        }
    )
