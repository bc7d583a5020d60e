import marimo

__generated_with = "0.25.2"
app = marimo.App()


@app.cell
def _():
    import tempfile
    from pathlib import Path

    import marimo as mo

    from dragwidget.widget import DragWidget

    return DragWidget, Path, mo, tempfile


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    # dragwidget quickstart (marimo)

    Drag points on a generated image: click a **handle** (the point to move), then its
    **target** (where it should go), and press **Start**. Paint with *Flexible* to say which
    area may change (or *Fixed* for what must stay). The same widget as in Jupyter: the canvas
    and its panel, and clicks and scripts share one history.
    """)
    return


@app.cell
def _(DragWidget):
    w = DragWidget(seed=0)  # the model that ships with dragwidget
    w
    return (w,)


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## A drag from Python

    Points are `(x, y)` in image pixels. `drag()` blocks until the drag ends, while the
    frames stream into the widget above.
    """)
    return


@app.cell
def _(w):
    H, W = w.session.height, w.session.width
    w.add_point((0.50 * W, 0.40 * H), (0.62 * W, 0.40 * H))
    result = w.drag(max_steps=40)
    result
    return


@app.cell(hide_code=True)
def _(mo):
    mo.md(r"""
    ## Undo, redo, save

    Every finished drag is one step of history (so is a new image). `save` writes the image
    as a PNG with its provenance and the session file beside it; `export` writes the drag as
    a GIF. Here both go to a temporary folder; the panel's Save and Export default to one too.
    Last, the scripted pair is cleared (after a drag its points stay, as in the official DragGAN
    GUI), so that your first click on the canvas starts a pair of your own.
    """)
    return


@app.cell
def _(Path, tempfile, w):
    w.undo()
    w.redo()
    folder = Path(tempfile.mkdtemp(prefix="quickstart-"))  # or a folder of your choice
    png = w.save(folder / "quickstart.png")
    gif = w.export(folder / "quickstart.gif")
    w.clear_points()
    png, gif
    return


if __name__ == "__main__":
    app.run()
