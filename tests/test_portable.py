"""The portable panel (marimo's copy of the control panel) mirrors the ipywidgets and acts
through them, so a click in it does what a click on the ipywidget does."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image
from recording_comm import recording_comm, send_msg  # noqa: F401
from toygen import BlobGenerator

from dragwidget.drag.pictures import MAX_FILE_BYTES
from dragwidget.widget import DragWidget
from dragwidget.widget.portable import PortablePanel

pytestmark = pytest.mark.usefixtures("recording_comm")


@pytest.fixture
def w():
    widget = DragWidget(BlobGenerator(64), seed=1, step_size=0.05)
    yield widget
    widget.close()


def leaves(node: dict) -> list[dict]:
    if "children" in node:
        return [leaf for child in node["children"] for leaf in leaves(child)]
    return [node]


def find(panel: PortablePanel, kind: str, label: str) -> dict:
    (leaf,) = [c for c in leaves(panel.controls) if c["kind"] == kind and c["label"] == label]
    return leaf


def picture_file(width: int, height: int) -> bytes:
    """A PNG file whose every pixel differs from its neighbours' (so crops differ)."""
    y, x = np.mgrid[:height, :width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1)
    data = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(data, format="PNG")
    return data.getvalue()


def upload(panel: PortablePanel, data: bytes, name: str = "wide.png", **meta) -> None:
    """What the page sends when a file is chosen: its metadata, its bytes as a buffer."""
    control = find(panel, "upload", "Upload")
    files = [{"name": name, "type": "image/png", "last_modified": 1_700_000_000_000, **meta}]
    send_msg(panel, {"type": "upload", "id": control["id"], "files": files}, [memoryview(data)])


def size_of(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_every_control_of_the_panel_is_mirrored(w):
    panel = PortablePanel(w.controls)
    kinds = {(c["kind"], c["label"]) for c in leaves(panel.controls)}
    for expected in [
        ("text", "Seed"), ("button", "New image"), ("choice", "Latent space"),
        ("slider", "Step size"), ("text", "Max steps"), ("text", "r2 (tracking)"),
        ("button", "Start"), ("button", "Stop"), ("button", "Undo"), ("progress", "Steps"),
        ("button", "Export"), ("upload", "Upload"), ("text", ""), ("button", "Open"),
        ("choice", ""), ("slider", "Crop at"), ("image", ""), ("button", "Invert"),
    ]:  # fmt: skip
        assert expected in kinds
    assert not [c for c in leaves(panel.controls) if c["kind"] == "missing"]
    sections = [n for n in panel.controls["children"] if n.get("kind") == "sections"]
    assert [n["titles"] for n in sections] == [["Open image"], ["Advanced"]]
    fit = find(panel, "choice", "")
    assert fit["look"] == "buttons" and fit["options"] == ["Crop", "Pad"] and fit["index"] == 0
    assert find(panel, "choice", "Latent space")["look"] == "list"
    chooser = find(panel, "upload", "Upload")
    assert chooser["accept"] == "image/*" and not chooser["multiple"] and chooser["count"] == 0
    assert chooser["max_bytes"] == MAX_FILE_BYTES  # what the picture reader takes
    # Nothing to preview or invert yet: the preview is hidden (its layout says so), Invert is off.
    preview = find(panel, "image", "")
    assert preview["hidden"] and preview["format"] == "png"
    assert panel.images == {str(preview["id"]): b""}
    assert find(panel, "button", "Invert")["disabled"]
    assert not find(panel, "button", "Start")["hidden"]


def test_a_file_chosen_in_the_page_is_previewed_fitted_and_inverted(w):
    panel = PortablePanel(w.controls)
    opening = w.controls.open_image
    preview_id = find(panel, "image", "")["id"]
    data = picture_file(96, 48)
    panel.comm.clear()
    upload(panel, data)

    # The FileUpload's value is what its own front end would have made of the file ...
    (chosen,) = opening.upload.value
    assert chosen["name"] == "wide.png" and chosen["size"] == len(data)
    assert bytes(chosen["content"]) == data and chosen["last_modified"].year == 2023
    # ... so its handler opened the picture, and the page is shown the preview of the crop.
    assert w.error == "" and opening.picture.size == (96, 48)
    assert find(panel, "upload", "Upload")["count"] == 1
    assert (
        not find(panel, "image", "")["hidden"] and not find(panel, "button", "Invert")["disabled"]
    )
    cropped = panel.images[str(preview_id)]
    assert cropped == bytes(opening.preview.value) and size_of(cropped) == (96, 48)
    echo = [c for c, _ in panel.comm.custom("control")][-1]
    assert echo["id"] == find(panel, "upload", "Upload")["id"] and echo["spec"]["count"] == 1
    # The picture travelled as a binary buffer, not inside the JSON.
    (sent,) = [
        (d, b) for d, b in panel.comm.sent if d.get("method") == "update" and "images" in d["state"]
    ]
    (path,) = sent[0]["buffer_paths"]
    assert path == ["images", str(preview_id)] and bytes(sent[1][0]) == cropped

    fit = find(panel, "choice", "")
    send_msg(panel, {"type": "set", "id": fit["id"], "value": 1})
    assert opening.fit.value == "pad" and find(panel, "choice", "")["index"] == 1
    assert size_of(panel.images[str(preview_id)]) == (96, 96)
    assert find(panel, "slider", "Crop at")["disabled"]  # nothing to place when padding
    send_msg(panel, {"type": "set", "id": fit["id"], "value": 0})
    assert opening.fit.value == "crop" and not find(panel, "slider", "Crop at")["disabled"]
    assert panel.images[str(preview_id)] == cropped
    send_msg(panel, {"type": "set", "id": find(panel, "slider", "Crop at")["id"], "value": 0})
    assert opening.crop_position.value == 0.0 and panel.images[str(preview_id)] != cropped

    send_msg(panel, {"type": "click", "id": find(panel, "button", "Invert")["id"]})
    assert w.running
    result = w.wait(timeout=60)
    assert result.picture.fit == "crop" and result.picture.box == (0.0, 0.0, 48.0, 48.0)
    assert w.session.history[-1].kind == "picture"
    steps = find(panel, "progress", "Steps")
    assert steps["value"] == steps["max"] == result.steps > 0


def test_what_the_picture_reader_refuses_is_shown_as_in_jupyter(w):
    panel = PortablePanel(w.controls)
    upload(panel, b"not a picture", name="notes.txt")
    assert "notes.txt" in w.error and w.controls.open_image.picture is None
    assert find(panel, "button", "Invert")["disabled"] and find(panel, "image", "")["hidden"]


def test_uploads_it_cannot_use_change_nothing(w):
    panel = PortablePanel(w.controls, max_upload_bytes=1000)
    chooser = find(panel, "upload", "Upload")
    assert chooser["max_bytes"] == 1000
    small, big = b"x" * 1000, b"x" * 1001
    one = {"name": "a.png", "type": "image/png", "last_modified": 0}
    for content, buffers in [
        ({"files": [one]}, [big]),  # over the limit: the page should not have sent it
        ({"files": [one, one]}, [small, small]),  # two files to a one-file upload
        ({"files": [one]}, []),  # metadata without bytes
        ({"files": []}, []),
        ({"files": "a.png"}, [small]),
        ({"files": ["a.png"]}, [small]),
    ]:
        send_msg(panel, {"type": "upload", "id": chooser["id"], **content}, buffers)
        assert w.controls.open_image.upload.value == ()
        assert [c for c, _ in panel.comm.custom("control")][-1]["spec"]["count"] == 0
    send_msg(panel, {"type": "upload", "id": find(panel, "button", "Open")["id"], "files": [one]},
             [small])  # fmt: skip
    assert w.controls.open_image.upload.value == () and w.error == ""
    fit = find(panel, "choice", "")
    for index in (2, -1, "pad"):
        send_msg(panel, {"type": "set", "id": fit["id"], "value": index})
    assert w.controls.open_image.fit.value == "crop"

    for when in (float("nan"), 1e300, -5, "yesterday", True):  # taken, as arriving now
        upload(panel, b"not a picture", name="a.png", last_modified=when)
        (chosen,) = w.controls.open_image.upload.value
        assert abs(chosen["last_modified"].timestamp() - time.time()) < 60


def test_clicks_and_values_act_through_the_ipywidgets_and_the_state_follows(w):
    panel = PortablePanel(w.controls)
    cx, cy = w.session.generator.blob_centre(w.session.latent)
    w.add_point((cx, cy), (cx + 6, cy))
    assert find(panel, "button", "Stop")["disabled"] and find(panel, "button", "Undo")["disabled"]

    box = find(panel, "text", "Max steps")
    send_msg(panel, {"type": "set", "id": box["id"], "value": "4"})
    assert w.session.settings.max_steps == 4 and find(panel, "text", "Max steps")["value"] == "4"
    echo = [c for c, _ in panel.comm.custom("control")][-1]
    assert echo["id"] == box["id"] and echo["spec"]["value"] == "4"

    send_msg(panel, {"type": "set", "id": box["id"], "value": "-1"})  # refused: the page is told
    assert w.session.settings.max_steps == 4 and "Max steps stays 4" in w.error
    assert [c for c, _ in panel.comm.custom("control")][-1]["spec"]["value"] == "4"

    send_msg(panel, {"type": "click", "id": find(panel, "button", "Start")["id"]})
    result = w.wait(timeout=30)
    assert result.steps == 4 and not find(panel, "button", "Undo")["disabled"]
    assert find(panel, "progress", "Steps")["value"] == 4

    choice = find(panel, "choice", "Latent space")
    send_msg(panel, {"type": "set", "id": choice["id"], "value": 1})
    assert (
        w.session.settings.latent_space == "w"
        and find(panel, "choice", "Latent space")["index"] == 1
    )


def test_messages_it_cannot_use_change_nothing(w):
    panel = PortablePanel(w.controls)
    before = dict(panel.controls)
    for content in [
        {"type": "click", "id": 999},
        {"type": "click", "id": "Start"},
        {"type": "set", "id": find(panel, "text", "Max steps")["id"], "value": 7},  # not text
        {"type": "click", "id": find(panel, "text", "Max steps")["id"]},  # not a button
        "nonsense",
    ]:
        send_msg(panel, content)
    assert panel.controls == before and w.session.settings.max_steps == 300
