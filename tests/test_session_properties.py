"""Property-based tests: any sequence of edits keeps the history a chain; saving keeps it all."""

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toygen import BlobGenerator

from dragwidget.drag import DragSession

SIZE = 32
coordinate = st.floats(min_value=0, max_value=SIZE - 1, allow_nan=False)
operation = st.one_of(
    st.tuples(st.just("add"), coordinate, coordinate, coordinate, coordinate),
    st.tuples(st.just("remove")),
    st.tuples(st.just("drag"), st.integers(1, 3)),
    st.tuples(st.just("undo")),
    st.tuples(st.just("redo")),
    st.tuples(st.just("new_image"), st.integers(0, 50)),
    st.tuples(st.just("save_load")),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=st.lists(operation, max_size=10))
def test_any_edit_sequence_undoes_to_the_start_and_redoes_to_the_end(tmp_path, operations):
    G = BlobGenerator(resolution=SIZE)
    session = DragSession(G, seed=0, step_size=0.05)
    initial = session.latent
    for op in operations:
        name = op[0]
        if name == "add":
            session.add_point(op[1:3], op[3:5])
        elif name == "remove" and session.points:
            session.remove_point(-1)
        elif name == "drag" and session.points:
            session.run(max_steps=op[1])
        elif name == "undo":
            session.undo()
        elif name == "redo":
            session.redo()
        elif name == "new_image":
            session.new_image(op[1])
        elif name == "save_load":
            latent, points = session.latent, session.points
            history, future = len(session.history), session.can_redo
            session = DragSession.load(session.save(tmp_path / "s.dragwidget"), G)
            assert torch.equal(session.latent, latent) and session.points == points
            assert len(session.history) == history and session.can_redo == future

    final, depth = session.latent, len(session.history)
    for before, after in zip(session.history, session.history[1:], strict=False):
        assert torch.equal(before.ws_after, after.ws_before)
    while session.undo():
        pass
    assert torch.equal(session.latent, initial) and session.seed == 0
    for _ in range(depth):
        assert session.redo()
    assert torch.equal(session.latent, final)
