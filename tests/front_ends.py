"""One DragWidget notebook in JupyterLab, Notebook 7 or marimo, driven the same way by a test.

`open_front_end(name, root, setup, on_demand)` serves a notebook whose first cell is `setup`
(showing the widget) and whose later code runs when the test asks (`front.run(i)`): a Jupyter cell
run with Shift+Enter, or in marimo a button of the notebook that runs the code in the kernel. The
control panel is ipywidgets in Jupyter and the portable panel in marimo; `button` and `box` find
a control by its label in either.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_browser import (
    chromium,
    jupyter_server,
    marimo_server,
    open_notebook,
    run_cell,
    wait_for,
    write_marimo_notebook,
    write_notebook,
)

FRONT_ENDS = ("lab", "notebook", "marimo")


@dataclass
class FrontEnd:
    name: str
    page: Any
    root: Path

    def run(self, index: int) -> None:
        """Run the on-demand code `index` (1-based: cell index of the Jupyter notebook)."""
        if self.name == "marimo":
            click_center(self.page, self.page.get_by_role("button", name=f"run {index}"))
        else:
            run_cell(self.page, index)

    def button(self, text: str) -> Any:
        css = "button.dwp-button" if self.name == "marimo" else "button.jupyter-button"
        return self.page.locator(css, has_text=text).first

    def box(self, label: str) -> Any:
        """The text box of the control panel labelled `label`."""
        if self.name == "marimo":
            field, name = ".dwp-field", ".dwp-label"
        else:
            field, name = ".widget-text", "label"
        has = self.page.locator(name, has_text=label)
        return self.page.locator(field, has=has).locator("input").first

    def panel(self) -> Any:
        css = ".dwp-root" if self.name == "marimo" else ".widget-vbox"
        return self.page.locator(css).first

    def open_section(self, title: str) -> None:
        """Open the panel's section `title` (a click on its header)."""
        css = "summary" if self.name == "marimo" else ".jupyter-widget-Collapse-header"
        header = self.page.locator(css, has_text=title).first
        header.scroll_into_view_if_needed()  # a cell run since may have scrolled the page
        click_center(self.page, header)

    def preview(self) -> Any:
        """The picture of the Open image section."""
        css = "img.dwp-image" if self.name == "marimo" else "img.widget-image"
        return self.page.locator(css).first

    def choose_file(self, button: str, path: Path) -> None:
        """Press the upload button labelled `button` and pick `path` in the file chooser."""
        with self.page.expect_file_chooser() as chooser:
            click_center(self.page, self.button(button))
        chooser.value.set_files(str(path))

    def type_into(self, label: str, text: str) -> None:
        """Type `text` into a panel box and press Enter, as a person does."""
        box = self.box(label)
        box.click()
        box.press("Control+a")
        box.type(text)
        box.press("Enter")

    def status(self) -> str:
        """The status line as the page shows it (the frame's numbers, the kernel's, the error)."""
        text = self.page.locator(".dw-status").inner_text()
        return " ".join(text.replace("\u00a0", " ").split())


@contextlib.contextmanager
def open_front_end(
    name: str,
    root: Path,
    setup: str,
    on_demand: tuple[str, ...] = (),
    viewport: tuple[int, int] = (1400, 1200),
    server_args: dict | None = None,
) -> Iterator[FrontEnd]:
    """The notebook served by `name` and open in headless Chromium, its widget drawn.

    `server_args` go to jupyter_server (the Jupyter front ends only).
    """
    if name == "marimo":
        notebook = root / "drag.py"
        write_marimo_notebook(notebook, setup, on_demand)
        server_context = marimo_server(notebook)
    else:
        write_notebook(root / "drag.ipynb", [setup, *on_demand])
        server_context = jupyter_server(root, name, **(server_args or {}))
    with server_context as server, chromium(viewport=viewport) as page:
        if name == "marimo":
            page.goto(server.url(""))
        else:
            open_notebook(page, server, "drag.ipynb")
            run_cell(page, 0, timeout=300)
        page.locator(".dw-overlay").wait_for(timeout=90_000)
        # the view announced itself and drew the image it was sent
        wait_for(
            lambda: page.locator(".dw-image").first.evaluate("c => c.width") > 0,
            what="the image",
        )
        yield FrontEnd(name, page, root)


def click_center(page: Any, locator: Any) -> None:
    # A plain mouse click at the element's centre: what a person does, and it does not wait on
    # playwright's animation-stability checks, which the streaming canvas keeps busy.
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def double_click_center(page: Any, locator: Any) -> None:
    box = locator.bounding_box()
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def settle(seconds: float = 0.3) -> None:
    time.sleep(seconds)
