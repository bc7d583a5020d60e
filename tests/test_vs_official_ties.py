"""benchmarks/vs_official.py breaks float ties in tracking the official's way, and only ties.

The official code itself is not needed: the rule only reads where the official's tracker put
each handle.
"""

import types

import pytest
import torch
from conftest import BENCHMARKS, load_benchmark
from toygen import BlobGenerator

from dragwidget.drag import DragSession


@pytest.fixture
def vs_official(monkeypatch):
    return load_benchmark(BENCHMARKS / "vs_official.py", monkeypatch)


def started_drag(generator) -> DragSession:
    session = DragSession(generator, seed=1, step_size=0.02, tracking="l2", method="draggan")
    session.add_point((32, 32), (44, 32))
    session.step()  # the first step makes the tracker
    return session


def test_a_tie_is_broken_where_the_official_broke_it(vs_official):
    # A generator whose features are the same everywhere: every candidate ties with every other.
    class Flat(BlobGenerator):
        def __init__(self):
            super().__init__(64)
            self.synthesis.features = lambda ws: torch.ones(1, 5, 64, 64) + 0 * ws.sum()

    session = started_drag(Flat())
    official = types.SimpleNamespace(handles=[(33.0, 31.0)])  # in the r2 = 2 window
    ties = vs_official.follow_official_ties(session, official)
    record = session.step()
    assert record.handles == [(33.0, 31.0)] and ties == [2]


def test_a_real_disagreement_is_left_to_show(vs_official):
    session = started_drag(BlobGenerator(64))
    ours = started_drag(BlobGenerator(64)).step().handles  # where our tracker goes on its own
    x, y = ours[0]
    official = types.SimpleNamespace(handles=[(x + 5, y + 5)])  # off the blob's feature
    ties = vs_official.follow_official_ties(session, official)
    assert session.step().handles == ours and ties == []
