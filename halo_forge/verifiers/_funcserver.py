"""The candidate's side, inside the sandbox: run a script as ``python -I -S script`` would, or load a
program as the module ``solution`` and answer the judge's calls. Standard library only.

Everything here runs in the sample's own process, after it dropped to its unprivileged uid: the
candidate may patch any of it (builtins, this module, the wire codec). That only changes what the
candidate *answers*. The judge, in another process outside the sandbox, sends a call, reads back
plain values (``_wire``) and compares them itself; no object of the candidate's, no ``__eq__`` of
its, no output line and no exit status takes part in the verdict.

Requests and replies are frames of JSON lists on descriptors 3 (in) and 4 (out):
``["call", name, args, kwargs]``, ``["get", name]``, ``["names"]``, ``["hcall", h, attr, args, kwargs]``,
``["hget", h, attr]``, ``["hset", h, attr, value]``, ``["hop", h, op, args]`` →
``["ok", value]`` or ``["raise", type name, [mro names], message]``. Objects that are not plain values
stay here and travel as handles (``{"H": [id, type]}``).
"""

from __future__ import annotations

import builtins
import io
import operator
import os
import sys
import traceback
import types

import _wire

_HOPS = {"len": len, "bool": bool, "str": str, "int": int, "float": float, "iter": iter, "next": next,
         "getitem": operator.getitem, "setitem": operator.setitem, "delitem": operator.delitem,
         "contains": operator.contains}


def _fresh_stdio() -> None:
    """New sys.std* on descriptors 0-2, as a fresh interpreter would open them."""
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish(code: int):
    """What the interpreter does at exit: wait for threads, run atexit, flush; then leave."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - a closed pipe: nothing more to say
            pass
    os._exit(code)


def _print_error(exc: BaseException) -> None:
    """The traceback as the interpreter prints it: from the program's first frame, not ours."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, None if isinstance(exc, SyntaxError) else tb)


def _load(path: str, name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__file__ = path
    mod.__builtins__ = builtins
    sys.modules[name] = mod
    with open(path, "rb") as fh:
        source = fh.read()
    exec(compile(source, path, "exec"), mod.__dict__)
    return mod


def run_script(path: str, argv: list[str]):
    """``python -I -S path argv…`` without starting an interpreter."""
    _fresh_stdio()
    sys.argv = [path, *argv]
    code = 0
    try:
        _load(path, "__main__")
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:  # noqa: BLE001 - printed as the interpreter would
        _print_error(exc)
        code = 1
    _finish(code)


class _Handles:
    def __init__(self) -> None:
        self.objects: dict[int, object] = {}

    def out(self, obj) -> list:
        hid = len(self.objects) + 1
        self.objects[hid] = obj
        return [hid, type(obj).__name__]

    def back(self, ref) -> object:
        if ref[0] not in self.objects:
            raise _wire.WireError("unknown handle")
        return self.objects[ref[0]]


def _describe(mod: types.ModuleType, name: str, handles: _Handles) -> list:
    if not isinstance(name, str) or not hasattr(mod, name):
        return ["ok", ["missing"]]
    obj = getattr(mod, name)
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return ["ok", ["exc", [c.__name__ for c in obj.__mro__]]]
    return ["ok", ["value", _wire.encode(obj, handles.out)]]


def _public_names(mod: types.ModuleType) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in vars(mod) if not n.startswith("_")]
    return [str(n) for n in names]


def _answer(mod: types.ModuleType, req: list, handles: _Handles) -> list:
    op = req[0]
    if op == "get":
        return _describe(mod, req[1], handles)
    if op == "names":
        return ["ok", _public_names(mod)]
    if op == "call":
        result = getattr(mod, req[1])(*req[2], **req[3])
    elif op == "hcall":
        target = handles.back([req[1]])
        result = (getattr(target, req[2]) if req[2] else target)(*req[3], **req[4])
    elif op == "hget":
        result = getattr(handles.back([req[1]]), req[2])
    elif op == "hset":
        result = setattr(handles.back([req[1]]), req[2], req[3])
    elif op == "hop":
        result = _HOPS[req[2]](handles.back([req[1]]), *req[3])
    else:
        raise ValueError(f"unknown request {op!r}")
    return ["ok", _wire.encode(result, handles.out)]


def serve(path: str, rfd: int, wfd: int):
    """Load ``path`` as the module ``solution`` and answer requests until the judge hangs up."""
    _fresh_stdio()
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""))
    try:
        mod = _load(path, "solution")
    except BaseException as exc:  # noqa: BLE001 - the judge records why the program did not load
        _print_error(exc)
        _wire.write_frame(wfd, _wire.dumps(["error", f"{type(exc).__name__}: {exc}"[:500]]))
        _finish(1)
    handles = _Handles()
    _wire.write_frame(wfd, _wire.dumps(["ready"]))
    while True:
        try:
            req = _wire.loads(_wire.read_frame(rfd), handles.back)
        except (EOFError, OSError):
            _finish(0)
        try:
            reply = _answer(mod, req, handles)
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: it is the candidate's answer
            reply = ["raise", type(exc).__name__, [c.__name__ for c in type(exc).__mro__], str(exc)[:500]]
        try:
            data = _wire.dumps(reply)
        except (TypeError, ValueError, RecursionError) as exc:
            data = _wire.dumps(["raise", type(exc).__name__, ["Exception"], "result could not be sent"])
        _wire.write_frame(wfd, data)
