"""Our rows as token ids and loss masks, the way TRL 1.16 tokenises them (so MLX and PyTorch train on the
same tokens), and their padded MLX batches.

  SFT        sft_example(row, tok) -> (ids, mask); mask 1 where the token is learned (TRL's completion mask,
             or the chat template's {% generation %} assistant mask for "messages" rows)
  DPO        preference_example(row, tok) -> {prompt_ids, chosen_ids, rejected_ids}; preference_batch -> [chosen; rejected]
  GRPO       prompt_ids(row, tok); sequence_batch(prompts, completions) right-pads prompt+completion rows

Batches are right-padded: under causal attention a real token never sees a pad, so no attention mask is needed.
"""

from __future__ import annotations

from halo_forge.mlx.weights import hf_tokenizer


def _ids(tok, value, **chat_kwargs) -> list[int]:
    """TRL's `_tokenize`: the chat template for message lists, the tokenizer itself for text."""
    if isinstance(value, list):
        out = tok.apply_chat_template(value, tokenize=True, return_dict=True, **chat_kwargs)
        return list(out["input_ids"]), out
    out = tok(text=value)
    return list(out["input_ids"]), out


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _with_eos(text: str, tok) -> str:
    eos = tok.eos_token or ""
    return text if text.endswith(eos) else text + eos


def sft_example(row: dict, tokenizer, *, completion_only: bool = True, max_length: int | None = None):
    """(token ids, loss mask) for one SFT row: prompt/completion (text or chat), messages (assistant turns,
    which needs {% generation %} markers in the template), or text. completion_only=False learns every token."""
    tok = hf_tokenizer(tokenizer)
    if "prompt" in row:
        prompt, completion = row["prompt"], row["completion"]
        if isinstance(prompt, list):
            p_ids, _ = _ids(tok, prompt, add_generation_prompt=True)
            ids, _ = _ids(tok, prompt + completion)
        else:
            p_ids, _ = _ids(tok, prompt)
            ids, _ = _ids(tok, prompt + _with_eos(completion, tok))
        start = _common_prefix(p_ids, ids)
        mask = [0] * start + [1] * (len(ids) - start)
    elif "messages" in row:
        ids, out = _ids(tok, row["messages"], return_assistant_tokens_mask=True)
        mask = list(out["assistant_masks"])
        if completion_only and 1 not in mask:
            raise ValueError("this chat template marks no assistant tokens ({% generation %} missing): give SFT "
                             "prompt/completion rows (the chat's last assistant turn as the completion)")
    else:
        ids, _ = _ids(tok, _with_eos(row["text"], tok))
        mask = [1] * len(ids)
    if not completion_only:
        mask = [1] * len(ids)
    if max_length is not None:
        ids, mask = ids[:max_length], mask[:max_length]
    return ids, mask


def preference_example(row: dict, tokenizer) -> dict:
    """{prompt_ids, chosen_ids, rejected_ids} for a prompt/chosen/rejected row, as TRL's DPOTrainer tokenises it
    (EOS appended to text replies; the completion starts where prompt and prompt+reply first differ)."""
    tok = hf_tokenizer(tokenizer)
    prompt, chosen, rejected = row["prompt"], row["chosen"], row["rejected"]
    if isinstance(prompt, list) or isinstance(chosen, list):
        prompt = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        p_ids, _ = _ids(tok, prompt, add_generation_prompt=True)
        c_ids, _ = _ids(tok, prompt + chosen)
        r_ids, _ = _ids(tok, prompt + rejected)
    else:
        p_ids, _ = _ids(tok, prompt)
        c_ids, _ = _ids(tok, prompt + _with_eos(chosen, tok))
        r_ids, _ = _ids(tok, prompt + _with_eos(rejected, tok))
    start = min(_common_prefix(p_ids, c_ids), _common_prefix(p_ids, r_ids))
    return {"prompt_ids": p_ids[:start], "chosen_ids": c_ids[start:], "rejected_ids": r_ids[start:]}


def prompt_ids(row: dict, tokenizer) -> list[int]:
    """The prompt a policy is sampled from, as TRL's GRPOTrainer tokenises it (chat template with the
    generation prompt for message lists, the tokenizer for text)."""
    tok = hf_tokenizer(tokenizer)
    prompt = row["prompt"] if isinstance(row, dict) else row
    ids, _ = _ids(tok, prompt, add_generation_prompt=True) if isinstance(prompt, list) else _ids(tok, prompt)
    return ids


def pad_rows(rows: list[list[int]], masks: list[list[int]], pad_id: int):
    """(tokens (B, L) int32, mask (B, L) float32) mx arrays, right-padded to the longest row."""
    import mlx.core as mx
    import numpy as np

    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int32)
    mask = np.zeros((len(rows), width), dtype=np.float32)
    for i, (r, m) in enumerate(zip(rows, masks)):
        ids[i, :len(r)] = r
        mask[i, :len(m)] = m
    return mx.array(ids), mx.array(mask)


def sft_batch(examples: list[tuple[list[int], list[int]]], pad_id: int):
    """Padded (tokens, loss mask) for `sft_example` outputs."""
    return pad_rows([e[0] for e in examples], [e[1] for e in examples], pad_id)


def preference_batch(examples: list[dict], pad_id: int, max_length: int | None = None):
    """(tokens (2B, L), completion mask (2B, L)): the chosen rows then the rejected rows, truncated to
    `max_length` from the start, as TRL's DataCollatorForPreference builds them."""
    rows, masks = [], []
    for key in ("chosen_ids", "rejected_ids"):
        for e in examples:
            rows.append((e["prompt_ids"] + e[key])[:max_length])
            masks.append(([0] * len(e["prompt_ids"]) + [1] * len(e[key]))[:max_length])
    return pad_rows(rows, masks, pad_id)


def sequence_batch(prompts: list[list[int]], completions: list[list[int]], pad_id: int):
    """(tokens (B, L), completion mask (B, L)) for prompt+completion rows (GRPO groups, RAFT samples)."""
    return pad_rows([p + c for p, c in zip(prompts, completions)],
                    [[0] * len(p) + [1] * len(c) for p, c in zip(prompts, completions)], pad_id)


class Lazy:
    """`fn(rows[i])`, computed on first use and kept: a run that trains a few steps on a large dataset tokenises
    only the rows it uses (TRL tokenises every row up front)."""

    def __init__(self, fn, rows: list) -> None:
        self.fn, self.rows, self.done = fn, rows, {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        if i not in self.done:
            self.done[i] = self.fn(self.rows[i])
        return self.done[i]
