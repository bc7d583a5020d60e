"""A restricted unpickler: plain data, and the stand-ins an allow-list names; nothing else.

A pickle is a small program for a stack machine. Besides building lists and dicts it can name any
importable function (a "global") and call it, set the state of any object, or create instances of
any class. This reader (the pure-Python unpickler, with its risky opcodes replaced) lets a file do
only what a checkpoint needs, as a `Policy` says:

- a global is looked up in the policy's allow-list and replaced by its stand-in; anything else is
  refused with an `UnsafeCheckpointError` that names it. REDUCE calls only those stand-ins;
  NEWOBJ creates only the policy's classes, without arguments; BUILD sets state only through the
  policy's handler for that type. EXT opcodes (which read the process's `copyreg` registry and
  skip the allow-list), INST and OBJ (old-protocol object creation) are refused outright;
- dict keys and set elements must be strings or integers. Hashing is the one thing a container
  does to its contents on its own, and a tuple key nested a million deep overflows the C stack in
  `hash()`, while tuples that reuse each other (a "billion laughs") take exponential time;
- the work and the result are bounded (see limits.py): opcodes run, containers referenced a
  second time, and, once loaded, the structure's depth and its size written out as a tree (so
  that no later walk over it, by us or by torch, can recurse too deep or run for ever). A
  structure that contains itself is refused too: no checkpoint needs one;
- a long byte string outside a protocol-4 frame (every tensor's data in a network pickle) is left
  in the file as a `Blob` (offset, length) and read only when asked for: a 360 MB pickle holds G,
  D and G_ema, and we want G_ema alone;
- no read asks for more than is left of the file, so a corrupt length field reads as "truncated"
  rather than as a huge allocation.

Error messages quote what the file holds through `short_repr`: bounded whatever its size.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dragwidget.checkpoints.errors import CheckpointError, UnsafeCheckpointError, with_name
from dragwidget.checkpoints.limits import (
    MAX_CONTAINER_REUSES,
    MAX_PICKLE_DEPTH,
    MAX_PICKLE_ITEMS,
    MAX_PICKLE_OPCODES,
    MAX_TEXT_LINE,
)
from dragwidget.messages import short_repr, shorten

LAZY_MIN_BYTES = 4096  # shorter byte strings are read at once: a seek costs more than they do
_CONTAINERS = (tuple, list, dict, OrderedDict, set, frozenset)


@dataclass(frozen=True)
class Policy:
    """What one kind of file may hold."""

    globals: Mapping[tuple[str, str], Any]  # (module, name) -> the stand-in the file gets
    new: tuple[tuple[Any, Callable[[], Any]], ...] = ()  # NEWOBJ: (stand-in, what it makes)
    build: Mapping[type, Callable[[Any, Any], None]] = field(default_factory=dict)  # BUILD
    persistent_load: Callable[[Any], Any] | None = None  # for persistent ids, else refused


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


def bytes_of(data: bytes | Blob) -> bytes:
    return data.read() if isinstance(data, Blob) else data


def string_or_int(value: Any) -> str | int:
    """A dict key or set element as the file gives it, if it is a string or an integer."""
    if type(value) is str or type(value) is int:
        return value
    raise UnsafeCheckpointError(
        f"a dict key or set element of type {type(value).__name__}: only strings and integers "
        "are read"
    )


def checked_set(items: Any = ()) -> set:
    """`builtins.set`, as a pickle may call it: of strings and integers only."""
    return {string_or_int(x) for x in _iterable(items)}


def checked_ordered_dict(items: Any = ()) -> OrderedDict:
    """`collections.OrderedDict`, as a pickle may call it: string or integer keys only."""
    if type(items) in (dict, OrderedDict):
        items = items.items()
    out = OrderedDict()
    for pair in _iterable(items):
        if type(pair) not in (tuple, list) or len(pair) != 2:
            raise CheckpointError("an OrderedDict built from something other than pairs")
        out[string_or_int(pair[0])] = pair[1]
    return out


def _iterable(items: Any) -> tuple | list:
    if type(items) not in (tuple, list, set, frozenset):
        raise CheckpointError(f"a collection built from a {type(items).__name__}")
    return items


def ignore_mapping_state(target: Any, state: Any) -> None:
    """BUILD on a dict or an OrderedDict (a state dict's `_metadata`, an old EasyDict's empty
    `__dict__`): checked, then dropped; a checkpoint's data is in the items."""
    parts = state if type(state) is tuple and len(state) == 2 else (state,)  # (dict, slots)
    for part in parts:
        if part is not None and type(part) is not dict:
            raise CheckpointError(f"the attributes of a {type(target).__name__} are not a dict")
        if part is not None and any(type(key) is not str for key in part):
            raise UnsafeCheckpointError("an attribute name that is not a string")


class _BoundedFile:
    """The file as the unpickler sees it: no read asks for more than what is left of the file,
    and no line is longer than MAX_TEXT_LINE."""

    def __init__(self, file: BinaryIO, size: int):
        self.file, self.size = file, size

    def read(self, n: int = -1) -> bytes:
        if 0 <= n <= 1 << 16:  # small reads cannot allocate much: skip the bookkeeping
            return self.file.read(n)
        left = self.size - self.file.tell()
        return self.file.read(left if n < 0 else min(n, left))

    def readline(self) -> bytes:
        return self.file.readline(MAX_TEXT_LINE)

    def readinto(self, buf) -> int:
        return self.file.readinto(buf)


class _Dispatch(dict):
    """The opcode table: a byte that is no opcode is a corrupt file, said so."""

    def __missing__(self, opcode: int) -> Callable:
        raise CheckpointError(f"corrupt pickle: 0x{opcode:02x} is not a pickle opcode")


def _refuse(what: str) -> Callable[[Any], None]:
    def refuse(self: RestrictedUnpickler) -> None:
        raise UnsafeCheckpointError(f"{what}: refused (no checkpoint needs it)")

    return refuse


def _counted(handler: Callable) -> Callable:
    def run(self: RestrictedUnpickler) -> None:
        self.opcodes += 1
        if self.opcodes > MAX_PICKLE_OPCODES:
            raise UnsafeCheckpointError(
                f"more than {MAX_PICKLE_OPCODES:,} pickle operations: more than any checkpoint runs"
            )
        handler(self)

    return run


class RestrictedUnpickler(pickle._Unpickler):
    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, name: str, policy: Policy, size: int | None = None):
        self.file, self.name, self.policy = file, name, policy
        if size is None:
            size = os.fstat(file.fileno()).st_size
        self.size = size
        self.opcodes = self.reuses = 0
        self.callables = tuple(v for v in policy.globals.values() if callable(v))
        super().__init__(_BoundedFile(file, size))

    def find_class(self, module: str, name: str) -> Any:
        if module == "numpy.core" or module.startswith("numpy.core."):
            module = "numpy._core" + module[len("numpy.core") :]  # NumPy 1's names
        if (module, name) not in self.policy.globals:
            allowed = ", ".join(f"{m}.{n}" for m, n in self.policy.globals)
            raise UnsafeCheckpointError(
                f"refused to load the global {short_repr(module)[1:-1]}.{short_repr(name)[1:-1]}:"
                " a checkpoint should hold only tensors and settings, and this name could run "
                f"code. Allowed globals: {allowed}"
            )
        return self.policy.globals[(module, name)]

    def persistent_load(self, pid: Any) -> Any:
        if self.policy.persistent_load is None:
            raise CheckpointError(f"a persistent id in a plain pickle: {short_repr(pid)}")
        return self.policy.persistent_load(pid)

    # ----- byte strings: long ones stay in the file --------------------------------------------

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

    def load_binbytes(self) -> None:
        (n,) = struct.unpack("<I", self.read(4))
        self.append(self._read_bytes(n))

    def load_binbytes8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        self.append(self._read_bytes(n))

    # ----- calls and object state: only what the policy allows -----------------------------------

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not any(func is allowed for allowed in self.callables):
            raise UnsafeCheckpointError(f"the pickle calls a {type(func).__name__}: refused")
        if type(args) is not tuple:
            raise CheckpointError(f"a call with arguments of type {type(args).__name__}")
        self.stack[-1] = func(*args)

    def _new(self, cls: Any, args: Any, kwargs: Any = None) -> None:
        factory = next((make for standin, make in self.policy.new if cls is standin), None)
        if factory is None:
            raise UnsafeCheckpointError(f"the pickle creates an instance of {short_repr(cls)}")
        if type(args) is not tuple or args or kwargs:
            raise CheckpointError("an object created with arguments")
        self.append(factory())

    def load_newobj(self) -> None:
        args = self.stack.pop()
        self._new(self.stack.pop(), args)

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        self._new(self.stack.pop(), args, kwargs)

    def load_build(self) -> None:
        # BUILD sets the state of the object below it. On a class or a function (ours included)
        # that would change code that later loads use; on NumPy's dtype it is memory corruption.
        state = self.stack.pop()
        target = self.stack[-1]
        handler = self.policy.build.get(type(target))
        if handler is None:
            raise UnsafeCheckpointError(
                f"the pickle modifies a {type(target).__name__} ({short_repr(target)}): refused"
            )
        handler(target, state)

    # ----- containers: string or integer keys, and a count of reuses ----------------------------

    def load_dict(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise CheckpointError("a dict of an odd number of items")
        self.append({string_or_int(items[i]): items[i + 1] for i in range(0, len(items), 2)})

    def _mapping(self) -> dict:
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict):
            raise CheckpointError(f"the pickle sets items of a {type(target).__name__}")
        return target

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._mapping()[string_or_int(key)] = value

    def load_setitems(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise CheckpointError("a dict of an odd number of items")
        target = self._mapping()
        for i in range(0, len(items), 2):
            target[string_or_int(items[i])] = items[i + 1]

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise CheckpointError(f"the pickle adds set items to a {type(target).__name__}")
        target.update(string_or_int(x) for x in items)

    def load_frozenset(self) -> None:
        self.append(frozenset(string_or_int(x) for x in self.pop_mark()))

    def _list(self) -> list:
        target = self.stack[-1]
        if type(target) is not list:
            raise CheckpointError(f"the pickle appends to a {type(target).__name__}")
        return target

    def load_append(self) -> None:
        value = self.stack.pop()
        self._list().append(value)

    def load_appends(self) -> None:
        items = self.pop_mark()
        self._list().extend(items)

    def _push_again(self, obj: Any) -> None:
        if type(obj) in _CONTAINERS:
            self.reuses += 1
            if self.reuses > MAX_CONTAINER_REUSES:
                raise UnsafeCheckpointError(
                    f"containers referenced again more than {MAX_CONTAINER_REUSES:,} times "
                    "(a structure that reuses itself, as in a 'billion laughs')"
                )
        self.append(obj)

    def _memo(self, i: int) -> Any:
        try:
            return self.memo[i]
        except KeyError:
            raise CheckpointError(f"the pickle's memo has no entry {i}") from None

    def load_get(self) -> None:
        self._push_again(self._memo(int(self.readline()[:-1])))

    def load_binget(self) -> None:
        self._push_again(self._memo(self.read(1)[0]))

    def load_long_binget(self) -> None:
        (i,) = struct.unpack("<I", self.read(4))
        self._push_again(self._memo(i))

    def load_dup(self) -> None:
        self._push_again(self.stack[-1])

    _handlers = {
        pickle.BINBYTES: load_binbytes,
        pickle.BINBYTES8: load_binbytes8,
        pickle.REDUCE: load_reduce,
        pickle.NEWOBJ: load_newobj,
        pickle.NEWOBJ_EX: load_newobj_ex,
        pickle.BUILD: load_build,
        pickle.DICT: load_dict,
        pickle.SETITEM: load_setitem,
        pickle.SETITEMS: load_setitems,
        pickle.ADDITEMS: load_additems,
        pickle.FROZENSET: load_frozenset,
        pickle.APPEND: load_append,
        pickle.APPENDS: load_appends,
        pickle.GET: load_get,
        pickle.BINGET: load_binget,
        pickle.LONG_BINGET: load_long_binget,
        pickle.DUP: load_dup,
        pickle.EXT1: _refuse("an EXT1 opcode (the copyreg extension registry)"),
        pickle.EXT2: _refuse("an EXT2 opcode (the copyreg extension registry)"),
        pickle.EXT4: _refuse("an EXT4 opcode (the copyreg extension registry)"),
        pickle.INST: _refuse("an INST opcode (old-protocol object creation)"),
        pickle.OBJ: _refuse("an OBJ opcode (old-protocol object creation)"),
        pickle.PERSID: _refuse("a text persistent id (PERSID)"),
    }
    dispatch.update({op[0]: handler for op, handler in _handlers.items()})
    dispatch = _Dispatch({op: _counted(handler) for op, handler in dispatch.items()})


def _children(obj: Any) -> Any:
    """What a container holds (None for a leaf): builtin containers, and our own records."""
    kind = type(obj)
    if kind in (tuple, list, set, frozenset):
        return obj
    if kind is dict or kind is OrderedDict:
        return [*obj.keys(), *obj.values()]
    if kind.__module__.startswith("dragwidget.") and not isinstance(obj, type):
        attributes = getattr(obj, "__dict__", None)
        return None if attributes is None else list(attributes.values())
    return None


_DONE = object()


def check_structure(root: Any) -> None:
    """Refuse a loaded structure deeper than MAX_PICKLE_DEPTH, larger written out as a tree than
    MAX_PICKLE_ITEMS, or containing itself. Iterative (depth-first, one child at a time), and
    each shared part is sized once."""
    children = _children(root)
    if children is None:
        return
    sizes: dict[int, int] = {}  # id -> size written out, of each container finished
    on_path = {id(root)}
    stack = [[root, iter(children), 1]]  # a container, its children still to see, its size
    while stack:
        frame = stack[-1]
        child = next(frame[1], _DONE)
        if child is _DONE:
            stack.pop()
            on_path.discard(id(frame[0]))
            sizes[id(frame[0])] = frame[2]
            if stack:
                stack[-1][2] += frame[2]
                _check_size(stack[-1][2])
            continue
        key = id(child)
        if key in sizes:
            frame[2] += sizes[key]
            _check_size(frame[2])
            continue
        grandchildren = _children(child)
        if grandchildren is None:
            frame[2] += 1
            continue
        if key in on_path:
            raise UnsafeCheckpointError("a structure that contains itself: refused")
        if len(stack) >= MAX_PICKLE_DEPTH:
            raise UnsafeCheckpointError(
                f"containers nested more than {MAX_PICKLE_DEPTH} deep: more than any checkpoint"
            )
        on_path.add(key)
        stack.append([child, iter(grandchildren), 1])


def _check_size(items: int) -> None:
    if items > MAX_PICKLE_ITEMS:
        raise UnsafeCheckpointError(
            f"a structure of more than {MAX_PICKLE_ITEMS:,} items once written out (parts that "
            "reuse each other, as in a 'billion laughs'): more than any checkpoint holds"
        )


def unpickle(file: BinaryIO, name: str, policy: Policy, size: int | None = None) -> Any:
    """Unpickle one pickle from `file` as `policy` allows, and check what it built.

    Blobs read from `file` later, so keep it open meanwhile. Every error names `name`.
    """
    try:
        obj = RestrictedUnpickler(file, name, policy, size).load()
        check_structure(obj)
        return obj
    except CheckpointError as e:
        raise with_name(e, name) from None
    except (EOFError, pickle.UnpicklingError, struct.error) as e:
        if isinstance(e, EOFError) or "truncated" in str(e) or "exhausted" in str(e):
            raise CheckpointError(f"{name}: the file ends early (truncated?)") from None
        raise CheckpointError(f"{name}: not a readable pickle: {shorten(str(e), 300)}") from None
    except Exception as e:  # a corrupt stream fails in many ways deep inside pickle
        message = shorten(str(e), 300)
        raise CheckpointError(f"{name}: corrupt pickle ({type(e).__name__}: {message})") from None
