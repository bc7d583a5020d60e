"""What the README says about installing is true of this project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
CPU_INDEX = "download.pytorch.org/whl/cpu"


def sentences_about_the_torch_pin() -> list[str]:
    text = " ".join(README.split())
    return [s for s in re.split(r"(?<=[.;:])\s", text) if re.search(r"\bpins?\b", s)]


def test_the_install_sentences_do_not_call_pypis_torch_the_cpu_build():
    # "torch==2.13.0" from PyPI is the CUDA build on Linux; only PyTorch's CPU index has the other
    pins = sentences_about_the_torch_pin()
    assert pins, "the README no longer says what it pins"
    for sentence in pins:
        assert "CPU build" not in sentence or CPU_INDEX in README, sentence
    assert "CUDA build" in " ".join(README.split())
    assert f'"torch==2.13.0" --index-url https://{CPU_INDEX}' in " ".join(README.split())


def test_every_extra_in_a_pip_command_exists():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11 reads TOML")
    extras = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    named = {
        extra.strip()
        for group in re.findall(r'pip install[^\n]*?"?-e "?\.\[([^\]]+)\]', README)
        for extra in group.split(",")
    }
    assert named and named <= extras, named - extras
