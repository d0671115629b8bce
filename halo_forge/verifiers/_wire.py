"""Frames and plain values: what crosses between the host, the sandbox's fork server, the candidate's
function server and the judge.

Standard library only: this file also runs inside the sandbox (bound read-only at /opt/halo-forge).

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Values are plain data only:
JSON's own types plus one-key tag objects for the rest of Python's plain types::

    {"T": [...]} tuple        {"S": [...]} set          {"FS": [...]} frozenset
    {"D": [[k, v], ...]} dict  {"B": "<base64>"} bytes   {"BA": "<base64>"} bytearray
    {"C": [re, im]} complex    {"R": [a, b, c]} range    {"Fr": [n, d]} Fraction
    {"Dec": "1.5"} Decimal     {"H": [id, "TypeName"]} an opaque handle to an object that stayed behind

:func:`decode` builds exact built-in types (never subclasses) and hands handles to a factory; anything
else is a :class:`WireError`. The candidate's side may lie about values (they are its answers), but it
can never make the judge run code of its choosing: no object with its own ``__eq__`` ever arrives.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import struct
import time
from decimal import Decimal
from fractions import Fraction

LEN = struct.Struct("!I")
MAX_FRAME = 64 << 20
MAX_FDS = 16


class WireError(Exception):
    """A frame or value that does not follow the protocol (too big, malformed, an unknown tag)."""


class WireTimeout(WireError):
    """No complete frame before the deadline."""


# ------------------------------------------------------------------ values
def encode(value, handle=None):
    """A JSON-able form of ``value``. Subclasses of plain types are sent as their plain base (a
    namedtuple as a tuple, a Counter as a dict). Anything else goes to ``handle(obj) -> [id, type]``
    when given, else raises TypeError."""
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int or t is float:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, list):
        return [encode(v, handle) for v in list(value)]
    if isinstance(value, tuple):
        return {"T": [encode(v, handle) for v in tuple(value)]}
    if isinstance(value, dict):
        return {"D": [[encode(k, handle), encode(v, handle)] for k, v in dict(value).items()]}
    if isinstance(value, frozenset):
        return {"FS": [encode(v, handle) for v in frozenset(value)]}
    if isinstance(value, set):
        return {"S": [encode(v, handle) for v in set(value)]}
    if isinstance(value, bytes):
        return {"B": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, bytearray):
        return {"BA": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, complex):
        return {"C": [value.real, value.imag]}
    if isinstance(value, range):
        return {"R": [value.start, value.stop, value.step]}
    if isinstance(value, Fraction):
        return {"Fr": [int(value.numerator), int(value.denominator)]}
    if isinstance(value, Decimal):
        return {"Dec": str(value)}
    if handle is not None:
        return {"H": handle(value)}
    raise TypeError(f"cannot send a {t.__name__} across the sandbox boundary (plain values only)")


def _unb64(s) -> bytes:
    if type(s) is not str:
        raise WireError("bytes must be base64 text")
    return base64.b64decode(s.encode("ascii"), validate=True)


def _items(v) -> list:
    if type(v) is not list:
        raise WireError("a tagged collection must hold a list")
    return v


def _pair_list(v) -> list:
    pairs = _items(v)
    if not all(type(p) is list and len(p) == 2 for p in pairs):
        raise WireError("a dict must be a list of [key, value] pairs")
    return pairs


_TAGS = {
    "T": lambda v: tuple(_items(v)),
    "S": lambda v: set(_items(v)),
    "FS": lambda v: frozenset(_items(v)),
    "D": lambda v: {k: x for k, x in _pair_list(v)},
    "B": _unb64,
    "BA": lambda v: bytearray(_unb64(v)),
    "C": lambda v: complex(*[float(x) for x in _items(v)][:2]),
    "R": lambda v: range(*[_exact_int(x) for x in _items(v)][:3]),
    "Fr": lambda v: Fraction(*[_exact_int(x) for x in _items(v)][:2]),
    "Dec": lambda v: Decimal(v if type(v) is str else "x"),
}


def _exact_int(x) -> int:
    if type(x) is not int:
        raise WireError("expected an integer")
    return x


def loads(data, handle=None):
    """The plain value a frame's JSON stands for; ``handle([id, type]) -> object`` for handles (without
    it, a handle is a WireError). Protocol envelopes are JSON lists, so every JSON object is a tag."""
    def hook(d):
        if len(d) != 1:
            raise WireError("an object on the wire must be one tag")
        (tag, v), = d.items()
        if tag == "H":
            if handle is None or type(v) is not list or len(v) != 2 or type(v[0]) is not int:
                raise WireError("unexpected handle")
            return handle(v)
        fn = _TAGS.get(tag)
        if fn is None:
            raise WireError(f"unknown tag {tag!r}")
        try:
            return fn(v)
        except WireError:
            raise
        except (TypeError, ValueError, ArithmeticError) as exc:  # unhashable key, bad number, …
            raise WireError(f"bad {tag} value: {type(exc).__name__}") from None
    try:
        return json.loads(data, object_hook=hook)
    except WireError:
        raise
    except (ValueError, TypeError, RecursionError, MemoryError) as exc:
        raise WireError(f"malformed value: {type(exc).__name__}") from None


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


# ------------------------------------------------------------------ frames on pipes (blocking or with a deadline)
def write_frame(fd: int, payload: bytes, deadline: float | None = None) -> None:
    """Write one frame; with a deadline the descriptor must be non-blocking (a reader that stops
    reading cannot stall the writer past it)."""
    view = memoryview(LEN.pack(len(payload)) + payload)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise WireTimeout("the other side stopped reading")
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            continue


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WireTimeout("no answer before the deadline")
        chunk = os.read(fd, min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the channel")
        buf += chunk
    return bytes(buf)


def read_frame(fd: int, deadline: float | None = None, cap: int = MAX_FRAME) -> bytes:
    (n,) = LEN.unpack(_read_exact(fd, LEN.size, deadline))
    if n > cap:
        raise WireError(f"frame of {n} bytes is over the {cap}-byte cap")
    return _read_exact(fd, n, deadline)


# ------------------------------------------------------------------ frames on unix sockets, with file descriptors
def send_msg(sock: socket.socket, obj, fds=()) -> None:
    data = dumps(obj)
    data = LEN.pack(len(data)) + data
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
    sent = sock.sendmsg([data], anc)
    if sent < len(data):
        sock.sendall(data[sent:])


def recv_msg(sock: socket.socket, cap: int = 1 << 20):
    """(object, [fds]); (None, []) at end of stream."""
    fds: list[int] = []
    head = b""
    while len(head) < LEN.size:
        data, anc, _flags, _addr = sock.recvmsg(LEN.size - len(head), socket.CMSG_SPACE(MAX_FDS * 4))
        for level, kind, blob in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += list(struct.unpack(f"{len(blob) // 4}i", blob[:len(blob) - len(blob) % 4]))
        if not data:
            for fd in fds:
                os.close(fd)
            return None, []
        head += data
    (n,) = LEN.unpack(head)
    if n > cap:
        raise WireError(f"message of {n} bytes is over the {cap}-byte cap")
    body = bytearray()
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            raise EOFError("the other side closed the channel mid-message")
        body += chunk
    return json.loads(bytes(body)), fds
