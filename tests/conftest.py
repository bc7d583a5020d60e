"""Shared test helpers: the ../shared reference files, small generators, benchmark modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

TESTS = Path(__file__).resolve().parent
SHARED = TESTS.parents[1] / "shared"
BENCHMARKS = TESTS.parent / "benchmarks"
sys.path.insert(0, str(TESTS))  # for `toygen`


def reference_file(name: str) -> Path:
    """A file of ../shared/reference, or a skip that says why (a fresh clone has no ../shared)."""
    path = SHARED / "reference" / name
    if not path.exists():
        pytest.skip(f"{path} is absent: reference data lives in ../shared beside the checkout")
    return path


def load_benchmark(path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A benchmarks/ script imported as a module (its imports run, not its main())."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"benchmark_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def small_stylegan2(resolution: int = 64, seed: int = 0, **synthesis_kwargs) -> torch.nn.Module:
    """A random-init StyleGAN2 small enough for CPU tests, with non-zero noise and biases."""
    from dragwidget.networks.stylegan2 import Generator

    torch.manual_seed(seed)
    kwargs = {"channel_base": 1024, "channel_max": 64, "num_fp16_res": 0, **synthesis_kwargs}
    G = Generator(
        z_dim=64,
        w_dim=64,
        img_resolution=resolution,
        mapping_kwargs={"num_layers": 2},
        synthesis_kwargs=kwargs,
    )
    with torch.no_grad():
        for name, value in G.named_parameters():
            if name.endswith("noise_strength"):
                value.fill_(0.1)
    return G.eval()


@pytest.fixture
def stylegan2_64() -> torch.nn.Module:
    return small_stylegan2(64)
