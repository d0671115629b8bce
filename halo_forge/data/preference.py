"""Preference pairs (prompt, chosen, rejected) for DPO, ORPO and reward models.

Canonical rows are TRL's conversational preference shape:
    {"prompt": [messages], "chosen": [{"role": "assistant", ...}], "rejected": [{"role": "assistant", ...}]}
(or all three plain strings) plus an optional "answer" (the verifiable ground truth, used for
held-out task accuracy). Accepted inputs, detected per row:
  - prompt / chosen / rejected as strings (local JSONL, py-dpo, orca with system + question);
  - chosen / rejected as chat lists ending in the assistant turn (UltraFeedback): the shared turns
    before it become the prompt;
  - chosen / rejected as whole "\\n\\nHuman: … \\n\\nAssistant: …" transcripts with no prompt
    (hh-rlhf): the prompt is recovered from their shared prefix up to the last "Assistant:".
A row whose chosen equals its rejected teaches nothing: it is dropped and counted, not fatal.
"""

from __future__ import annotations

from halo_forge.errors import DataError

HH_ASSISTANT = "\n\nAssistant:"


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _split_chat(turns, where: str, column: str) -> tuple[list[dict], str]:
    """(prompt turns, final assistant reply) of a chat list; errors name the row."""
    from halo_forge.data.formats import _messages

    msgs = _messages(turns, f"{where}: column {column!r}")
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
    if last is None:
        raise DataError(f"{where}: {column!r} chat has no assistant turn to prefer or reject",
                        hint=f"end each {column} chat with a turn of role 'assistant' (the response being compared)")
    return msgs[:last], msgs[last]["content"]


def _hh_split(chosen: str, rejected: str) -> tuple[str, str, str]:
    """hh-rlhf: the prompt is the shared prefix of both transcripts up to (and including) the last 'Assistant:'."""
    n = 0
    for a, b in zip(chosen, rejected):
        if a != b:
            break
        n += 1
    cut = chosen.rfind(HH_ASSISTANT, 0, n + 1)
    if cut < 0:
        return "", chosen, rejected
    cut += len(HH_ASSISTANT)
    return chosen[:cut], chosen[cut:].lstrip(" "), rejected[cut:].lstrip(" ")


def normalise_pair(row: dict, where: str) -> dict:
    """One raw row → canonical preference row (raises DataError naming `where`)."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object per row, got {type(row).__name__}")
    missing = [c for c in ("chosen", "rejected") if c not in row]
    if missing:
        raise DataError(f"{where}: preference row is missing {', '.join(repr(c) for c in missing)} "
                        f"(found columns: {sorted(row)})",
                        hint="each row needs 'chosen' and 'rejected' (and 'prompt', unless chosen/rejected are "
                             "whole chats or hh-rlhf transcripts)")
    chosen, rejected = row["chosen"], row["rejected"]
    prompt = row.get("prompt", row.get("question"))
    out: dict
    if isinstance(chosen, list) or isinstance(rejected, list):
        if not (isinstance(chosen, list) and isinstance(rejected, list)):
            raise DataError(f"{where}: 'chosen' and 'rejected' must both be chat lists or both be text")
        p_chosen, c = _split_chat(chosen, where, "chosen")
        p_rejected, r = _split_chat(rejected, where, "rejected")
        if isinstance(prompt, list):
            from halo_forge.data.formats import _messages

            turns = _messages(prompt, f"{where}: column 'prompt'")
        elif isinstance(prompt, str) and not p_chosen:
            turns = [{"role": "user", "content": prompt}]
        else:
            turns = p_chosen or p_rejected
        if p_chosen and p_rejected and p_chosen != p_rejected:
            raise DataError(f"{where}: 'chosen' and 'rejected' chats differ before their final assistant turn",
                            hint="both chats must share the same prompt turns; only the last reply may differ")
        if not turns:
            raise DataError(f"{where}: no prompt: give a 'prompt' column or user turns before the assistant reply")
        out = {"prompt": turns, "chosen": _assistant(c), "rejected": _assistant(r)}
    elif prompt is None:
        if not (isinstance(chosen, str) and isinstance(rejected, str)):
            raise DataError(f"{where}: 'chosen'/'rejected' must be text or chat lists")
        p, c, r = _hh_split(chosen, rejected)
        if not p:
            raise DataError(f"{where}: preference row has no 'prompt' and its chosen/rejected share no "
                            "'\\n\\nAssistant:' prefix to recover one from",
                            hint="add a 'prompt' column (local JSONL rows are prompt/chosen/rejected)")
        out = {"prompt": p, "chosen": c, "rejected": r}
    else:
        system = row.get("system")
        text = str(prompt)
        if system:  # orca_dpo_pairs: system + question → a chat prompt
            turns = [{"role": "system", "content": str(system)}, {"role": "user", "content": text}]
            out = {"prompt": turns, "chosen": _assistant(str(chosen)), "rejected": _assistant(str(rejected))}
        else:
            out = {"prompt": text, "chosen": str(chosen), "rejected": str(rejected)}
    if row.get("answer") is not None:
        out["answer"] = str(row["answer"])
    return out


def _reply(value) -> str:
    return value[-1]["content"] if isinstance(value, list) else str(value)


def normalise_pairs(rows: list, where, source: str) -> tuple[list[dict], int]:
    """All rows normalised; (rows, number dropped because chosen == rejected)."""
    if not rows:
        raise DataError(f"{source}: the dataset is empty", hint="add at least one prompt/chosen/rejected row")
    out, ties = [], 0
    for i, row in enumerate(rows):
        pair = normalise_pair(row, where(i))
        if _reply(pair["chosen"]).strip() == _reply(pair["rejected"]).strip():
            ties += 1
            continue
        out.append(pair)
    return out, ties


def load_preference_data(config):
    """`SplitData` of preference rows for DPO, ORPO and RM (same split rules as SFT)."""
    from halo_forge.data import builtin, registry
    from halo_forge.data.split import RowSource, formatted, load_split

    def canonical(raw):
        rows, ties = normalise_pairs(formatted(raw), raw.where, raw.label)
        if not rows:
            raise DataError(f"{raw.label}: every row has chosen == rejected ({ties} ties): nothing to prefer",
                            hint="each pair needs a chosen response that differs from its rejected one")
        notes = [f"dropped {ties} row(s) whose chosen equals its rejected"] if ties else []
        return ("preference" if raw.spec is None else raw.spec.name), rows, notes

    return load_split(config, RowSource(registry.PREFERENCE_DATASETS, canonical, builtin.load_builtin, "preference"))
