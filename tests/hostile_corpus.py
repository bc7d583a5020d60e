"""A corpus of hostile and broken files, written by code (no binary blob is committed), and a
runner that tries each one in a forked child with a timeout, measuring CPU time and peak memory.

Each case is a file and what must come of it: `"load"` for the benign ones, else a piece of the
error message. Checkpoint files are tried with `load_generator` and with `python -m
dragwidget.models info`; session files with `DragSession.load` onto a small generator and, once
loaded, one drag step, a widget, and a save that loads again. The attacks would write the file
`MARKER` if they ran. Used by tests/test_hostile_corpus.py and benchmarks/hostile_corpus.py.

    python tests/hostile_corpus.py OUT_DIR     # writes the corpus and lists it
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import resource
import select
import signal
import struct
import sys
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

from conftest import small_stylegan2  # noqa: E402
from toygen import BlobGenerator  # noqa: E402

from dragwidget.checkpoints import save_generator, writers  # noqa: E402

NUMPY_CORE = getattr(np, "_core", None) or np.core  # NumPy 2, or 1
MARKER = "MARKER"
MAX_PEAK_MB = 1024
MAX_CPU_S = 30  # per file and action; the slowest takes 2 s
MAX_MESSAGE_CHARS = 4096
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
SESSION_SIZE = 32


@dataclass
class Case:
    name: str  # the file's name
    issue: str  # what it tries (issue 11's item, or what existed before)
    expect: str  # "load", or a piece of the error message
    kind: str = "checkpoint"  # or "session"


@dataclass
class Corpus:
    folder: Path
    cases: list[Case] = field(default_factory=list)

    @property
    def marker(self) -> Path:
        return self.folder / MARKER

    def add(self, name: str, issue: str, expect: str, data: bytes | None = None, **kw) -> Path:
        path = self.folder / name
        if data is not None:
            path.write_bytes(data)
        self.cases.append(Case(name, issue, expect, **kw))
        return path


# ----- pickles, opcode by opcode --------------------------------------------------------------


def text(value: str) -> bytes:
    data = value.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def glob(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def program(*parts: bytes, protocol: int = 2) -> bytes:
    return pickle.PROTO + bytes([protocol]) + b"".join(parts) + pickle.STOP


def deep_tuple(depth: int) -> bytes:
    """0 inside `depth` one-element tuples: one byte of file per level."""
    return pickle.BININT1 + b"\x00" + pickle.TUPLE1 * depth


def laughs(levels: int) -> bytes:
    """t0 = (0, 0); t(i) = (t(i-1), t(i-1)): written out, 2**levels zeros; in the file, 20 bytes
    a level ("billion laughs")."""
    out = pickle.BININT1 + b"\x00" + pickle.DUP + pickle.TUPLE2
    for i in range(levels):
        put = pickle.LONG_BINPUT + struct.pack("<I", i)
        get = pickle.LONG_BINGET + struct.pack("<I", i)
        out += put + pickle.POP + get + get + pickle.TUPLE2
    return out


def legacy_storage(numel: int, data: bytes, count: int | None = None, kind="FloatStorage") -> bytes:
    """A legacy torch.save of one storage, as NVIDIA's pickles hold each tensor's data."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    pid = pickle.MARK + text("storage") + glob("torch", kind) + text("0") + text("cpu")
    pid += pickle.dumps(numel, 2)[2:-1] + pickle.NONE + pickle.TUPLE + pickle.BINPERSID
    return b"".join([
        pickle.dumps(LEGACY_MAGIC, 2), pickle.dumps(1001, 2), pickle.dumps(sys_info, 2),
        program(pid), pickle.dumps(["0"], 2),
        struct.pack("<q", numel if count is None else count), data,
    ])  # fmt: skip


class Reduce:
    """Pickles as a call `func(*args)`, then BUILD with `state` if given: what a file may hold."""

    def __init__(self, func: Any, args: tuple, state: Any = None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


class Raw:
    """Pickles as these opcodes (which must leave one object on the stack)."""

    def __init__(self, data: bytes):
        self.data = data


class _Pickler(writers._Pickler):
    dispatch = dict(writers._Pickler.dispatch)
    dispatch[Raw] = lambda self, obj: self.write(obj.data)


def dump(obj: Any, path: Path, protocol: int = 4, numpy1_names: bool = False) -> None:
    with open(path, "wb") as f:
        _Pickler(f, protocol, numpy1_names).dump(obj)


def tensor(storage: Any, shape: tuple, stride: tuple, offset: int = 0) -> Reduce:
    return Reduce(torch._utils._rebuild_tensor_v2, (storage, offset, shape, stride, False, {}))


def storage(numel: int, data: bytes | None = None, count: int | None = None) -> Reduce:
    """A float storage blob, as `torch.storage._load_from_bytes(blob)`."""
    data = bytes(4 * numel) if data is None else data
    return Reduce(torch.storage._load_from_bytes, (legacy_storage(numel, data, count),))


class Attack:
    """Would write the marker if its pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def object_dtype() -> Reduce:
    """np.dtype("O8") with NumPy's state for it, flags cleared: NumPy would then read raw bytes
    as object pointers."""
    return Reduce(np.dtype, ("O8", False, True), (3, "|", None, None, None, -1, -1, 0))


# ----- checkpoints ----------------------------------------------------------------------------


def _module(g_ema: writers.Persistent, dotted: str) -> tuple[dict, str]:
    *path, leaf = dotted.split(".")
    record = g_ema
    for part in path:
        record = record.meta["state"]["_modules"][part]
    return record.meta["state"], leaf


def set_tensor(g_ema: writers.Persistent, key: str, value: Any) -> None:
    state, leaf = _module(g_ema, key)
    where = "_buffers" if leaf in state["_buffers"] else "_parameters"
    state[where][leaf] = value


def write_checkpoints(c: Corpus) -> None:
    G = small_stylegan2(32)
    sd, kw = G.state_dict(), G.init_kwargs
    f = c.folder

    def nvidia(name: str, issue: str, expect: str, edit: Callable | None = None, **kwargs):
        g_ema = writers.records(sd, "Generator", kwargs.pop("init_kwargs", kw), **kwargs)
        if edit is not None:
            edit(g_ema)
        dump({"G_ema": g_ema, "D": None}, c.add(name, issue, expect))

    # The benign: every format loads.
    writers.write_nvidia_pickle(c.add("nvidia-p4.pkl", "benign", "load"), sd, kw)
    writers.write_nvidia_pickle(
        c.add("nvidia-p3-numpy1.pkl", "benign", "load"), sd, kw, protocol=3, numpy1_names=True
    )
    writers.write_tf_pickle(c.add("tf-era.pkl", "benign", "load"), sd)
    writers.write_rosinality(c.add("rosinality.pt", "benign", "load"), sd)
    path = c.add("rosinality-training.pt", "benign: optimizer state, as training saves", "load")
    writers.write_rosinality(path, sd)
    obj = torch.load(path, weights_only=False)  # our own file
    obj["g_ema"] = OrderedDict(obj["g_ema"])
    obj["g_ema"]._metadata = OrderedDict({"": {"version": 1}})  # as module.state_dict() has
    adam = {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4), "exp_avg_sq": torch.zeros(4)}
    group = {"lr": 0.002, "betas": (0.0, 0.99), "eps": 1e-8, "amsgrad": False, "params": [0]}
    obj.update(g_optim={"state": {0: adam}, "param_groups": [group]}, ada_aug_p=0.1)
    torch.save(obj, path)
    torch.save(dict(sd), c.add("state-dict.pt", "benign", "load"))
    torch.save(
        dict(sd),
        c.add("state-dict-legacy.pt", "benign", "load"),
        _use_new_zipfile_serialization=False,
    )
    save_generator(G, c.add("ours.safetensors", "benign", "load"))
    safetensors.torch.save_file(dict(sd), c.add("state-dict.safetensors", "benign", "load"))
    src = f"open({str(c.marker)!r}, 'w').write('pwned')\n"
    path = c.add("module-src-never-run.pkl", "existing: module_src is never run", "load")
    writers.write_nvidia_pickle(path, sd, kw, module_src=src)

    # 1. numpy.dtype: memory corruption through its state.
    scalar = NUMPY_CORE.multiarray.scalar
    nvidia(
        "dtype-object-flag-cleared.pkl",
        "1: dtype state clears the object flag; scalar() reads bytes as a pointer",
        "NumPy dtype 'O8'",
        lambda g: g.meta["state"].update(attack=Reduce(scalar, (object_dtype(), b"AAAAAAAA"))),
    )
    f8 = Reduce(np.dtype, ("f8", False, True))
    fields = (3, "<", None, ("a",), {"a": (f8, 1 << 20)}, 1 << 30, 1, 63)  # flags: "has objects"
    dump(
        Reduce(scalar, (Reduce(np.dtype, ("f8", False, True), fields), b"AAAAAAAA")),
        c.add(
            "dtype-fields-outside-item.pkl",
            "1: dtype state puts an object field outside the item (ignored: a float64 is read)",
            "neither an NVIDIA network pickle",
        ),
    )
    heap = Reduce(
        NUMPY_CORE.multiarray._reconstruct,
        (np.ndarray, (0,), b"b"),
        (1, (1 << 20,), Reduce(np.dtype, ("f8", False, True), fields), False, b"\0" * 8),
    )
    dump(
        {"G_ema": heap}, c.add("dtype-array-reads-heap.pkl", "1: an array past its data", "8 bytes")
    )
    path = c.add("dtype-in-tf-pickle.pkl", "1: the dtype attack on the TF path", "NumPy dtype 'O8'")
    writers.write_tf_pickle(path, sd)
    data = path.read_bytes().replace(b"\x8c\x02f4", b"\x8c\x02O8", 1)  # one variable's dtype
    path.write_bytes(data)
    dump(
        {"G_ema": np.zeros(2, dtype=[("a", "O")])},
        c.add("dtype-structured.pkl", "1: a structured dtype holding objects", "NumPy dtype 'V8'"),
    )

    # 2. Structures that crash or hang hash(), repr() or a walk.
    key = pickle.EMPTY_DICT + deep_tuple(1_000_000) + pickle.NONE + pickle.SETITEM
    c.add(
        "deep-tuple-key.pkl",
        "2: a dict key nested 1e6 deep (hash overflows); over the opcode bound",
        "pickle operations",
        program(key),
    )
    nested = pickle.EMPTY_DICT + text("G_ema") + deep_tuple(200_000) + pickle.SETITEM
    c.add("deep-nesting.pkl", "2: a value nested 200,000 deep", "nested more than", program(nested))
    key = pickle.EMPTY_DICT + laughs(60) + pickle.NONE + pickle.SETITEM
    c.add("laughs-dict-key.pkl", "2: a 'billion laughs' dict key", "dict key", program(key))
    nvidia(
        "laughs-in-init-kwargs.pkl",
        "2: a 'billion laughs' in G_ema's stored kwargs",
        "billion laughs",
        lambda g: g.meta["state"]["_init_kwargs"].update(x=Raw(laughs(60))),
    )
    c.add(
        "laughs-persistent-id.pkl",
        "2: a 'billion laughs' as a persistent id (the message repr()s it)",
        "persistent id",
        program(laughs(60) + pickle.BINPERSID),
    )
    c.add(
        "huge-global-name.pkl",
        "2: a global with a 60 KB name (the message quotes it)",
        "refused to load the global",
        program(glob("os" * 30_000, "system")),
    )
    c.add(
        "set-of-deep-tuples.pkl",
        "2: builtins.set of a deep tuple (hash)",
        "set element",
        program(
            glob("builtins", "set") + deep_tuple(100_000) + (pickle.TUPLE1 * 2) + pickle.REDUCE
        ),
    )
    additems = pickle.EMPTY_SET + pickle.MARK + deep_tuple(100_000) + pickle.ADDITEMS
    c.add(
        "additems-deep.pkl",
        "2: a set item nested deep",
        "set element",
        program(additems, protocol=4),
    )
    c.add(
        "ext-opcode.pkl",
        "7: an EXT1 opcode (copyreg registry)",
        "EXT1",
        program(pickle.EXT1 + b"\x01"),
    )
    reuse = pickle.EMPTY_LIST + (pickle.DUP + pickle.POP) * 20_000
    c.add("container-reuse.pkl", "2: 20,000 reuses of a list", "referenced again", program(reuse))
    cycle = pickle.EMPTY_LIST + pickle.DUP + pickle.DUP + pickle.APPEND
    c.add("self-reference.pkl", "2: a list that contains itself", "contains itself", program(cycle))
    dicts = pickle.EMPTY_LIST + (pickle.EMPTY_DICT + pickle.APPEND) * 499_000
    c.add(
        "half-a-million-dicts.pkl",
        "2: 499,000 dicts (the memory of what a pickle builds)",
        "neither an NVIDIA network pickle",
        program(dicts),
    )
    busy = (pickle.MARK + pickle.POP_MARK) * 525_000
    c.add(
        "many-opcodes.pkl",
        "2: 1.05 million opcodes",
        "pickle operations",
        program(busy + pickle.NONE),
    )

    # 3. Memory: kwargs that build a huge network, tensors that share or repeat their bytes.
    big = {**kw, "z_dim": 20_000_000}
    nvidia("kwargs-z-dim-2e7.pkl", "3: stored z_dim = 2e7", "z_dim is 20000000", init_kwargs=big)
    wide = {**kw, "z_dim": 4096, "w_dim": 4096}
    nvidia(
        "kwargs-z-dim-4096.pkl",
        "3: stored z_dim = w_dim = 4096, weights 64",
        "the weights say",
        init_kwargs=wide,
    )
    syn = {**kw["synthesis_kwargs"], "channel_base": 1 << 22, "channel_max": 8192}
    path = c.add("kwargs-channels.safetensors", "3: stored channels 8192", "channels")
    save_generator(G, path)
    _edit_safetensors_metadata(
        path, lambda m: m.update(init_kwargs=json.dumps({**kw, "synthesis_kwargs": syn}))
    )
    inf_clamp = {**kw, "synthesis_kwargs": {**kw["synthesis_kwargs"], "conv_clamp": float("inf")}}
    nvidia(
        "kwargs-conv-clamp-inf.pkl",
        "7: a non-finite stored hyperparameter",
        "not a finite number",
        init_kwargs=inf_clamp,
    )
    expanded = tuple(sd["synthesis.b32.conv1.weight"].shape)
    nvidia(
        "stride-0-pickle.pkl",
        "3: a stride-0 (expanded) tensor in a pickle",
        "stride of 0",
        lambda g: set_tensor(
            g, "synthesis.b32.conv1.weight", tensor(storage(1), expanded, (0, 0, 0, 0))
        ),
    )
    nvidia(
        "overlapping-pickle.pkl",
        "3: overlapping strides in a pickle",
        "more than once",
        lambda g: set_tensor(g, "mapping.fc0.weight", tensor(storage(64 * 64), (64, 64), (1, 1))),
    )
    nvidia(
        "view-past-storage.pkl",
        "3: a view past the end of its storage",
        "past the end",
        lambda g: set_tensor(g, "mapping.fc0.bias", tensor(storage(64), (64,), (1,), offset=10)),
    )
    lies = storage(10**12, data=bytes(256), count=64)
    nvidia(
        "storage-id-lies.pkl",
        "3: a storage id asking for 1e12 elements over 256 bytes",
        "does not hold what its id says",
        lambda g: set_tensor(g, "mapping.fc0.bias", tensor(lies, (64,), (1,))),
    )
    shared = storage(1 << 18)  # 1 MB, referenced by 12 tensors

    def share(g_ema):
        for i in range(12):
            g_ema.meta["state"]["_buffers"][f"copy{i}"] = tensor(shared, (1 << 18,), (1,))

    nvidia("shared-storage.pkl", "3: 12 tensors on one 1 MB storage", "more than 2 x", share)
    one = torch.zeros(1)
    stretched = dict(sd, **{"synthesis.b32.conv1.weight": one.expand(*expanded)})
    torch.save(
        stretched,
        c.add("stride-0-state-dict.pt", "3: a stride-0 tensor in a state-dict .pt", "stride of 0"),
    )
    path = c.add(
        "stride-0-rosinality.pt", "3: a stride-0 tensor in a rosinality .pt", "stride of 0"
    )
    writers.write_rosinality(path, sd)
    obj = torch.load(path, weights_only=False)  # our own file
    obj["g_ema"]["convs.0.conv.weight"] = one.expand(obj["g_ema"]["convs.0.conv.weight"].shape)
    torch.save(obj, path)
    base = torch.zeros(1 << 18)
    many = dict(sd, **{f"copy{i}": base[:] for i in range(12)})
    torch.save(
        many,
        c.add("shared-storage.pt", "3: 12 tensors on one 1 MB storage in a .pt", "more than 2 x"),
    )
    _zip_with_data_pkl(
        c.add(
            "pt-deep-key.pt",
            "2: a dict key nested 200,000 deep in a .pt (crashes torch's unpickler)",
            "dict key",
        ),
        program(pickle.EMPTY_DICT + deep_tuple(200_000) + pickle.NONE + pickle.SETITEM),
    )
    _zip_with_data_pkl(
        c.add(
            "pt-storage-size-lies.pt", "3: a .pt storage id asking for 1e12 elements", "should hold"
        ),
        program(pickle.EMPTY_DICT + text("w") + _torch_tensor_ops(10**12) + pickle.SETITEM),
        records={"data/0": b"\0" * 16},
    )
    legacy = f / "pt-legacy-size-lies.pt"
    torch.save({"w": torch.zeros(4)}, legacy, _use_new_zipfile_serialization=False)
    data = legacy.read_bytes().replace(
        pickle.BININT1 + b"\x04" + pickle.NONE, _long(10**12) + pickle.NONE, 1
    )
    c.add(
        "pt-legacy-size-lies.pt",
        "3: a legacy .pt storage id asking for 1e12 elements",
        "does not hold",
        data,
    )

    # StyleGAN3: the arguments that shape its layers and filters.
    from dragwidget.networks.stylegan3 import Generator as StyleGAN3

    torch.manual_seed(0)
    sg3 = StyleGAN3(
        z_dim=8, w_dim=8, img_resolution=16, img_channels=3, channel_base=256, channel_max=8,
        num_layers=4, margin_size=2, mapping_kwargs={"num_layers": 1},
    )  # fmt: skip
    save_generator(sg3, c.add("stylegan3.safetensors", "benign", "load"))
    for name, change, expect in (
        ("margin", {"margin_size": 10**6}, "margin_size is 1000000"),
        ("layers", {"num_layers": 20}, "the weights say"),
        ("cutoff", {"first_cutoff": 0.0}, "first_cutoff is 0.0"),
    ):
        path = c.add(f"stylegan3-{name}.safetensors", f"3: StyleGAN3 stored {change}", expect)
        save_generator(sg3, path)
        kwargs = json.dumps({**sg3.init_kwargs, **change})
        _edit_safetensors_metadata(path, lambda m, kwargs=kwargs: m.update(init_kwargs=kwargs))

    # 7. Small ones.
    ints = {k: v.to(torch.int64) for k, v in sd.items()}
    safetensors.torch.save_file(
        ints, c.add("all-int64.safetensors", "7: every tensor int64", "holds torch.int64")
    )
    bools = {k: v > 0 for k, v in sd.items()}
    safetensors.torch.save_file(
        bools, c.add("all-bool.safetensors", "7: every tensor bool", "holds torch.bool")
    )
    for name, lr in (
        ("rosinality-lr-mlp-nan-text.pt", "nan"),
        ("rosinality-lr-mlp-nan.pt", float("nan")),
    ):
        path = c.add(name, "7: rosinality args.lr_mlp = " + repr(lr), "args.lr_mlp")
        writers.write_rosinality(path, sd)
        obj = torch.load(path, weights_only=False)
        obj["args"].lr_mlp = lr
        torch.save(obj, path)

    # Existing: code, truncation, corruption, the wrong content.
    for module, name in (("os", "system"), ("builtins", "eval"), ("subprocess", "Popen")):
        call = glob(module, name) + text(f"touch {c.marker}") + pickle.TUPLE1 + pickle.REDUCE
        c.add(
            f"global-{module}-{name}.pkl",
            "existing: a global that runs code",
            f"{module}.{name}",
            program(call),
        )
    nvidia(
        "attack-inside-valid-pickle.pkl",
        "existing: os.system deep inside a valid pickle",
        "posix.system",
        lambda g: g.meta["state"]["_modules"]["synthesis"].meta["state"].update(x=Attack(c.marker)),
    )
    blob = pickle.dumps(Attack(c.marker), protocol=2)
    nvidia(
        "attack-in-storage-blob.pkl",
        "existing: a hostile storage blob",
        "posix.system",
        lambda g: set_tensor(
            g, "mapping.w_avg", tensor(Reduce(torch.storage._load_from_bytes, (blob,)), (1,), (1,))
        ),
    )
    evil = b"\x80\x03cdnnlib.tflib.network\nNetwork\n}X\x0c\x00\x00\x00__setstate__K\x01sb."
    c.add("build-on-a-class.pkl", "existing: BUILD on a class of the reader", "modifies", evil)
    torch.save(
        {"g_ema": {}, "args": Attack(c.marker)},
        c.add("attack-torch-save.pt", "existing: a hostile torch.save", "posix.system"),
    )
    for source in ("nvidia-p4.pkl", "ours.safetensors", "rosinality.pt"):
        data = (f / source).read_bytes()
        c.add(
            f"truncated-{source}", "existing: a truncated file", "truncated", data[: len(data) // 2]
        )
    c.add("empty.pkl", "existing: an empty file", "empty", b"")
    c.add("text.pt", "existing: a text file", "not a checkpoint format", b"this is not a model\n")
    with zipfile.ZipFile(
        c.add("zip-without-data-pkl.pt", "existing: a zip, not a torch.save", "no data.pkl"), "w"
    ) as z:
        z.writestr("readme.txt", "hello")
    c.add(
        "binbytes-4gb.pkl",
        "existing: a length field of 4 GB",
        "truncated",
        b"\x80\x04B" + struct.pack("<I", 2**32 - 1) + b"xx",
    )
    c.add(
        "frame-2-60.pkl",
        "existing: a frame of 2**60 bytes",
        "truncated",
        b"\x80\x04\x95" + struct.pack("<Q", 2**60),
    )
    path = c.add("newer-format.safetensors", "existing: our format, a newer version", "newer")
    safetensors.torch.save_file(
        dict(sd),
        path,
        metadata={"format": "dragwidget.generator", "format_version": "99", "kind": "stylegan2"},
    )
    writers.write_nvidia_pickle(
        c.add("discriminator.pkl", "existing: a D, not a G", "not a generator we know"),
        writers.discriminator_state_dict(64, 4096, 64),
        {},
    )
    missing = {k: v for k, v in sd.items() if k != "synthesis.b16.conv0.weight"}
    safetensors.torch.save_file(
        missing, c.add("missing-key.safetensors", "existing: a missing tensor", "missing key")
    )


def _long(n: int) -> bytes:
    return pickle.dumps(n, 2)[2:-1]


def _torch_tensor_ops(numel: int) -> bytes:
    """A zip-layout tensor whose storage id asks for `numel` floats."""
    pid = pickle.MARK + text("storage") + glob("torch", "FloatStorage") + text("0") + text("cpu")
    pid += _long(numel) + pickle.TUPLE + pickle.BINPERSID
    args = pid + _long(0) + _long(4) + pickle.TUPLE1 + _long(1) + pickle.TUPLE1 + pickle.NEWFALSE
    args += glob("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE
    return (
        glob("torch._utils", "_rebuild_tensor_v2")
        + pickle.MARK
        + args
        + pickle.TUPLE
        + pickle.REDUCE
    )


def _zip_with_data_pkl(
    path: Path, data_pkl: bytes, records: dict[str, bytes] | None = None
) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", "3\n")
        for name, data in (records or {}).items():
            z.writestr(f"archive/{name}", data)


def _edit_safetensors_metadata(path: Path, edit: Callable[[dict], None]) -> None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    edit(metadata)
    safetensors.torch.save_file(tensors, path, metadata=metadata)


# ----- session files --------------------------------------------------------------------------


def session_generator() -> torch.nn.Module:
    return BlobGenerator(resolution=SESSION_SIZE)


def _session_parts(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["dragwidget"]), {k: f.get_tensor(k) for k in f.keys()}


def _session_file(path: Path, meta: dict | str, tensors: dict[str, torch.Tensor]) -> None:
    text_ = meta if isinstance(meta, str) else json.dumps(meta)  # NaN and Infinity pass
    safetensors.torch.save_file(tensors, path, metadata={"dragwidget": text_})


def write_sessions(c: Corpus) -> None:
    from dragwidget.drag import DragSession

    G = session_generator()
    session = DragSession(G, seed=1, step_size=0.05)
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 5, cy))
    session.run(max_steps=3)
    mask = np.zeros((SESSION_SIZE, SESSION_SIZE), bool)
    mask[8:24, 8:24] = True
    session.set_mask(mask)
    valid = session.save(c.add("session-valid.safetensors", "benign", "load", kind="session"))
    meta, tensors = _session_parts(valid)

    def variant(name: str, issue: str, expect: str, edit_meta=None, edit_tensors=None, raw=None):
        m, t = json.loads(json.dumps(meta)), dict(tensors)
        if edit_meta is not None:
            edit_meta(m)
        if edit_tensors is not None:
            edit_tensors(t)
        _session_file(c.add(name, issue, expect, kind="session"), m if raw is None else raw, t)

    def points(value):
        return lambda m: m.update(points=value)

    def settings(**changes):
        return lambda m: m["settings"].update(changes)

    nan = float("nan")
    variant(
        "session-step-size-1e300.safetensors",
        "6: step_size 1e300 (a step must not poison the history)",
        "load",
        settings(step_size=1e300),
    )
    variant(
        "session-r1-2000.safetensors",
        "4: r1 = 2000 (3.6 GB a step)",
        "r1 must be in (0, 64]",
        settings(r1=2000),
    )
    variant("session-r1-1e9.safetensors", "4: r1 = 1e9", "r1 must be in (0, 64]", settings(r1=1e9))
    variant(
        "session-point-nan.safetensors",
        "5: a NaN point",
        "not a finite point",
        points([[[nan, 1], [2, 2]]]),
    )
    variant(
        "session-point-1e308.safetensors",
        "5: a point at 1e308",
        "outside the image",
        points([[[1e308, 1], [2, 2]]]),
    )
    variant(
        "session-point-outside.safetensors",
        "5: a point outside the image",
        "outside the image",
        points([[[40, 1], [2, 2]]]),
    )
    variant(
        "session-point-3d.safetensors",
        "5: a 3-D point",
        "pair of numbers",
        points([[[1, 2, 3], [2, 2]]]),
    )
    variant(
        "session-point-deep.safetensors",
        "5: points nested deep",
        "points",
        raw=json.dumps({**meta, "points": "X"}).replace('"X"', "[" * 500 + "]" * 500),
    )
    variant(
        "session-history-latent-nan.safetensors",
        "5: a NaN history latent",
        "NaN",
        edit_tensors=lambda t: t.update(
            {"history.0.before": torch.full_like(t["history.0.before"], nan)}
        ),
    )
    variant(
        "session-history-latent-shape.safetensors",
        "5: a history latent of the wrong shape",
        "shape",
        edit_tensors=lambda t: t.update({"history.0.after": torch.zeros(1, 2, 4)}),
    )
    variant(
        "session-history-missing.safetensors",
        "5: a history entry without its latents",
        "no tensor",
        edit_tensors=lambda t: t.pop("history.0.after"),
    )
    variant(
        "session-history-kind.safetensors",
        "5: a history entry of an unknown kind",
        "kind",
        lambda m: m["history"][0].update(kind="teleport"),
    )
    variant(
        "session-mask-shape.safetensors",
        "5: a mask of the wrong shape",
        "mask must have shape",
        edit_tensors=lambda t: t.update(mask=torch.ones(3, 5, dtype=torch.uint8)),
    )
    variant(
        "session-mask-float.safetensors",
        "5: a float mask",
        "bool array",
        edit_tensors=lambda t: t.update(mask=torch.ones(SESSION_SIZE, SESSION_SIZE)),
    )
    variant(
        "session-mask-values.safetensors",
        "5: a mask of 0/1/2",
        "bool array",
        edit_tensors=lambda t: t.update(
            mask=torch.full((SESSION_SIZE, SESSION_SIZE), 2, dtype=torch.uint8)
        ),
    )
    variant(
        "session-tensor-huge.safetensors",
        "5: a tensor larger than any latent or mask",
        "numbers",
        edit_tensors=lambda t: t.update(extra=torch.zeros(4096)),
    )
    variant(
        "session-seed-negative.safetensors",
        "5: seed -1",
        "seed must be",
        lambda m: m.update(seed=-1),
    )
    variant(
        "session-seed-huge.safetensors",
        "5: seed 2**70",
        "seed must be",
        lambda m: m.update(seed=2**70),
    )
    variant(
        "session-seed-text.safetensors",
        "5: seed 'one'",
        "seed must be",
        lambda m: m.update(seed="one"),
    )
    variant(
        "session-settings-unknown.safetensors",
        "5: an unknown setting",
        "unknown setting",
        settings(teleport=True),
    )
    variant(
        "session-settings-type.safetensors",
        "5: step_size 'fast'",
        "step_size must be",
        settings(step_size="fast"),
    )
    variant(
        "session-settings-list.safetensors",
        "5: settings as a list",
        "settings",
        lambda m: m.update(settings=[1, 2]),
    )
    variant(
        "session-missing-points.safetensors",
        "5: no points field (a KeyError before)",
        "missing 'points'",
        lambda m: m.pop("points"),
    )
    variant(
        "session-truncation-nan.safetensors",
        "5: truncation_psi NaN",
        "truncation_psi",
        lambda m: m.update(truncation_psi=nan),
    )
    variant(
        "session-undone.safetensors", "5: undone > history", "undone", lambda m: m.update(undone=5)
    )
    variant(
        "session-newer.safetensors",
        "5: a newer format version",
        "version",
        lambda m: m.update(version=99),
    )
    variant(
        "session-generator.safetensors",
        "5: saved for another generator",
        "num_ws",
        lambda m: m["generator"].update(num_ws=99),
    )
    variant(
        "session-not-json.safetensors", "5: metadata that is not JSON", "metadata", raw="{not json"
    )
    variant(
        "session-deep-json.safetensors",
        "5: metadata nested 100,000 deep",
        "metadata",
        raw="[" * 100_000 + "]" * 100_000,
    )
    c.add(
        "session-text.safetensors",
        "5: not a safetensors file",
        "not a dragwidget session",
        b"hello",
        kind="session",
    )


def write_corpus(folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    corpus = Corpus(folder)
    write_checkpoints(corpus)
    write_sessions(corpus)
    return corpus.cases


# ----- running each file in a forked child ------------------------------------------------------


@dataclass
class Result:
    case: str
    action: str  # "load", "info" or "session"
    outcome: str  # "loaded", "error", "crash", "timeout"
    message: str = ""
    note: str = ""
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    added_mb: float = 0.0


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _act(
    action: str, path: Path, session_G: torch.nn.Module, scratch: Path
) -> tuple[str, str, str]:
    """(outcome, message, note) of one action on one file, in this process."""
    from dragwidget.checkpoints import load_generator
    from dragwidget.drag import DragSession
    from dragwidget.models import main as models_main

    if action == "info":
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = models_main(["info", str(path)])
        return ("loaded" if rc == 0 else "error"), err.getvalue().strip(), f"exit {rc}"
    try:
        if action == "load":
            load_generator(path)
            return "loaded", "", ""
        session = DragSession.load(path, session_G)
    except Exception as e:
        return (
            "error",
            f"{type(e).__name__}: {e}",
            "" if isinstance(e, ValueError) else "raised past the API",
        )
    note = ""
    if session.points:  # a step, then what the issue asks: the history stays saveable
        try:
            session.step()
            note = "a step ran"
        except FloatingPointError as e:
            note = f"the step was refused ({e})"
        session.finish()
    again = DragSession.load(session.save(scratch / "again.safetensors"), session_G)
    if not torch.equal(again.latent, session.latent):
        return "error", "saved and loaded again, the latent changed", note
    from dragwidget.widget import DragWidget

    DragWidget(session=again).close()
    return "loaded", "", note + "; saved, loaded again, shown in a widget"


def _child(action: str, path: Path, session_G: torch.nn.Module, scratch: Path, out: int) -> None:
    vm = 0
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize")) * 1024
    guard = vm + (4 << 30)  # a runaway allocation fails here, not on the machine
    resource.setrlimit(resource.RLIMIT_AS, (guard, resource.getrlimit(resource.RLIMIT_AS)[1]))
    # A hang is work without end: count it in CPU seconds, which a busy machine does not inflate.
    resource.setrlimit(resource.RLIMIT_CPU, (MAX_CPU_S, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    before = _rss_mb()
    try:
        outcome, message, note = _act(action, path, session_G, scratch)
    except BaseException as e:  # noqa: BLE001  (reported, not raised: this is a forked child)
        outcome, message, note = "error", f"{type(e).__name__}: {e}", "raised past the API"
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024
    report = {
        "outcome": outcome, "message": message, "note": note,
        "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": peak, "added_mb": peak - before,
    }  # fmt: skip
    os.write(out, json.dumps(report).encode())
    os._exit(0)


def run_one(case: Case, action: str, folder: Path, session_G: Any, timeout: float) -> Result:
    read, write = os.pipe()
    scratch = folder / "scratch"
    scratch.mkdir(exist_ok=True)
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            _child(action, folder / case.name, session_G, scratch, write)
        finally:
            os._exit(1)
    os.close(write)
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([read], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return Result(case.name, action, "timeout", note=f"stopped after {timeout:.0f} s")
        chunk = os.read(read, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        if name == "SIGXCPU":
            return Result(case.name, action, "timeout", note=f"more than {MAX_CPU_S} s of CPU")
        return Result(case.name, action, "crash", note=f"killed by {name}")
    if not chunks:
        return Result(case.name, action, "crash", note=f"exit status {os.WEXITSTATUS(status)}")
    return Result(case.name, action, **json.loads(b"".join(chunks)))


def actions(case: Case) -> tuple[str, ...]:
    return ("session",) if case.kind == "session" else ("load", "info")


def run_corpus(cases: list[Case], folder: Path, timeout: float = 600) -> list[Result]:
    """Each action on each file in its own forked child: this process stays as it was.

    A child is stopped after MAX_CPU_S of CPU time, or `timeout` seconds of waiting for it."""
    torch.set_num_threads(1)  # the children are forked: no thread pool may be running
    import dragwidget.models  # noqa: F401  (imported once, before the forks)
    import dragwidget.widget  # noqa: F401

    session_G = session_generator()
    return [run_one(c, a, folder, session_G, timeout) for c in cases for a in actions(c)]


def problems(case: Case, result: Result, folder: Path) -> list[str]:
    """What is wrong with one result, by the issue's rules (empty when all is well)."""
    wrong = []
    if case.expect == "load":
        if result.outcome != "loaded":
            wrong.append(f"should load, but: {result.outcome} {result.message} {result.note}")
    elif result.outcome != "error":
        wrong.append(f"should fail with {case.expect!r}, but: {result.outcome} {result.note}")
    else:
        if case.expect not in result.message:
            wrong.append(f"the error should say {case.expect!r}: {result.message[:600]}")
        if str(folder / case.name) not in result.message:
            wrong.append(f"the error should name the file: {result.message[:600]}")
        if result.action == "info" and result.note == "exit 0":
            wrong.append("models info exited 0")
        if result.note == "raised past the API":
            wrong.append(f"not a ValueError / CheckpointError: {result.message[:600]}")
    if len(result.message) > MAX_MESSAGE_CHARS:
        wrong.append(f"an error message of {len(result.message)} characters")
    if result.peak_mb > MAX_PEAK_MB:
        wrong.append(f"peak memory {result.peak_mb:.0f} MB")
    return [f"{case.name} ({result.action}): {w}" for w in wrong]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    for case in write_corpus(args.out):
        size = (args.out / case.name).stat().st_size
        print(f"{case.name:45} {size:>10,} B  {case.issue}")


if __name__ == "__main__":
    main()
