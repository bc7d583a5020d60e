"""Read a network pickle as data: run none of its code, and leave big blobs on disk until asked.

A pickle is a small program: besides building lists and dicts it can name any importable function
(a "global") and call it. NVIDIA's network pickles use that to rebuild each network by executing
the Python source stored inside the file, and to rebuild each tensor through a full `torch.load`.
This reader allows only the globals those files need and maps each to a harmless stand-in:

- the persistent-object constructor returns its meta record (class name, constructor kwargs,
  state); the stored `module_src` is kept as text and never run;
- tensors become `TensorRecord`s and storages `StorageRecord`s; a storage is read, with
  `torch.load(weights_only=True)`, only when a tensor that uses it is materialized;
- NumPy arrays become `ArrayRecord`s; TF-era networks become `TFNetwork` stubs holding their state;
- `EasyDict` is a dict; NumPy 1 names (`numpy.core.*`) read as NumPy 2 ones (`numpy._core.*`).

Any other global is refused with an `UnsafeCheckpointError` that names it and the file.

A 360 MB pickle holds G, D and G_ema, and we want only G_ema (a third). The C unpickler would read
every byte string into memory and keep it (the pickle memo holds them all). So we use the
pure-Python unpickler and replace its byte-string opcodes: a long byte string that lies outside a
protocol-4 frame (that is every tensor's data) is skipped over with a seek and remembered as a
`Blob` (offset, length). Peak memory is then G_ema's tensors, not the whole file.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import warnings
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np
import torch

from dragwidget.checkpoints.errors import CheckpointError, UnsafeCheckpointError, from_torch_load

try:  # NumPy 2
    from numpy._core.multiarray import scalar as _numpy_scalar
except ImportError:  # NumPy 1
    from numpy.core.multiarray import scalar as _numpy_scalar

LAZY_MIN_BYTES = 4096  # shorter byte strings are read at once: a seek costs more than they do


class Blob:
    """A byte string left in the file: `length` bytes at `offset`."""

    def __init__(self, file: BinaryIO, offset: int, length: int):
        self.file, self.offset, self.length = file, offset, length

    def read(self) -> bytes:
        self.file.seek(self.offset)
        data = self.file.read(self.length)
        if len(data) != self.length:
            raise EOFError
        return data


def _bytes_of(data: bytes | Blob) -> bytes:
    return data.read() if isinstance(data, Blob) else data


class StorageRecord:
    """A tensor storage, as pickled by torch: a legacy `torch.save` of the storage alone."""

    def __init__(self, data: bytes | Blob):
        if not isinstance(data, bytes | Blob):
            raise CheckpointError(f"a tensor storage must be bytes, found {type(data).__name__}")
        self.data = data
        self._storage = None

    def load(self) -> torch.TypedStorage:
        if self._storage is None:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
                storage = torch.load(io.BytesIO(_bytes_of(self.data)), weights_only=True)
            if not isinstance(storage, torch.TypedStorage):
                raise CheckpointError(f"a tensor storage blob holds a {type(storage).__name__}")
            self._storage = storage
        return self._storage


class TensorRecord:
    """A tensor not yet read: its storage and its view (offset, shape, strides) of it."""

    def __init__(self, storage, offset, size, stride, *_ignored):
        if not isinstance(storage, StorageRecord):
            raise CheckpointError(f"a tensor's storage is a {type(storage).__name__}")
        self.storage, self.offset = storage, offset
        self.shape, self.stride = tuple(size), tuple(stride)

    def materialize(self) -> torch.Tensor:
        storage = self.storage.load()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
            t = torch.empty(0, dtype=storage.dtype)
            return t.set_(storage.untyped(), self.offset, self.shape, self.stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *_ignored):
    return data  # a parameter is just a tensor to us


_NDARRAY = object()  # stands for numpy.ndarray: only ever an argument of _reconstruct


class ArrayRecord:
    """A NumPy array: created empty by `_reconstruct`, filled by its pickled state."""

    def __init__(self, cls, shape, typecode):
        if cls is not _NDARRAY:
            raise CheckpointError("numpy _reconstruct of something other than an ndarray")
        self.shape, self.dtype, self.fortran, self.data = tuple(shape), None, False, b""

    def __setstate__(self, state):
        if len(state) == 5:
            state = state[1:]  # a leading format version
        self.shape, self.dtype, self.fortran, self.data = tuple(state[0]), *state[1:]
        if not isinstance(self.dtype, np.dtype) or self.dtype.hasobject:
            raise CheckpointError(f"a NumPy array of dtype {self.dtype!r}: only numbers are read")

    def materialize(self) -> np.ndarray:
        order = "F" if self.fortran else "C"
        flat = np.frombuffer(_bytes_of(self.data), dtype=self.dtype)
        return flat.reshape(self.shape, order=order)


class TFNetwork:
    """A TF-era `dnnlib.tflib.network.Network`: only its pickled state (name, kwargs, variables)."""

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise CheckpointError(f"a TF network's state is a {type(state).__name__}")
        self.state = state


def _persistent_record(meta):
    """Stands for NVIDIA's persistent-object constructor: returns the record, runs nothing."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or "state" not in meta:
        raise CheckpointError("a persistent object whose record is not a class record")
    return meta


ALLOWED_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
    ("torch._utils", "_rebuild_tensor_v2"): TensorRecord,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): StorageRecord,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("dnnlib.util", "EasyDict"): dict,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy._core.multiarray", "_reconstruct"): ArrayRecord,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class _BoundedFile:
    """The file as the unpickler sees it: no read asks for more than what is left of the file,
    so a corrupt length field gives a short read (a clear "truncated"), not a huge allocation."""

    def __init__(self, file: BinaryIO, size: int):
        self.file, self.size = file, size

    def read(self, n: int = -1) -> bytes:
        if 0 <= n <= 1 << 16:  # small reads cannot allocate much: skip the bookkeeping
            return self.file.read(n)
        left = self.size - self.file.tell()
        return self.file.read(left if n < 0 else min(n, left))

    def readline(self) -> bytes:
        return self.file.readline()

    def readinto(self, buf) -> int:
        return self.file.readinto(buf)


class _SafeUnpickler(pickle._Unpickler):
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, name: str):
        self.file, self.name = file, name
        self.size = os.fstat(file.fileno()).st_size
        super().__init__(_BoundedFile(file, self.size))

    def find_class(self, module: str, name: str) -> Any:
        if module == "numpy.core" or module.startswith("numpy.core."):
            module = "numpy._core" + module[len("numpy.core") :]
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafeCheckpointError(
                f"{self.name}: refused to load the global {module}.{name}: a checkpoint should "
                "hold only tensors and settings, and this name could run code. Allowed globals: "
                + ", ".join(f"{m}.{n}" for m, n in ALLOWED_GLOBALS)
            )
        return ALLOWED_GLOBALS[(module, name)]

    def persistent_load(self, pid):
        raise CheckpointError(f"{self.name}: a persistent id in a plain pickle: {pid!r}")

    def _read_bytes(self, n: int) -> bytes | Blob:
        outside_frame = getattr(self._unframer, "current_frame", True) is None
        if n >= LAZY_MIN_BYTES and outside_frame:
            offset = self.file.tell()
            if offset + n > self.size:
                raise EOFError
            self.file.seek(n, io.SEEK_CUR)
            return Blob(self.file, offset, n)
        data = self.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def load_binbytes(self):
        (n,) = struct.unpack("<I", self.read(4))
        self.append(self._read_bytes(n))

    def load_binbytes8(self):
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(self._read_bytes(n))

    def load_build(self):
        # BUILD sets attributes on the object below it; on a class or function (ours included)
        # that would change code that later loads use.
        target = self.stack[-2] if len(self.stack) >= 2 else None
        if isinstance(target, type) or callable(target):
            raise UnsafeCheckpointError(f"{self.name}: the pickle modifies {target!r}: refused")
        super().load_build()

    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8
    dispatch[pickle.BUILD[0]] = load_build


def load(file: BinaryIO, name: str | None = None) -> Any:
    """Unpickle an open file as data. Blobs read from `file` later, so keep it open meanwhile."""
    name = name or getattr(file, "name", "<pickle>")
    try:
        return _SafeUnpickler(file, name).load()
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, struct.error) as e:
        if isinstance(e, EOFError) or "truncated" in str(e) or "exhausted" in str(e):
            raise CheckpointError(f"{name}: the file ends early (truncated?)") from None
        raise CheckpointError(f"{name}: not a readable pickle: {e}") from None
    except Exception as e:  # a corrupt stream fails in many ways deep inside pickle
        raise CheckpointError(f"{name}: corrupt pickle ({type(e).__name__}: {e})") from None


def materialize(record: TensorRecord | ArrayRecord, name: str, what: str) -> Any:
    """Read a record's data: a tensor or an array. Errors name the file and the record."""
    try:
        return record.materialize()
    except Exception as e:
        raise from_torch_load(name, what, e) from None
