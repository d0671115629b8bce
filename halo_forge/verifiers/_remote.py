"""The judge's view of the candidate: proxies that call into the sandbox and get plain values back.

A :class:`Channel` is the judge's end of the two pipes to the candidate's function server
(``_funcserver.serve``). Everything that comes back is decoded by ``_wire`` into exact built-in
types; an object the candidate keeps is a :class:`RemoteObject`, an opaque handle whose ``==`` is
identity and which has no ordering: the judge never evaluates a comparison the candidate wrote.
Exceptions come back as built-in exception classes (``Exception`` subclasses only) or as classes made
here from the name; ``KeyboardInterrupt``, ``SystemExit`` and the test framework's own outcome
exceptions cannot be forged.

Time: the candidate has ``budget`` seconds of the judge's waiting (its load time plus every answer);
the judge's own work (pytest's collection, the test code) does not count against it. ``hard`` is the
absolute end, when the sandbox stops the sample anyway.

Any protocol break — the process died, time ran out, a malformed answer — marks the channel broken
for good; the verdict then fails whatever the test code did with the exception.
"""

from __future__ import annotations

import builtins
import os
import sys
import time
import types

from halo_forge.verifiers import _wire

MAX_ANSWER = 16 << 20


class ChannelBroken(Exception):
    """The candidate stopped answering, answered out of protocol or ran out of time."""


class CandidateError(Exception):
    """The candidate raised something that is not a built-in ``Exception``."""


def _builtin_exception(name: str) -> type | None:
    cls = getattr(builtins, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, Exception) else None


class Channel:
    def __init__(self, rfd: int, wfd: int, budget: float, hard: float) -> None:
        self.rfd, self.wfd, self.budget, self.hard = rfd, wfd, budget, hard
        os.set_blocking(wfd, False)
        self.broken: str | None = None
        self.calls = 0
        self._exceptions: dict[str, type] = {}

    def _break(self, why: str):
        self.broken = self.broken or why
        raise ChannelBroken(self.broken)

    def _deadline(self) -> float:
        return min(time.monotonic() + self.budget, self.hard)

    def _spent(self, since: float) -> None:
        self.budget -= time.monotonic() - since

    def ready(self) -> str | None:
        """None once the candidate's program loaded; else why it did not."""
        start = time.monotonic()
        try:
            msg = _wire.loads(_wire.read_frame(self.rfd, self._deadline(), MAX_ANSWER))
        except _wire.WireTimeout:
            self.broken = "timed out before the program loaded"
        except (EOFError, OSError):
            self.broken = "the program exited while loading"
        except _wire.WireError as exc:
            self.broken = f"malformed first message ({exc})"
        else:
            self._spent(start)
            if msg == ["ready"]:
                return None
            if type(msg) is list and len(msg) == 2 and msg[0] == "error" and type(msg[1]) is str:
                self.broken = f"the program did not load: {msg[1][:300]}"
            else:
                self.broken = "malformed first message"
        return self.broken

    def request(self, msg: list):
        """Send one request; the plain value answered, or the candidate's exception raised here."""
        if self.broken:
            raise ChannelBroken(self.broken)
        self.calls += 1
        start = time.monotonic()
        try:
            deadline = self._deadline()
            _wire.write_frame(self.wfd, _wire.dumps(msg), deadline)
            reply = _wire.loads(_wire.read_frame(self.rfd, deadline, MAX_ANSWER), self._handle)
            self._spent(start)
        except _wire.WireTimeout:
            self._break("timed out")
        except (EOFError, OSError):
            self._break("the candidate's process ended")
        except _wire.WireError as exc:
            self._break(f"malformed answer ({exc})")
        if type(reply) is list and len(reply) == 2 and reply[0] == "ok":
            return reply[1]
        if type(reply) is list and len(reply) == 4 and reply[0] == "raise":
            raise self._exception(reply)
        self._break("malformed answer")

    def send(self, value):
        """The wire form of a value the judge passes in (plain data, or a handle of this channel)."""
        return _wire.encode(value, self._out)

    def _out(self, obj) -> list:
        if isinstance(obj, RemoteObject) and object.__getattribute__(obj, "_ch") is self:
            return [object.__getattribute__(obj, "_hid"), object.__getattribute__(obj, "_type")]
        raise TypeError(f"only plain values can be passed to the candidate, not {type(obj).__name__}")

    def _handle(self, ref: list) -> "RemoteObject":
        return RemoteObject(self, ref[0], str(ref[1])[:100])

    def exception_class(self, name, mro) -> type:
        """The judge's class for an exception the candidate names: a built-in one, else one made here
        (once per name) from the first built-in ``Exception`` in its MRO."""
        if not isinstance(name, str) or not name.isidentifier() or not isinstance(mro, list):
            return CandidateError
        found = _builtin_exception(name)
        if found is not None:
            return found
        if name not in self._exceptions:
            bases = [b for b in (_builtin_exception(n) for n in mro[1:] if isinstance(n, str)) if b is not None]
            self._exceptions[name] = type(name, (bases[0] if bases else CandidateError,), {"__module__": "solution"})
        return self._exceptions[name]

    def _exception(self, reply: list) -> BaseException:
        _, name, mro, message = reply
        return self.exception_class(name, mro)(str(message)[:500])


class RemoteObject:
    """An object that stayed in the sandbox. Calls, attributes, len/bool/str/int/float, iteration and
    indexing go to the candidate and come back as plain values; ``==`` is identity; no ordering."""

    __slots__ = ("_ch", "_hid", "_type")

    def __init__(self, ch: Channel, hid: int, type_name: str) -> None:
        object.__setattr__(self, "_ch", ch)
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_type", type_name)

    def _op(self, op: str, *args):
        return self._ch.request(["hop", self._hid, op, [self._ch.send(a) for a in args]])

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._ch.request(["hget", self._hid, name])

    def __setattr__(self, name: str, value) -> None:
        self._ch.request(["hset", self._hid, name, self._ch.send(value)])

    def __call__(self, *args, **kwargs):
        ch = self._ch
        return ch.request(["hcall", self._hid, None, [ch.send(a) for a in args], ch.send(dict(kwargs))])

    def __len__(self) -> int:
        return self._op("len")

    def __bool__(self) -> bool:
        return self._op("bool")

    def __iter__(self):
        return self._op("iter")

    def __next__(self):
        return self._op("next")

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value) -> None:
        self._op("setitem", key, value)

    def __delitem__(self, key) -> None:
        self._op("delitem", key)

    def __contains__(self, item) -> bool:
        return self._op("contains", item) is True

    def __str__(self) -> str:
        return self._op("str")

    def __int__(self) -> int:
        return self._op("int")

    def __float__(self) -> float:
        return self._op("float")

    def __repr__(self) -> str:
        return f"<candidate's {self._type} #{self._hid}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, RemoteObject) and other._ch is self._ch and other._hid == self._hid

    def __ne__(self, other) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((id(self._ch), self._hid))


def _star_names(names: list[str], importer: dict) -> list[str]:
    """What ``from solution import *`` may bind in the test module: never a builtin (``sorted``,
    ``abs``, ``AssertionError``…), a name the test module already has (``math``, ``EXPECTED``…), a
    pytest-looking name (``pytestmark``, ``test_*``, ``setup_*``) or a private one — the candidate
    cannot replace the test's own tools with functions that agree with it."""
    keep = []
    for name in names:
        if (not name.isidentifier() or name.startswith("_") or hasattr(builtins, name) or name in importer
                or name.lower().startswith(("test", "pytest", "setup", "teardown"))):
            continue
        keep.append(name)
    return keep


class RemoteModule(types.ModuleType):
    """``solution`` as the judge's tests import it: each attribute is fetched from the candidate."""

    def __init__(self, ch: Channel) -> None:
        super().__init__("solution")
        self.__dict__["_ch"] = ch

    def __getattr__(self, name: str):
        ch = self.__dict__["_ch"]
        if name == "__all__":  # asked by `from solution import *`, from the importing module's frame
            names = ch.request(["names"])
            if type(names) is not list or not all(type(n) is str for n in names):
                raise ChannelBroken("malformed list of names")
            return _star_names(names, sys._getframe(1).f_globals)
        if name.startswith("__"):
            raise AttributeError(name)
        kind = ch.request(["get", name])
        if kind == ["missing"]:
            raise AttributeError(f"module 'solution' has no attribute {name!r}")
        if type(kind) is list and len(kind) == 2 and kind[0] == "exc":
            return ch.exception_class(name, kind[1])
        if type(kind) is list and len(kind) == 2 and kind[0] == "value":
            return kind[1]
        raise ChannelBroken("malformed description of a name")
