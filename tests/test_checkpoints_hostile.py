"""Hostile and broken files: refused with an error that names the file and the problem, and no
side effect. Every file is written here; the "attacks" would create a marker file if run."""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import safetensors.torch
import torch

from dragwidget.checkpoints import (
    CheckpointError,
    UnsafeCheckpointError,
    load_generator,
    save_generator,
    writers,
)
from dragwidget.models import main as models_main


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "code from the file ran"


def call_pickle(module: str, name: str, arg, protocol: int) -> bytes:
    """A pickle that calls module.name(arg): the classic pickle attack, written opcode by opcode."""
    if protocol >= 4:
        head = pickle.PROTO + bytes([protocol])
        glob = b"".join(
            pickle.SHORT_BINUNICODE + bytes([len(s)]) + s.encode() for s in (module, name)
        )
        glob += pickle.STACK_GLOBAL
    else:
        head = pickle.PROTO + bytes([protocol])
        glob = pickle.GLOBAL + f"{module}\n{name}\n".encode()
    return head + glob + pickle.dumps(arg, protocol)[2:-1] + pickle.TUPLE1 + pickle.REDUCE + b"."


ATTACKS = [
    ("os", "system", lambda m: f"touch {m}"),
    ("posix", "system", lambda m: f"touch {m}"),
    ("builtins", "eval", lambda m: f"open({str(m)!r}, 'w')"),
    ("builtins", "exec", lambda m: f"open({str(m)!r}, 'w')"),
    ("subprocess", "Popen", lambda m: ["touch", str(m)]),
    ("torch", "load", lambda m: str(m)),
]


@pytest.mark.parametrize("protocol", [2, 3, 4])
@pytest.mark.parametrize("module,name,arg", ATTACKS, ids=[f"{m}.{n}" for m, n, _ in ATTACKS])
def test_a_global_outside_the_allow_list_is_refused(tmp_path, marker, protocol, module, name, arg):
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(call_pickle(module, name, arg(marker), protocol))
    with pytest.raises(UnsafeCheckpointError) as e:
        load_generator(path)
    assert f"{module}.{name}" in str(e.value) and str(path) in str(e.value)


class Attack:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_an_attack_deep_inside_a_valid_network_pickle_is_refused(tmp_path, marker, stylegan2_64):
    sd = stylegan2_64.state_dict()
    path = tmp_path / "network.pkl"
    g_ema = writers.records(sd, "Generator", stylegan2_64.init_kwargs)
    g_ema.meta["state"]["_modules"]["synthesis"].meta["state"]["innocent"] = Attack(marker)
    writers.dump({"G_ema": g_ema}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        load_generator(path)


def test_module_src_is_never_run(tmp_path, marker, stylegan2_64):
    # The official loader executes each record's module_src; this one would write the marker.
    src = f"open({str(marker)!r}, 'w').write('pwned')\n"
    path = tmp_path / "network.pkl"
    writers.write_nvidia_pickle(
        path, stylegan2_64.state_dict(), stylegan2_64.init_kwargs, module_src=src
    )
    G = load_generator(path)  # a valid file otherwise: it loads, and nothing ran
    assert G.img_resolution == 64


class _Storage:
    def __init__(self, blob):
        self.blob = blob

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.blob,)


class _Tensor:
    def __init__(self, blob):
        self.storage = _Storage(blob)

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, (self.storage, 0, (1,), (1,), False, OrderedDict())


def test_a_hostile_tensor_blob_is_refused_by_the_weights_only_load(tmp_path, marker, stylegan2_64):
    sd = dict(stylegan2_64.state_dict())
    path = tmp_path / "network.pkl"
    g_ema = writers.records(sd, "Generator", stylegan2_64.init_kwargs)
    blob = pickle.dumps(Attack(marker), protocol=2)  # where torch expects a legacy torch.save
    g_ema.meta["state"]["_modules"]["mapping"].meta["state"]["_buffers"]["w_avg"] = _Tensor(blob)
    writers.dump({"G_ema": g_ema}, path)
    with pytest.raises(UnsafeCheckpointError, match="mapping.w_avg") as e:
        load_generator(path)
    assert "posix.system" in str(e.value)


def test_changing_a_class_of_the_reader_is_refused(tmp_path):
    # GLOBAL dnnlib.tflib.network.Network, then BUILD on the class itself (not an instance).
    evil = b"\x80\x03cdnnlib.tflib.network\nNetwork\n}X\x0c\x00\x00\x00__setstate__K\x01sb."
    path = tmp_path / "tf.pkl"
    path.write_bytes(evil)
    with pytest.raises(UnsafeCheckpointError, match="modifies"):
        load_generator(path)


def test_a_hostile_torch_save_is_refused(tmp_path, marker):
    path = tmp_path / "rosinality.pt"
    torch.save({"g_ema": {}, "args": Attack(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system") as e:
        load_generator(path)
    assert str(path) in str(e.value)


@pytest.fixture
def valid_files(tmp_path, stylegan2_64) -> dict[str, Path]:
    sd, kw = stylegan2_64.state_dict(), stylegan2_64.init_kwargs
    files = {k: tmp_path / f"{k}.bin" for k in ("p3", "p4", "tf", "rosinality", "ours")}
    writers.write_nvidia_pickle(files["p3"], sd, kw, protocol=3, numpy1_names=True)
    writers.write_nvidia_pickle(files["p4"], sd, kw, protocol=4)
    writers.write_tf_pickle(files["tf"], sd)
    writers.write_rosinality(files["rosinality"], sd)
    save_generator(stylegan2_64, files["ours"])
    return files


@pytest.mark.parametrize("kind", ["p3", "p4", "tf", "rosinality", "ours"])
@pytest.mark.parametrize("keep", [0.001, 0.3, 0.6, 0.99])
def test_truncated_files_are_named_as_such(tmp_path, valid_files, kind, keep):
    data = valid_files[kind].read_bytes()
    path = tmp_path / "cut.bin"
    path.write_bytes(data[: max(3, int(len(data) * keep))])
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    message = str(e.value)
    assert str(path) in message
    assert any(w in message for w in ("truncated", "incomplete", "not a checkpoint format")), (
        message
    )


@pytest.mark.parametrize("kind", ["p3", "p4", "tf"])
@pytest.mark.parametrize("seed", range(6))
def test_corrupt_pickles_give_a_checkpoint_error(tmp_path, valid_files, kind, seed):
    data = bytearray(valid_files[kind].read_bytes())
    g = torch.Generator().manual_seed(seed)
    for i in torch.randint(2, min(len(data), 20_000), (8,), generator=g).tolist():
        data[i] = (data[i] + 1 + seed) % 256  # the opcode-dense head of the file
    path = tmp_path / "corrupt.pkl"
    path.write_bytes(bytes(data))
    try:
        load_generator(path)  # a byte inside a tensor's data may change nothing detectable
    except CheckpointError as e:
        assert str(path) in str(e)


def test_empty_and_unknown_files(tmp_path):
    empty, text, zip_path = tmp_path / "a.pkl", tmp_path / "b.pt", tmp_path / "c.pt"
    empty.write_bytes(b"")
    text.write_text("this is not a model\n")
    with zipfile.ZipFile(zip_path, "w") as z:
        z.writestr("readme.txt", "hello")
    for path, words in [(empty, "empty"), (text, "not a checkpoint format"),
                        (zip_path, "not a torch.save file")]:  # fmt: skip
        with pytest.raises(CheckpointError, match=words) as e:
            load_generator(path)
        assert str(path) in str(e.value)
    assert models_main(["info", str(text)]) == 1


def test_a_missing_file_is_named_with_the_formats_that_can_be_read(tmp_path):
    missing = tmp_path / "missing.pkl"
    with pytest.raises(CheckpointError, match="no such file") as e:
        load_generator(missing)
    message = str(e.value)
    assert str(missing) in message
    assert all(kind in message for kind in ("NVIDIA", "TF-era", "rosinality", ".safetensors"))


def test_files_that_are_not_generators_say_what_they_hold(tmp_path, stylegan2_64):
    d = tmp_path / "d.pkl"
    writers.write_nvidia_pickle(d, writers.discriminator_state_dict(64, 4096, 64), {})
    other = tmp_path / "other.pkl"
    g_ema = writers.records(writers.discriminator_state_dict(64, 4096, 64), "Discriminator")
    writers.dump({"G_ema": g_ema, "D": g_ema}, other)
    with pytest.raises(CheckpointError, match="'Discriminator'") as e:
        load_generator(other)
    assert "supported" in str(e.value) and "b16.conv0.bias" in str(e.value)
    no_g_ema = tmp_path / "no_g_ema.pkl"
    writers.dump({"D": g_ema, "augment_pipe": None}, no_g_ema)
    with pytest.raises(CheckpointError, match=r"without G_ema: found the keys \['D', "):
        load_generator(no_g_ema)
    model = tmp_path / "model.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "epoch": 3}, model)
    with pytest.raises(CheckpointError, match=r"not a generator: a dict with the keys"):
        load_generator(model)
    plain = tmp_path / "list.pkl"
    plain.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError, match="found a list"):
        load_generator(plain)


def test_missing_and_misshapen_keys_are_named(tmp_path, stylegan2_64):
    sd = {k: v.clone() for k, v in stylegan2_64.state_dict().items()}
    expected = list(sd["synthesis.b16.conv0.weight"].shape)
    missing = {k: v for k, v in sd.items() if k != "synthesis.b16.conv0.weight"}
    path = tmp_path / "missing.safetensors"
    safetensors.torch.save_file(missing, path)
    with pytest.raises(CheckpointError, match="missing key 'synthesis.b16.conv0.weight'") as e:
        load_generator(path)
    assert f"expected shape {expected}" in str(e.value)

    bad = dict(sd, **{"synthesis.b16.conv0.weight": torch.zeros(expected[0], 7, 3, 3)})
    path = tmp_path / "misshapen.pkl"
    writers.write_nvidia_pickle(path, bad, stylegan2_64.init_kwargs)
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    assert f"key 'synthesis.b16.conv0.weight': expected shape {expected}" in str(e.value)
    assert f"found {[expected[0], 7, 3, 3]}" in str(e.value)


def test_a_huge_length_field_is_a_truncation_not_an_allocation(tmp_path):
    # BINBYTES claiming 4 GB, then FRAME claiming 2**60 bytes: both far past the end of the file.
    for body in (b"B" + struct.pack("<I", 2**32 - 1) + b"xx", b"\x95" + struct.pack("<Q", 2**60)):
        path = tmp_path / "huge.pkl"
        path.write_bytes(b"\x80\x04" + body)
        with pytest.raises(CheckpointError, match="truncated"):
            load_generator(path)


def test_our_format_from_a_newer_version_is_refused(tmp_path, stylegan2_64):
    path = tmp_path / "new.safetensors"
    sd = {k: v.contiguous() for k, v in stylegan2_64.state_dict().items()}
    meta = {"format": "dragwidget.generator", "format_version": "99", "kind": "stylegan2"}
    safetensors.torch.save_file(sd, path, metadata=meta)
    with pytest.raises(CheckpointError, match="newer"):
        load_generator(path)


@pytest.mark.parametrize(
    "shape,stride,offset,numel,refused",
    [
        ((2, 3), (3, 1), 0, 6, None),  # contiguous
        ((3, 2), (1, 3), 0, 6, None),  # transposed: a real checkpoint may hold one
        ((1, 3), (0, 1), 2, 5, None),  # a stride of 0 on a dimension of 1 reads nothing twice
        ((2, 2), (4, 2), 0, 7, None),  # a strided slice
        ((0, 5), (5, 1), 99, 1, None),  # empty: reads nothing
        ((3,), (0,), 0, 1, "more than once"),  # expanded
        ((4, 4), (1, 1), 0, 16, "more than once"),  # overlapping
        ((2, 3), (3, 1), 1, 6, "past the end"),
        ((2, 3), (3, -1), 0, 6, "negative"),
        ((2,) * 9, (1,) * 9, 0, 512, "at most 8"),
    ],
)
def test_tensor_views_are_refused_when_they_read_twice_or_past_their_storage(
    shape, stride, offset, numel, refused
):
    from dragwidget.checkpoints.limits import check_view

    if refused is None:
        check_view(shape, stride, offset, numel, "t")
    else:
        with pytest.raises(CheckpointError, match=refused):
            check_view(shape, stride, offset, numel, "t")


def test_a_network_may_not_grow_past_the_weights_of_its_file(stylegan2_64):
    from dragwidget.checkpoints.build import skeleton

    kwargs = {**stylegan2_64.init_kwargs, "z_dim": 4096, "w_dim": 4096}
    with pytest.raises(CheckpointError, match="larger than the file's weights") as e:
        skeleton("stylegan2", kwargs, "big.pkl", {"w": torch.zeros(10)})
    assert str(e.value).startswith("big.pkl: ")
    assert skeleton("stylegan2", stylegan2_64.init_kwargs, "ok.pkl", stylegan2_64.state_dict())
