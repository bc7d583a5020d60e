"""A person's session with the widget in JupyterLab, Notebook 7 and marimo, reading the status line
at every step: the steps of issue 14 that once gave a wrong, stale or missing message.

On the model that ships with dragwidget, as people meet it. Each step checks the line the page
shows and, where it matters, what the kernel holds (state.json, written on every change). The
heat map of the teaching notebook and the README's install line have no status line: they are
checked in tests/test_teaching.py and tests/test_readme.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from front_ends import FRONT_ENDS, click_center, double_click_center, open_front_end
from jupyter_browser import missing_requirements, read_json, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
if reason := missing_requirements():
    pytest.skip(reason, allow_module_level=True)

SETUP = """
import json, os, time
from pathlib import Path
from dragwidget.widget import DragWidget

w = DragWidget(seed=1)  # the model that ships with dragwidget
# what the quickstart does before it hands over: a scripted drag, then its pair cleared
H, W = w.session.height, w.session.width
w.add_point((0.5 * W, 0.4 * H), (0.62 * W, 0.4 * H))
w.drag(max_steps=5)
w.clear_points()
w.on_step(lambda record: time.sleep(0.03))  # a drag long enough to watch and to stop

def dump(*_):
    s = w.session
    state = {
        "status": w.status, "error": w.error, "running": w.canvas.running,
        "points": w.canvas.points, "history": len(s.history), "seed": s.seed,
        "mask": s.mask is not None, "max_steps": s.settings.max_steps,
        "files": sorted(p.name for p in Path.cwd().iterdir() if not p.name.startswith("state")),
    }
    Path("state.tmp").write_text(json.dumps(state))
    os.replace("state.tmp", "state.json")

w.canvas.observe(dump, names=["points", "mask", "running", "image", "error", "status"])
dump()
w
"""

# Step 10 from Python: start() while a drag runs says why it starts nothing.
START_TWICE = """
try:
    w.start(max_steps=500)
    w.start()
except Exception:
    pass
"""

HINT_EMPTY = "Click a handle point, then its target · Space starts"
HINT_TARGET = "Now click where this handle should go"
HINT_MORE = "Click to add a pair · drag a point to move it"
HINT_BRUSH = "Paint with the mouse, pen or finger"


def kernel(root: Path, **conditions) -> dict:
    """The kernel's state once every condition holds."""

    def ready() -> dict | None:
        s = read_json(root / "state.json")
        return s if s is not None and all(c(s) for c in conditions.values()) else None

    return wait_for(ready, timeout=60, what=f"the kernel: {', '.join(conditions)}")


def expect_status(front, pattern: str) -> str:
    """Wait until the status line the page shows matches `pattern`; the line."""
    seen: list[str] = []

    def matches() -> str | None:
        seen.append(front.status())
        return seen[-1] if re.search(pattern, seen[-1]) else None

    try:
        return wait_for(matches, timeout=60, what=pattern)
    except TimeoutError:
        raise AssertionError(f"status line {seen[-1]!r} does not match {pattern!r}") from None


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_every_status_line_is_true(front_end: str, tmp_path: Path) -> None:
    root = tmp_path
    with open_front_end(front_end, root, SETUP, (START_TWICE,)) as front:
        page = front.page
        first = kernel(root)
        files = first["files"]
        overlay = page.locator(".dw-overlay").first
        box = overlay.bounding_box()
        size = page.locator(".dw-image").first.evaluate("c => c.width")
        scale = box["width"] / size

        def at(x: float, y: float) -> tuple[float, float]:
            return box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale

        # 7. The quickstart's scripted pair is gone: the first click starts the person's own pair
        assert first["points"] == [] and first["history"] == 1
        expect_status(front, re.escape(HINT_EMPTY))
        page.mouse.click(*at(0.45 * size, 0.55 * size))
        s = kernel(root, one=lambda s: len(s["points"]) == 1)
        assert s["points"][0]["target"] is None
        expect_status(front, re.escape(HINT_TARGET))
        page.mouse.click(*at(0.55 * size, 0.55 * size))
        kernel(root, pair=lambda s: s["points"] and s["points"][0]["target"])
        expect_status(front, re.escape(HINT_MORE))

        # 1. A bad max steps is refused, says so, and the value in force stays
        front.type_into("Max steps", "-1")
        expect_status(front, re.escape("max_steps must be an integer in [1, 100000], not -1"))
        expect_status(front, "Max steps stays 300$")
        wait_for(lambda: front.box("Max steps").input_value() == "300", what="300 back")
        front.type_into("Max steps", "abc")
        expect_status(front, re.escape("not 'abc'; Max steps stays 300"))
        front.type_into("Max steps", "30")
        expect_status(front, "^max_steps set to 30$")
        assert kernel(root)["max_steps"] == 30

        # 5. A double click on Start starts one drag, which runs to its end
        double_click_center(page, front.button("Start"))
        expect_status(front, re.escape("dragging (at most 30 steps)…"))
        done = kernel(root, ended=lambda s: not s["running"] and s["history"] == 2)
        line = expect_status(
            front, r"^(max steps \(30\) reached|reached the targets in \d+ steps?) · mean distance"
        )
        assert done["error"] == "" and "stopped" not in line

        # 8. Export from the panel writes to a folder of its own, not the notebook's
        click_center(page, front.button("Export"))
        line = expect_status(front, r"^exported \d+ frames to \S+drag\.gif$")
        assert Path(line.split(" to ")[1]).is_file()
        assert kernel(root)["files"] == files

        # 2. New clicks replace the old news; Undo and Redo say what they did
        page.mouse.click(*at(0.3 * size, 0.3 * size))
        expect_status(front, re.escape(HINT_TARGET))
        page.mouse.click(*at(0.3 * size, 0.3 * size), button="right")  # removes it again
        kernel(root, back=lambda s: len(s["points"]) == 1)
        click_center(page, front.button("Undo"))
        steps = expect_status(front, r"^undid a drag of \d+ steps? · Redo brings it back$")
        steps = steps.split(" of ")[1].split(" · ")[0]
        click_center(page, front.button("Redo"))
        expect_status(front, f"^redid a drag of {steps}$")

        # 3. New image clears points and mask, says so; Export has no drag of this image
        click_center(page, page.locator("button.dw-mode-flexible").first)
        expect_status(front, re.escape(HINT_BRUSH))
        page.mouse.move(*at(0.4 * size, 0.4 * size))
        page.mouse.down()
        page.mouse.move(*at(0.6 * size, 0.4 * size), steps=5)
        page.mouse.up()
        kernel(root, painted=lambda s: s["mask"])
        click_center(page, page.locator("button.dw-mode-point").first)
        click_center(page, front.button("New image"))
        expect_status(
            front,
            "^new image from seed 1 · points and mask cleared, as in the official DragGAN GUI; "
            "Undo brings them back$",
        )
        s = kernel(root, cleared=lambda s: not s["mask"] and not s["points"])
        click_center(page, front.button("Export"))
        expect_status(front, "there is no drag of the image shown to export")

        # 4. A seed and Enter make the new image
        front.type_into("Seed", "7")
        expect_status(front, "^new image from seed 7 · ")
        assert kernel(root)["seed"] == 7

        # 6. A long message wraps inside the widget: the panel stays beside the canvas
        root_box = page.locator(".dw-root").first.bounding_box()
        panel_box = front.panel().bounding_box()
        assert panel_box["x"] >= root_box["x"] + root_box["width"] - 1  # beside it
        front.type_into("Max steps", "x" * 300)
        expect_status(front, "Max steps stays 30$")
        assert front.panel().bounding_box() == panel_box
        assert page.locator(".dw-root").first.bounding_box()["width"] == root_box["width"]

        # 10. start() twice from Python: the second says why it starts nothing
        page.mouse.click(*at(0.45 * size, 0.5 * size))
        page.mouse.click(*at(0.6 * size, 0.5 * size))
        kernel(root, pair=lambda s: s["points"] and s["points"][0]["target"])
        front.run(1)
        expect_status(front, re.escape("A drag is running: press Stop (or call stop()) first."))
        expect_status(front, re.escape("dragging (at most 500 steps)…"))
        click_center(page, front.button("Stop"))
        expect_status(front, r"^stopped after \d+ steps? · mean distance [\d.]+ px$")
        page.screenshot(path=f"/tmp/dw_session_{front_end}.png")
