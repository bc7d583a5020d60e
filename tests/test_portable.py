"""The portable panel (marimo's copy of the control panel) mirrors the ipywidgets and acts
through them, so a click in it does what a click on the ipywidget does."""

from __future__ import annotations

import pytest
from recording_comm import recording_comm, send_msg  # noqa: F401
from toygen import BlobGenerator

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


def test_every_control_of_the_panel_is_mirrored(w):
    panel = PortablePanel(w.controls)
    kinds = {(c["kind"], c["label"]) for c in leaves(panel.controls)}
    for expected in [
        ("text", "Seed"), ("button", "New image"), ("choice", "Latent space"),
        ("slider", "Step size"), ("text", "Max steps"), ("text", "r2 (tracking)"),
        ("button", "Start"), ("button", "Stop"), ("button", "Undo"), ("progress", "Steps"),
        ("button", "Export"),
    ]:  # fmt: skip
        assert expected in kinds
    assert not [c for c in leaves(panel.controls) if c["kind"] == "missing"]
    sections = [n for n in panel.controls["children"] if n.get("kind") == "sections"]
    assert sections and sections[0]["titles"] == ["Advanced"]


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
