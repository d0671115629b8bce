"""Helpers shared by the code-running verifiers: code extraction and the sandbox options they take."""

from __future__ import annotations

import re

from halo_forge.verifiers.sandbox import Limits, Sandbox, get_sandbox

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
LANG_ALIASES = {"py": "python", "python3": "python", "python": "python", "c": "c", "cpp": "cpp", "c++": "cpp",
                "cc": "cpp", "cxx": "cpp", "": ""}


def code_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (language, code); an unclosed last fence runs to the end."""
    return [(LANG_ALIASES.get(lang.lower(), lang.lower()), body) for lang, body in _FENCE.findall(text)]


def extract_code(text: str, language: str | None = None) -> tuple[str, str | None]:
    """The code of a completion: the longest fenced block in ``language`` (else the longest untagged
    one, else the longest of any language); no fences: the whole text. Returns (code, fence language)."""
    blocks = code_blocks(text)
    if not blocks:
        return text, None
    want = LANG_ALIASES.get((language or "").lower(), language)
    for pick in ([b for b in blocks if b[0] == want] if want else [], [b for b in blocks if b[0] == ""], blocks):
        if pick:
            lang, code = max(pick, key=lambda b: len(b[1]))
            return code, lang or None
    return text, None  # pragma: no cover


class SandboxedVerifier:
    """Mixin: sandbox options every code-running verifier takes (``timeout``, ``memory_mb``,
    ``workers``, ``unsafe``) and the sandbox they build."""

    def _setup_sandbox(self, *, timeout: float, memory_mb: int, workers: int | None, unsafe: bool,
                       cpu_seconds: int | None = None, max_output_kb: int = 1024) -> None:
        from halo_forge.verifiers.base import default_workers

        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self.timeout = float(timeout)
        self.workers = int(workers or default_workers())
        self.unsafe = bool(unsafe)
        self.limits = Limits(wall_seconds=self.timeout, cpu_seconds=int(cpu_seconds or max(1, round(self.timeout))),
                             memory_mb=int(memory_mb), output_bytes=int(max_output_kb) << 10)
        self.sandbox: Sandbox = get_sandbox(self.unsafe, None)  # raises when no isolation and not unsafe
