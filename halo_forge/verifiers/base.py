"""The verifier contract and its registry.

A verifier is a class registered with ``@register_verifier("name")`` whose ``verify(completion, row)``
returns a :class:`VerifyResult`; ``verify_batch`` scores many at once on a bounded pool. ``requires``
names the row fields it reads (per-example ground truth: tests, answer, schema, task id), so a dataset
can be checked before any sampling (:func:`check_rows`). Plugins register the same way from modules
named in the entry-point group ``halo_forge.verifiers``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Sequence

from halo_forge.errors import ConfigError, DataError, HaloForgeError, VerifierError  # noqa: F401

ENTRY_POINT_GROUP = "halo_forge.verifiers"
BUILTIN_MODULES = ("execution", "pytest_tests", "humaneval", "math_answer", "json_schema", "regex_format",
                   "llm_judge", "vqa", "json_extract", "chart", "wer", "reasoning", "tool_calls")


class VerifierPluginWarning(UserWarning):
    """A verifier plugin failed to import; the other verifiers still load."""


@dataclass
class VerifyResult:
    """One verdict: ``reward`` in [0, 1], ``passed`` (the sample fully meets the check), ``details``
    (always holds a short ``reason``; verifiers add their own figures)."""

    reward: float
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        r = float(self.reward)
        if not 0.0 <= r <= 1.0 or r != r:
            raise ValueError(f"reward must be in [0, 1], got {self.reward!r}")
        self.reward = r
        self.passed = bool(self.passed)
        self.details.setdefault("reason", "passed" if self.passed else "failed")

    @property
    def reason(self) -> str:
        return str(self.details.get("reason", ""))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fail(reason: str, reward: float = 0.0, **details: Any) -> VerifyResult:
    return VerifyResult(reward, False, {"reason": reason, **details})


class Verifier:
    """Base class. Subclasses set ``requires`` and implement ``verify``; options are ``__init__``
    keyword arguments (``get_verifier(name, **options)``, ``--verifier-arg key=value``)."""

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    runs_code: ClassVar[bool] = False  # True: model-written code runs, only inside the sandbox
    workers: int = 4

    def required_fields(self) -> tuple[str, ...]:
        """The row fields this configured instance reads (may depend on options)."""
        return tuple(self.requires)

    def verify(self, completion: str, row: dict) -> VerifyResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _safe_verify(self, completion: str, row: dict) -> VerifyResult:
        try:
            return self.verify(completion, row)
        except HaloForgeError:
            raise
        except Exception as exc:  # one bad sample must not sink the batch; its reward is 0
            return fail(f"verifier error: {type(exc).__name__}: {exc}"[:300], error=type(exc).__name__)

    def verify_batch(self, completions: Sequence[str], rows: Sequence[dict]) -> list[VerifyResult]:
        """Score many samples on a bounded thread pool (each sample may wait on a sandboxed process)."""
        if len(completions) != len(rows):
            raise ValueError(f"{len(completions)} completions but {len(rows)} rows")
        if len(completions) <= 1 or self.workers <= 1:
            return [self._safe_verify(c, r) for c, r in zip(completions, rows)]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(completions)),
                                thread_name_prefix=f"verify-{self.name}") as pool:
            return list(pool.map(self._safe_verify, completions, rows))

    def close(self) -> None:
        """Release pools or sandboxes the verifier holds (idempotent)."""


# ------------------------------------------------------------------ registry
@dataclass
class _Entry:
    cls: type[Verifier]
    source: str  # "builtin" or "plugin: <module>"


_REGISTRY: dict[str, _Entry] = {}
_PLUGIN_ERRORS: dict[str, str] = {}  # entry-point name -> "module: error"
_LOADED = {"builtins": False, "plugins": False}
_CURRENT_SOURCE: list[str] = []


def register_verifier(name: str) -> Callable[[type[Verifier]], type[Verifier]]:
    """Class decorator: register a verifier under ``name`` (a later registration of the same name by
    a plugin replaces a builtin, with a warning)."""
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"verifier name {name!r}: use letters, digits, '_' or '-'")

    def deco(cls: type) -> type:
        if not callable(getattr(cls, "verify", None)):
            raise TypeError(f"verifier {name!r}: {cls.__name__} has no verify(completion, row) method")
        if not issubclass(cls, Verifier):  # duck-typed plugin class: give it the batch form and defaults
            cls = type(cls.__name__, (cls, Verifier), {"__module__": cls.__module__, "__doc__": cls.__doc__})
        cls.name = name
        source = _CURRENT_SOURCE[-1] if _CURRENT_SOURCE else (
            "builtin" if cls.__module__.startswith("halo_forge.verifiers.") else f"plugin: {cls.__module__}")
        old = _REGISTRY.get(name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            warnings.warn(f"verifier {name!r} from {source} replaces the one from {old.source}", stacklevel=2)
        _REGISTRY[name] = _Entry(cls, source)
        return cls

    return deco


def _load_builtins() -> None:
    if _LOADED["builtins"]:
        return
    _LOADED["builtins"] = True
    import importlib

    for mod in BUILTIN_MODULES:
        importlib.import_module(f"halo_forge.verifiers.{mod}")


def _entry_points():
    from importlib import metadata

    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def load_plugins(*, reload: bool = False) -> dict[str, str]:
    """Import every plugin of the ``halo_forge.verifiers`` entry-point group once. A plugin that fails
    to import is named in a :class:`VerifierPluginWarning` and recorded; the others still load.
    Returns {entry point: error} for the failed ones."""
    if _LOADED["plugins"] and not reload:
        return dict(_PLUGIN_ERRORS)
    _LOADED["plugins"] = True
    _PLUGIN_ERRORS.clear()
    for ep in _entry_points():
        _CURRENT_SOURCE.append(f"plugin: {ep.value.split(':')[0]}")
        try:
            obj = ep.load()
            if isinstance(obj, type) and ep.name not in _REGISTRY and callable(getattr(obj, "verify", None)):
                register_verifier(ep.name)(obj)
        except Exception as exc:  # noqa: BLE001 - any import failure of third-party code
            msg = f"{ep.value}: {type(exc).__name__}: {exc}"
            _PLUGIN_ERRORS[ep.name] = msg
            warnings.warn(f"verifier plugin {ep.name!r} failed to import ({msg}); the other verifiers are "
                          f"still available", VerifierPluginWarning, stacklevel=2)
        finally:
            _CURRENT_SOURCE.pop()
    return dict(_PLUGIN_ERRORS)


def _ensure_loaded() -> None:
    _load_builtins()
    load_plugins()


def available_verifiers() -> dict[str, _Entry]:
    _ensure_loaded()
    return dict(sorted(_REGISTRY.items()))


def plugin_errors() -> dict[str, str]:
    _ensure_loaded()
    return dict(_PLUGIN_ERRORS)


def _options_of(cls: type) -> dict[str, inspect.Parameter]:
    params = inspect.signature(cls.__init__).parameters
    return {k: p for k, p in params.items() if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _accepts_any(cls: type) -> bool:
    return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def describe_verifiers() -> list[dict[str, Any]]:
    """One dict per verifier: name, source, requires, options (name → default), description; failed
    plugins are listed with their error."""
    out = []
    for name, entry in available_verifiers().items():
        opts = {k: (None if p.default is inspect.Parameter.empty else p.default)
                for k, p in _options_of(entry.cls).items()}
        doc = entry.cls.description or (inspect.getdoc(entry.cls) or "").split("\n")[0]
        out.append({"name": name, "source": entry.source, "requires": list(entry.cls.requires),
                    "runs_code": bool(entry.cls.runs_code), "options": _jsonable(opts), "description": doc})
    for name, err in plugin_errors().items():
        out.append({"name": name, "source": "plugin (failed to import)", "requires": [], "runs_code": False,
                    "options": {}, "description": "", "error": err})
    return out


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=repr))


def get_verifier(name: str, **options: Any) -> Verifier:
    """A ready instance of the verifier ``name`` configured with ``options``."""
    registry = available_verifiers()
    if name not in registry:
        if name in _PLUGIN_ERRORS:
            raise VerifierError(f"verifier {name!r} comes from a plugin that failed to import: {_PLUGIN_ERRORS[name]}",
                                hint="fix or reinstall the plugin package, or pick another verifier")
        known = ", ".join(registry) or "(none)"
        raise VerifierError(f"unknown verifier {name!r}; known verifiers: {known}",
                            hint="see `halo-forge verifiers list`; plugins register through the entry-point "
                                 f"group {ENTRY_POINT_GROUP!r}")
    cls = registry[name].cls
    allowed = _options_of(cls)
    if not _accepts_any(cls):
        bad = [k for k in options if k not in allowed]
        if bad:
            raise VerifierError(f"verifier {name!r} has no option {', '.join(map(repr, bad))}; its options: "
                                f"{', '.join(allowed) or '(none)'}",
                                hint="pass options as --verifier-arg key=value with one of those keys")
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:
        raise VerifierError(f"verifier {name!r}: bad options {options}: {exc}") from exc


# ------------------------------------------------------------------ options
def _typed(value: str) -> Any:
    low = value.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(value)
        except ValueError:
            pass
    if value.strip()[:1] in ("{", "[", '"'):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--verifier-arg value {value!r} looks like JSON but does not parse: {exc}",
                              hint="quote the whole pair in the shell, e.g. --verifier-arg 'schema={\"type\": \"object\"}'")
    return value


def parse_verifier_args(pairs: Iterable[str] | None) -> dict[str, Any]:
    """``["timeout=5", "mode=numeric", "strict=true", "schema={...}"]`` → typed options (int, float,
    bool, null, JSON objects/lists/strings, else the string)."""
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ConfigError(f"--verifier-arg {pair!r} is not key=value",
                              hint="write e.g. --verifier-arg timeout=5 (repeat the flag for more options)")
        out[key] = _typed(value)
    return out


# ------------------------------------------------------------------ rows
def check_rows(verifier: Verifier, rows: Sequence[dict], where: str | Callable[[int], str] = "rows") -> None:
    """Raise :class:`DataError` naming the first row (file:line) that lacks a field ``verifier`` needs."""
    need = verifier.required_fields()
    loc = where if callable(where) else (lambda i: f"{where}:{i + 1}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{loc(i)}: expected an object per row for verifier {verifier.name!r}, got "
                            f"{type(row).__name__}")
        missing = [f for f in need if row.get(f) is None]
        if missing:
            raise DataError(f"{loc(i)}: row is missing field {', '.join(map(repr, missing))} that verifier "
                            f"{verifier.name!r} needs (found fields: {', '.join(sorted(row)) or 'none'})",
                            hint=f"give every row the field(s) {', '.join(need)}, or pick the field with "
                                 f"--verifier-arg field=NAME where the verifier supports it")


# ------------------------------------------------------------------ identity
def _source_digest(cls: type) -> str:
    h = hashlib.sha256()
    files = {inspect.getsourcefile(c) for c in cls.__mro__ if c.__module__ not in ("builtins",)}
    if getattr(cls, "runs_code", False):
        from halo_forge.verifiers.sandbox import SOURCE_FILES

        files.update(str(p) for p in SOURCE_FILES)
    for f in sorted(p for p in files if p):
        try:
            h.update(Path(f).read_bytes())
        except OSError:
            h.update(f.encode())
    return h.hexdigest()[:16]


def verifier_identity(name: str, options: dict[str, Any] | None = None) -> str:
    """``name{options-json}@sha256:<digest of the verifier's source>``: stable across processes, changed
    by any option or any byte of the verifier's code (cache keys, replay drift)."""
    registry = available_verifiers()
    if name not in registry:
        get_verifier(name)  # raises the standard unknown-verifier error
    opts = json.dumps(options or {}, sort_keys=True, default=repr, separators=(",", ":"))
    return f"{name}{opts}@sha256:{_source_digest(registry[name].cls)}"


def default_workers() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


__all__ = ["VerifyResult", "Verifier", "VerifierError", "VerifierPluginWarning", "register_verifier", "get_verifier",
           "available_verifiers", "describe_verifiers", "parse_verifier_args", "check_rows", "verifier_identity",
           "load_plugins", "plugin_errors", "fail", "ENTRY_POINT_GROUP"]
