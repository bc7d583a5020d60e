"""The example notebooks run headless (nbclient, no front end), are stored without outputs, and
write nothing into the folder they run in (a checkout, perhaps)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))

# Checks run in the notebook's kernel after its own cells.
AFTERWARDS = {
    "quickstart.ipynb": """
from pathlib import Path
assert png.exists() and gif.exists() and png.parent != Path.cwd()
assert w.points == [] and w.canvas.points == [], "the scripted pair is still on the canvas"
""",
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: clear outputs"
            )


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_headless_and_writes_nothing_beside_itself(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    if path.name in AFTERWARDS:
        nb.cells.append(nbformat.v4.new_code_cell(AFTERWARDS[path.name]))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_marimo_quickstart_runs_as_a_script_and_writes_nothing_beside_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("marimo")
    import importlib.util

    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location(
        "quickstart_marimo", REPO / "notebooks" / "quickstart_marimo.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _outputs, defs = module.app.run()
    w = defs["w"]
    try:
        assert len(w.session.history) == 1 and w.points == []  # dragged, and the pair cleared
        assert defs["png"].exists() and defs["gif"].exists()
        assert list(tmp_path.iterdir()) == []
    finally:
        w.close()


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout"
)
def test_what_the_notebooks_write_is_ignored_by_git() -> None:
    written = [
        "notebooks/quickstart.png",
        "notebooks/quickstart.gif",
        "notebooks/drag.png",
        "notebooks/drag.session.safetensors",
        "notebooks/drag.mp4",
        "notebooks/edit.dragwidget",
    ]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *written],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert sorted(result.stdout.split()) == sorted(written)
