"""Property tests: valid session files and network pickles, mutated byte by byte and field by
field. Every result is a load or a ValueError (a CheckpointError for checkpoints), never another
exception; a session that loads saves a file that loads again."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import safetensors.torch
import torch
from conftest import small_stylegan2
from hostile_corpus import Reduce, dump, storage, tensor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toygen import BlobGenerator

from dragwidget.checkpoints import CheckpointError, load_generator, writers
from dragwidget.drag import DragSession

SIZE = 32
EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def session_file(tmp_path_factory) -> tuple[BlobGenerator, bytes, dict, dict]:
    """A valid session with points, a mask, a drag and an undone new image: file and parts."""
    G = BlobGenerator(resolution=SIZE)
    session = DragSession(G, seed=1, step_size=0.05)
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 5, cy))
    session.run(max_steps=2)
    session.new_image(3)
    session.undo()
    mask = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    mask[4:20, 6:30] = True
    session.set_mask(mask)
    path = session.save(tmp_path_factory.mktemp("session") / "valid.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["dragwidget"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return G, path.read_bytes(), meta, tensors


def load_or_refuse(path: Path, G: torch.nn.Module, tmp: Path) -> None:
    try:
        session = DragSession.load(path, G)
    except ValueError as e:
        assert str(path) in str(e)
        return
    again = DragSession.load(session.save(tmp / "again.safetensors"), G)
    assert torch.equal(again.latent, session.latent) and again.points == session.points


mutations = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=8)


@EXAMPLES
@given(changes=mutations)
def test_a_session_file_mutated_byte_by_byte_loads_or_is_refused(tmp_path, session_file, changes):
    G, data, _, _ = session_file
    data = bytearray(data)
    for where, value in changes:  # past the header's length: the JSON header and the tensors
        data[8 + int(where * (len(data) - 8))] = value
    path = tmp_path / "mutated.safetensors"
    path.write_bytes(bytes(data))
    load_or_refuse(path, G, tmp_path)


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside the JSON metadata."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


hostile_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
hostile_tensors = st.builds(
    lambda shape, dtype, fill: torch.full(shape, fill).to(dtype),
    st.lists(st.integers(0, 40), min_size=0, max_size=3).map(tuple),
    st.sampled_from([torch.float32, torch.float16, torch.uint8, torch.int64, torch.bool]),
    st.sampled_from([0.0, 1.0, 2.0, -1.0, math.nan, math.inf]),
)


@EXAMPLES
@given(data=st.data())
def test_a_session_file_mutated_field_by_field_loads_or_is_refused(tmp_path, session_file, data):
    G, _, meta, tensors = session_file
    meta, tensors = json.loads(json.dumps(meta)), dict(tensors)
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            *parent, leaf = data.draw(st.sampled_from(_paths(meta)))
            container = meta
            for key in parent:
                container = container[key]
            if data.draw(st.booleans()) and isinstance(container, dict):
                del container[leaf]
            else:
                container[leaf] = data.draw(hostile_values)
        else:
            key = data.draw(st.sampled_from([*tensors, "ws", "mask", "history.7.before"]))
            if data.draw(st.booleans()) and key in tensors:
                del tensors[key]
            else:
                tensors[key] = data.draw(hostile_tensors)
    path = tmp_path / "edited.safetensors"
    safetensors.torch.save_file(tensors, path, metadata={"dragwidget": json.dumps(meta)})
    load_or_refuse(path, G, tmp_path)


@pytest.fixture(scope="module")
def small_network() -> tuple[dict, dict]:
    G = small_stylegan2(16)
    return G.state_dict(), G.init_kwargs


@pytest.fixture(scope="module")
def network_pickle(tmp_path_factory, small_network) -> bytes:
    sd, kwargs = small_network
    path = tmp_path_factory.mktemp("pickle") / "network.pkl"
    writers.write_nvidia_pickle(path, sd, kwargs, d={"b4.out.bias": torch.zeros(1)}, protocol=3)
    return path.read_bytes()


def load_or_checkpoint_error(path: Path) -> None:
    try:
        load_generator(path)
    except CheckpointError as e:
        assert str(path) in str(e) and len(str(e)) <= 2000


@EXAMPLES
@given(changes=mutations, head=st.booleans())
def test_a_network_pickle_mutated_byte_by_byte_loads_or_is_refused(
    tmp_path, network_pickle, changes, head
):
    data = bytearray(network_pickle)
    span = min(len(data), 4096) if head else len(data)  # the head is all opcodes
    for where, value in changes:  # past the protocol: a file of another format is refused early
        data[2 + int(where * (span - 2))] = value
    path = tmp_path / "mutated.pkl"
    path.write_bytes(bytes(data))
    load_or_checkpoint_error(path)


def _record_paths(record: writers.Persistent, prefix: str = "") -> list[tuple[dict, str]]:
    """(dict, key) of every parameter, buffer and constructor argument of a record tree."""
    state = record.meta["state"]
    found = [(state[part], key) for part in ("_parameters", "_buffers") for key in state[part]]
    found += [(state["_init_kwargs"], key) for key in state.get("_init_kwargs", {})]
    for child in state["_modules"].values():
        found += _record_paths(child)
    return found


numbers = st.integers(-3, 70) | st.just(2**40)
hostile_records = st.one_of(
    hostile_values,
    st.builds(
        lambda shape, stride, offset, numel: tensor(storage(numel), shape, stride, offset),
        st.lists(numbers, max_size=3).map(tuple),
        st.lists(numbers, max_size=3).map(tuple),
        numbers,
        st.integers(0, 64),
    ),
    st.builds(
        lambda code: Reduce(__import__("numpy").dtype, (code, False, True)), st.text(max_size=3)
    ),
)


@EXAMPLES
@given(data=st.data())
def test_a_network_pickle_mutated_field_by_field_loads_or_is_refused(tmp_path, small_network, data):
    sd, kwargs = small_network
    g_ema = writers.records(sd, "Generator", json.loads(json.dumps(kwargs)))
    fields = _record_paths(g_ema)
    for _ in range(data.draw(st.integers(1, 3))):
        container, key = data.draw(st.sampled_from(fields))
        container[key] = data.draw(hostile_records)
    path = tmp_path / "edited.pkl"
    dump({"G_ema": g_ema}, path)
    load_or_checkpoint_error(path)
