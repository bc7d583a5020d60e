"""Every benchmark script imports: a renamed helper in one module breaks the scripts that use it,
and the benchmarks themselves run only by hand."""

import pytest
from conftest import BENCHMARKS, load_benchmark


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.py")), ids=lambda p: p.name)
def test_the_benchmark_script_imports(path, monkeypatch):
    module = load_benchmark(path, monkeypatch)
    assert module.__doc__, f"{path.name} should say what it measures"
