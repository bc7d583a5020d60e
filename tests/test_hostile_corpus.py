"""Every file of the hostile corpus (tests/hostile_corpus.py), each action in a forked child:
a clear error naming the file (or, for the benign ones, a load), no crash, no hang (30 s of CPU
at most), peak memory under 1 GB, an error message under 4 KB, a non-zero exit from
`models info`, and no code run."""

from __future__ import annotations

import sys

import pytest
from hostile_corpus import MARKER, problems, run_corpus, write_corpus

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="the runner forks and reads /proc/self/status (Linux)"
)


@pytest.mark.timeout(1800)  # about a minute on an idle 2-core CI machine; more when it is busy
def test_every_hostile_file_ends_in_a_clear_error_and_every_benign_one_loads(tmp_path):
    cases = write_corpus(tmp_path)
    assert len({c.name for c in cases}) == len(cases) > 80
    results = run_corpus(cases, tmp_path)
    by_name = {c.name: c for c in cases}
    found = [p for r in results for p in problems(by_name[r.case], r, tmp_path)]
    assert not found, "\n".join(found)
    assert not (tmp_path / MARKER).exists(), "code from a file ran"
    # The step that a 1e300 step size asks for is refused, and the history stays saveable.
    step = next(r for r in results if r.case == "session-step-size-1e300.safetensors")
    assert "the step was refused" in step.note and "loaded again" in step.note
