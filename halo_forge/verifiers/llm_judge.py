"""``llm_judge``: ask any OpenAI-compatible chat endpoint (``POST {base_url}/chat/completions``) to
grade the completion; the reply's ``SCORE: n`` (0…``scale``) becomes the reward ``n / scale``.

Options: ``base_url`` (or ``$HALO_FORGE_JUDGE_URL``), ``model``, ``api_key_env`` (the *name* of the
environment variable holding the key; default OPENAI_API_KEY, optional for local servers),
``template`` (uses {prompt}, {completion}, {reference}), ``scale``, ``threshold`` (reward needed for
``passed``), ``timeout``, ``max_retries``, ``workers``. Row fields read: ``prompt`` and ``reference``
when present (options ``prompt_field``, ``reference_field``)."""

from __future__ import annotations

import os
import re
import time

from halo_forge.verifiers.base import Verifier, VerifierError, VerifyResult, fail, register_verifier

DEFAULT_TEMPLATE = (
    "You are a strict grader. Rate how well the RESPONSE answers the TASK"
    "{reference_clause} on a scale from 0 (useless or wrong) to {scale} (fully correct).\n\n"
    "TASK:\n{prompt}\n\n{reference_block}RESPONSE:\n{completion}\n\n"
    "Reply with one line: SCORE: <number>")
_SCORE = re.compile(r"(?:score|rating)\s*[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)", re.I)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _text(value) -> str:
    if isinstance(value, list):  # chat messages
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in value)
    return "" if value is None else str(value)


def parse_score(reply: str, scale: float) -> float | None:
    m = _SCORE.findall(reply)
    raw = m[-1] if m else (_NUMBER.findall(reply) or [None])[0]
    if raw is None:
        return None
    return max(0.0, min(float(raw), scale)) / scale


@register_verifier("llm_judge")
class LLMJudgeVerifier(Verifier):
    """An OpenAI-compatible chat model grades the completion (SCORE: n of scale)."""

    requires = ()

    def __init__(self, *, base_url: str | None = None, model: str = "judge", api_key_env: str = "OPENAI_API_KEY",
                 template: str | None = None, scale: float = 10.0, threshold: float = 0.5, timeout: float = 30.0,
                 max_retries: int = 2, temperature: float = 0.0, max_tokens: int = 64, prompt_field: str = "prompt",
                 reference_field: str = "reference", workers: int = 4) -> None:
        base_url = base_url or os.environ.get("HALO_FORGE_JUDGE_URL")
        if not base_url:
            raise VerifierError("llm_judge needs an endpoint",
                                hint="pass --verifier-arg base_url=http://host:port/v1 (or set HALO_FORGE_JUDGE_URL)")
        if scale <= 0 or not 0 <= threshold <= 1:
            raise ValueError("scale must be > 0 and threshold in [0, 1]")
        self.url = base_url.rstrip("/") + ("" if base_url.rstrip("/").endswith("/chat/completions") else "/chat/completions")
        self.model, self.api_key_env, self.template = model, api_key_env, template or DEFAULT_TEMPLATE
        self.scale, self.threshold, self.timeout = float(scale), float(threshold), float(timeout)
        self.max_retries, self.temperature, self.max_tokens = int(max_retries), float(temperature), int(max_tokens)
        self.prompt_field, self.reference_field, self.workers = prompt_field, reference_field, int(workers)
        self._client = None

    def _http(self):
        if self._client is None:
            import httpx

            self._client = httpx.Client(timeout=self.timeout)
        return self._client

    def _render(self, completion: str, row: dict) -> str:
        ref = _text(row.get(self.reference_field))
        fields = {"prompt": _text(row.get(self.prompt_field)), "completion": completion, "reference": ref,
                  "scale": f"{self.scale:g}", "reference_clause": " (compare with the REFERENCE answer)" if ref else "",
                  "reference_block": f"REFERENCE:\n{ref}\n\n" if ref else ""}
        return self.template.format(**fields)

    def verify(self, completion: str, row: dict) -> VerifyResult:
        import httpx

        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env or "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body = {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "messages": [{"role": "user", "content": self._render(completion, row)}]}
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                r = self._http().post(self.url, json=body, headers=headers)
                if r.status_code >= 500 or r.status_code == 429:
                    last = f"judge answered HTTP {r.status_code}"
                elif r.status_code >= 400:
                    return fail(f"judge answered HTTP {r.status_code}: {r.text[:200]}", stage="judge_error")
                else:
                    reply = r.json()["choices"][0]["message"]["content"] or ""
                    score = parse_score(reply, self.scale)
                    if score is None:
                        return fail("judge reply has no score", stage="judge_reply", reply=reply[:200])
                    return VerifyResult(score, score >= self.threshold, {
                        "reason": f"judge score {score * self.scale:g}/{self.scale:g}", "reply": reply[:200]})
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                last = f"{type(exc).__name__}: {exc}"[:200]
            time.sleep(min(2.0, 0.2 * 2 ** attempt))
        return fail(f"judge unreachable after {self.max_retries + 1} tries: {last}", stage="judge_error")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
