"""The README's picture: the widget on the default model in a real JupyterLab, after one drag.

python benchmarks/screenshot.py benchmarks/results/widget.png
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from jupyter_browser import chromium, jupyter_server, open_notebook, run_cell, write_notebook  # noqa: E402

CELLS = [
    "from dragwidget import DragWidget\n"
    "w = DragWidget(seed=4)\n"
    "w.add_point((52, 70), (40, 60))\n"
    "w.add_point((76, 70), (90, 60))\n"
    "w",
    "w.drag(max_steps=40)",
]


def main(out: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_notebook(root / "demo.ipynb", CELLS)
        with jupyter_server(root) as server, chromium((1500, 1100)) as page:
            open_notebook(page, server, "demo.ipynb")
            run_cell(page, 0)
            run_cell(page, 1, timeout=300)
            time.sleep(1.5)
            output = page.locator(".jp-Notebook .jp-CodeCell").nth(0).locator(".jp-OutputArea")
            output.scroll_into_view_if_needed()
            output.screenshot(path=out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "widget.png")
