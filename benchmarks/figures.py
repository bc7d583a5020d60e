"""The README's picture: the widget on the default model in a real JupyterLab, after one drag.

python benchmarks/screenshot.py benchmarks/results/widget.png
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from jupyter_browser import (  # noqa: E402
    chromium,
    jupyter_server,
    open_notebook,
    run_cell,
    write_notebook,
)
from PIL import Image, ImageDraw  # noqa: E402

from dragwidget import DragSession, load_generator  # noqa: E402
from dragwidget.datasets.faces import face_grid  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"

# The widget figure's drag: turn the head (seed 4), as the drag example below.
WIDGET_SEED, WIDGET_MOVES = 4, [("nose_tip", 10, 0), ("chin", 6, 0)]


def widget_cells(pairs) -> list[str]:
    points = "".join(f"w.add_point({tuple(h)}, {tuple(t)})\n" for h, t in pairs)
    return [
        f"from dragwidget import DragWidget\nw = DragWidget(seed={WIDGET_SEED})\n{points}w",
        "w.drag(max_steps=100)",
    ]


def landmark_pairs(G, seed: int, moves) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """(handle, target) pairs on the detector's landmarks of seed's image: for each (name, dx,
    dy), the landmark and where it is asked to go (rounded to a tenth of a pixel)."""
    from dragwidget.datasets.faces import LANDMARK_NAMES
    from dragwidget.evaluation.drift import detect_landmarks
    from dragwidget.evaluation.landmarks import load_detector

    found = detect_landmarks(load_detector(), DragSession(G, seed=seed).image())
    pairs = []
    for name, dx, dy in moves:
        handle = found[LANDMARK_NAMES.index(name)]
        target = np.clip(handle + [dx, dy], 0, G.img_resolution - 1)
        pairs.append((tuple(np.round(handle, 1).tolist()), tuple(np.round(target, 1).tolist())))
    return pairs


def widget_screenshot(out: Path) -> None:
    """The widget on the default model in JupyterLab, after a scripted two-point drag."""
    pairs = landmark_pairs(load_generator(), WIDGET_SEED, WIDGET_MOVES)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_notebook(root / "demo.ipynb", widget_cells(pairs))
        with jupyter_server(root) as server, chromium((1500, 1100)) as page:
            open_notebook(page, server, "demo.ipynb")
            run_cell(page, 0)
            run_cell(page, 1, timeout=300)
            time.sleep(1.5)
            output = page.locator(".jp-Notebook .jp-CodeCell").nth(0).locator(".jp-OutputArea")
            output.scroll_into_view_if_needed()
            output.screenshot(path=str(out))


def samples(out: Path, count: int = 8) -> None:
    G = load_generator()
    Image.fromarray(np.concatenate([DragSession(G, seed=s).image() for s in range(count)], 1)).save(
        out, optimize=True
    )


def draw_pairs(draw: ImageDraw.ImageDraw, pairs, scale: int, radius: int) -> None:
    """Handle (red) -> target (blue) arrows on an image enlarged `scale` times."""
    for (hx, hy), (tx, ty) in pairs:
        h = [(hx + 0.5) * scale, (hy + 0.5) * scale]
        t = [(tx + 0.5) * scale, (ty + 0.5) * scale]
        draw.line(h + t, fill="white", width=2)
        draw.ellipse([h[0] - radius, h[1] - radius, h[0] + radius, h[1] + radius], fill="red")
        draw.ellipse([t[0] - radius, t[1] - radius, t[0] + radius, t[1] + radius], fill="blue")


def drag_example(out: Path, scale: int = 3) -> None:
    """Seed 4, the head turned (nose and chin pulled right): before, after, with the points."""
    G = load_generator()
    session = DragSession(G, seed=WIDGET_SEED)
    pairs = landmark_pairs(G, WIDGET_SEED, WIDGET_MOVES)
    for handle, target in pairs:
        session.add_point(handle, target)
    before = session.image("pil")
    session.run(max_steps=150)
    after = session.image("pil")
    size = before.width * scale
    canvas = Image.new("RGB", (2 * size + 8, size), "white")
    # Before: where the handles were put; after: where tracking found them at the end.
    for i, (img, points) in enumerate([(before, pairs), (after, session.points)]):
        big = img.resize((size, size), Image.NEAREST)
        draw_pairs(ImageDraw.Draw(big), points, scale, radius=5)
        canvas.paste(big, (i * (size + 8), 0))
    canvas.save(out, optimize=True)


# name: (seed, [(landmark, dx, dy), ...], watched); landmarks with (0, 0) are held where they
# are; watched landmarks get no point but are measured too.
SEMANTIC_DRAGS = {
    # Seed 4's lips are apart already; with lips that touch, a handle on each starts on the same
    # feature. The nose tip is held so that the face does not simply slide down.
    "open the mouth": (4, [("lower_lip_centre", 0, 9), ("nose_tip", 0, 0)], ["upper_lip_centre"]),
    "turn the head": (5, [("nose_tip", 10, 0)], []),
    "move an eye": (5, [("left_pupil", -4, -4), ("right_pupil", 0, 0)], []),
    "raise the chin": (5, [("chin", 0, -8), ("nose_tip", 0, 0)], []),
}
SEMANTIC_STEPS = 300


def semantic_drags(out: Path, scale: int = 2, generator: str | None = None) -> None:
    """Drags a class recognises, before and after, and how far the detector saw each landmark go.

    Writes the picture to `out` and the figures beside it (semantic_drags.txt).
    """
    from dragwidget.datasets.faces import LANDMARK_NAMES
    from dragwidget.evaluation.drift import detect_landmarks
    from dragwidget.evaluation.landmarks import load_detector

    G = load_generator(generator)
    detector = load_detector()

    def detect(image: np.ndarray) -> np.ndarray:
        return detect_landmarks(detector, image)

    size = G.img_resolution * scale
    canvas = Image.new("RGB", (2 * size + 8, len(SEMANTIC_DRAGS) * (size + 8)), "white")
    lines = []
    for row, (name, (seed, moves, watched)) in enumerate(SEMANTIC_DRAGS.items()):
        session = DragSession(G, seed=seed)
        before = session.image()
        found = detect(before)
        pairs = []
        for landmark, dx, dy in moves:
            handle = found[LANDMARK_NAMES.index(landmark)]
            target = np.clip(handle + [dx, dy], 0, G.img_resolution - 1)
            session.add_point(tuple(handle), tuple(target))
            pairs.append((handle, target))
        result = session.run(max_steps=SEMANTIC_STEPS)
        after = session.image()
        moved = detect(after)
        asked = [
            (m[0], f"asked ({m[1]:+d}, {m[2]:+d}) px,", f"; {result.steps} steps") for m in moves
        ]
        for landmark, request, end in asked + [(m, "no point,", "") for m in watched]:
            k = LANDMARK_NAMES.index(landmark)
            shift = moved[k] - found[k]
            lines.append(
                f"{name:15} {landmark:17} {request:18} detector saw "
                f"({shift[0]:+.1f}, {shift[1]:+.1f}) px{end}"
            )
        for col, (image, points) in enumerate([(before, pairs), (after, session.points)]):
            big = Image.fromarray(image).resize((size, size), Image.LANCZOS)
            draw_pairs(ImageDraw.Draw(big), points, scale, radius=4)
            canvas.paste(big, (col * (size + 8), row * (size + 8)))
    canvas.save(out, optimize=True)
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    face_grid(list(range(12)), 96, columns=6).save(RESULTS / "faces.png", optimize=True)
    samples(RESULTS / "samples.png")
    drag_example(RESULTS / "drag_example.png")
    semantic_drags(RESULTS / "semantic_drags.png")
    widget_screenshot(RESULTS / "widget.png")
    print(f"wrote {RESULTS}/{{faces,samples,drag_example,semantic_drags,widget}}.png")


def only(name: str) -> None:
    """One figure: python benchmarks/figures.py drag_example"""
    figures = {
        "drag_example": drag_example,
        "samples": samples,
        "semantic_drags": semantic_drags,
        "widget": widget_screenshot,
    }
    figures[name](RESULTS / f"{name}.png")


if __name__ == "__main__":
    only(sys.argv[1]) if len(sys.argv) > 1 else main()
