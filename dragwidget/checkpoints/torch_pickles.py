"""What torch.save writes, read without trusting it: files, and the storages inside network pickles.

torch.save has two layouts. The legacy one is five pickles in a row (a magic number, a protocol
version, a sys-info dict, the object, the list of storage keys), then each storage as an 8-byte
element count and its raw bytes; in the object, a storage is a persistent id
`('storage', storage type, key, location, element count)` and a tensor a call of
`torch._utils._rebuild_tensor_v2(storage, offset, shape, strides, ...)`. The zip layout (torch 1.6
and later) holds the same object as `data.pkl` and each storage as a record `data/<key>`.

- The tensors of an NVIDIA network pickle arrive as `torch.storage._load_from_bytes(blob)`, each
  blob a legacy torch.save of one storage: `StorageRecord` reads it here, by our unpickler, when
  a tensor that uses it is materialized, and `TensorRecord` checks each view of it.
- Whole torch.save files (rosinality checkpoints, bare state dicts) go to
  `torch.load(weights_only=True)`, but only after their pickles have passed our unpickler, with
  records standing for the storages and tensors: torch's safe unpickler bounds neither depth nor
  size, hashes dict keys of any kind, and allocates what a persistent id asks for before reading
  a byte of it. Then every tensor it returns is checked (limits.check_tensor_bytes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

import torch

from dragwidget.checkpoints.errors import CheckpointError, from_torch_load
from dragwidget.checkpoints.limits import check_tensor_bytes, check_view
from dragwidget.checkpoints.unpickler import (
    Blob,
    Policy,
    checked_ordered_dict,
    ignore_mapping_state,
    unpickle,
)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "DoubleStorage": torch.float64,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class StorageType:
    """Stands for `torch.FloatStorage` and its kind in a persistent id."""

    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


class StorageRef:
    """A storage as its persistent id names it; its bytes come later in the file."""

    def __init__(self, key: str, dtype: torch.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.nbytes = numel * dtype.itemsize


class StorageRecord:
    """A tensor storage inside a network pickle, read only when a tensor that uses it is."""

    def __init__(self, data: bytes | Blob):
        if not isinstance(data, bytes | Blob):
            raise CheckpointError(f"a tensor storage must be bytes, found {type(data).__name__}")
        self.data = data
        self._flat: torch.Tensor | None = None

    def load(self) -> torch.Tensor:
        """The storage as a flat tensor."""
        if self._flat is None:
            self._flat = read_storage_blob(self.data)
        return self._flat


def _int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if type(value) not in (tuple, list) or not all(type(v) is int for v in value):
        raise CheckpointError(f"a tensor's {what} must be a tuple of integers")
    return tuple(value)


class TensorRecord:
    """A tensor not yet read: its storage, and its view (offset, shape, strides) of it."""

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any):
        if not isinstance(storage, StorageRecord | StorageRef):
            raise CheckpointError(f"a tensor's storage is a {type(storage).__name__}")
        self.storage, self.offset = storage, offset
        self.shape, self.stride = _int_tuple(size, "shape"), _int_tuple(stride, "strides")
        numel = storage.numel if isinstance(storage, StorageRef) else None
        check_view(self.shape, self.stride, offset, numel, "a tensor")

    def materialize(self) -> torch.Tensor:
        if not isinstance(self.storage, StorageRecord):
            raise CheckpointError("this tensor's data is read by torch.load")
        flat = self.storage.load()
        check_view(self.shape, self.stride, self.offset, flat.numel(), "a tensor")
        view = torch.empty(0, dtype=flat.dtype)
        return view.set_(flat.untyped_storage(), self.offset, self.shape, self.stride)


def rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, *_ignored: Any) -> Any:
    return data  # a parameter is just a tensor to us


class NamespaceRecord:
    """Stands for `argparse.Namespace` (rosinality's training arguments) in our check."""

    def set_state(self, state: Any) -> None:
        ignore_mapping_state(self, state)


def _torch_policy(storages: dict[str, StorageRef]) -> Policy:
    """What a torch.save pickle may hold; `storages` collects what its persistent ids name."""

    def persistent_load(pid: Any) -> StorageRef:
        if type(pid) is not tuple or len(pid) not in (5, 6) or pid[0] != "storage":
            raise CheckpointError("a persistent id that is not a storage")
        storage_type, key, location, numel = pid[1:5]
        if not (
            isinstance(storage_type, StorageType)
            and type(key) is str
            and type(location) is str
            and type(numel) is int
            and numel >= 0
        ):
            raise CheckpointError("a storage id must be (type, key, location, element count)")
        if len(pid) == 6 and pid[5] is not None:
            raise CheckpointError("a view of a storage (written by torch before 1.0): unsupported")
        ref = storages.setdefault(key, StorageRef(key, storage_type.dtype, numel))
        if (ref.dtype, ref.numel) != (storage_type.dtype, numel):
            raise CheckpointError(f"storage {key!r} is named twice with different sizes")
        return ref

    allowed: dict[tuple[str, str], Any] = {
        ("torch", name): StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()
    }
    allowed.update({
        ("torch._utils", "_rebuild_tensor_v2"): TensorRecord,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("collections", "OrderedDict"): checked_ordered_dict,
        ("argparse", "Namespace"): NamespaceRecord,  # rosinality's training arguments
    })  # fmt: skip
    return Policy(
        globals=allowed,
        new=((NamespaceRecord, NamespaceRecord),),
        build={
            OrderedDict: ignore_mapping_state,  # a state dict's _metadata
            NamespaceRecord: NamespaceRecord.set_state,
        },
        persistent_load=persistent_load,
    )


_PLAIN = Policy(globals={})


def _read_legacy_pickles(
    file: BinaryIO, end: int, name: str, storages: dict[str, StorageRef]
) -> tuple[Any, list[str]]:
    """The five pickles of the legacy layout: (the object, the storage keys in data order)."""
    if unpickle(file, name, _PLAIN, end) != LEGACY_MAGIC:
        raise CheckpointError(f"{name}: not a torch.save file (no magic number)")
    if unpickle(file, name, _PLAIN, end) != LEGACY_PROTOCOL:
        raise CheckpointError(f"{name}: a torch.save file of an unknown protocol version")
    sys_info = unpickle(file, name, _PLAIN, end)
    if type(sys_info) is not dict or sys_info.get("little_endian") is not True:
        raise CheckpointError(f"{name}: a torch.save file not written little-endian: unsupported")
    obj = unpickle(file, name, _torch_policy(storages), end)
    keys = unpickle(file, name, _PLAIN, end)
    if type(keys) is not list or any(k not in storages for k in keys) or len(keys) != len(storages):
        raise CheckpointError(f"{name}: its storage keys do not match the storages it names")
    return obj, keys


def _storage_size(file: BinaryIO, ref: StorageRef, end: int, name: str) -> None:
    """Read a storage's element count, and check it and its bytes against the id and the file."""
    count = file.read(8)
    if len(count) != 8:
        raise CheckpointError(f"{name}: the file ends early (truncated?)")
    if struct.unpack("<q", count)[0] != ref.numel:
        raise CheckpointError(f"{name}: storage {ref.key!r} does not hold what its id says")
    if file.tell() + ref.nbytes > end:
        raise CheckpointError(f"{name}: the file ends early (truncated?) in storage {ref.key!r}")


def read_storage_blob(data: bytes | Blob, name: str = "a tensor storage") -> torch.Tensor:
    """A legacy torch.save of one storage (as NVIDIA's pickles hold them): a flat tensor."""
    if isinstance(data, Blob):
        file, start, end = data.file, data.offset, data.offset + data.length
    else:
        file, start, end = io.BytesIO(data), 0, len(data)
    file.seek(start)
    storages: dict[str, StorageRef] = {}
    obj, keys = _read_legacy_pickles(file, end, name, storages)
    if not isinstance(obj, StorageRef) or len(keys) != 1:
        raise CheckpointError(f"{name}: a blob that is not one tensor storage")
    _storage_size(file, obj, end, name)
    flat = torch.empty(obj.numel, dtype=obj.dtype)
    if obj.nbytes and file.readinto(memoryview(flat.view(torch.uint8).numpy())) != obj.nbytes:
        raise CheckpointError(f"{name}: the file ends early (truncated?)")
    return flat


def _check_legacy_file(path: Path, size: int) -> None:
    with open(path, "rb") as file:
        storages: dict[str, StorageRef] = {}
        _, keys = _read_legacy_pickles(file, size, str(path), storages)
        for key in keys:
            _storage_size(file, storages[key], size, str(path))
            file.seek(storages[key].nbytes, os.SEEK_CUR)


def _check_zip_file(path: Path, size: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            records = {info.filename: info for info in archive.infolist()}
            pkl = next((n for n in records if n == "data.pkl" or n.endswith("/data.pkl")), None)
            if pkl is None:
                raise CheckpointError(
                    f"{path}: a zip archive but not a torch.save file (no data.pkl; it holds "
                    f"{sorted(records)[:5]})"
                )
            if records[pkl].file_size > size:
                raise CheckpointError(f"{path}: data.pkl is larger than the archive (compressed?)")
            data = archive.read(pkl)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: a corrupt or truncated zip archive ({e})") from None
    storages: dict[str, StorageRef] = {}
    unpickle(io.BytesIO(data), str(path), _torch_policy(storages), len(data))
    prefix = pkl[: -len("data.pkl")]
    for key, ref in storages.items():
        record = records.get(f"{prefix}data/{key}")
        if record is None or record.file_size < ref.nbytes:
            held = "none" if record is None else f"{record.file_size:,} bytes"
            raise CheckpointError(
                f"{path}: storage {key!r} should hold {ref.nbytes:,} bytes; the archive has {held}"
            )


def _tensors_in(obj: Any) -> list[tuple[str, torch.Tensor]]:
    """Every tensor in what torch.load returned (a structure our check bounded), with its path."""
    found, stack = [], [("", obj)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, torch.Tensor):
            found.append((where or "the object", value))
        elif isinstance(value, dict | argparse.Namespace):
            items = vars(value) if isinstance(value, argparse.Namespace) else value
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in items.items())
        elif isinstance(value, list | tuple):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    return found


def load_torch_file(path: Path, container: str) -> Any:
    """A torch.save file ("torch-zip" or "torch-legacy"), checked, then read by torch.load."""
    size = path.stat().st_size
    if container == "torch-zip":
        _check_zip_file(path, size)
    else:
        _check_legacy_file(path, size)
    # rosinality's training checkpoints store their argparse arguments: data, no code.
    allow = getattr(torch.serialization, "safe_globals", None)
    with allow([argparse.Namespace]) if allow else contextlib.nullcontext():
        try:
            obj = torch.load(
                path, map_location="cpu", weights_only=True, mmap=container == "torch-zip"
            )
        except Exception as e:
            raise from_torch_load(str(path), "torch.load", e) from None
    check_tensor_bytes(_tensors_in(obj), size, str(path))  # before anything copies them
    return obj
