"""Held-out task accuracy: greedy generation scored against each row's `answer`."""

from __future__ import annotations

from halo_forge.data.formats import answers_match, final_answer
from halo_forge.training.figures import Figure, Figures


def prompt_text(row: dict, tokenizer) -> str:
    """The text a model is prompted with for `row` (chat template for conversational prompts)."""
    prompt = row.get("prompt")
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    if prompt is None and "messages" in row:
        msgs = row["messages"]
        last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
        return tokenizer.apply_chat_template(msgs[:last], tokenize=False, add_generation_prompt=True)
    return str(prompt)


def generate(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int = 64,
             do_sample: bool = False, temperature: float = 1.0) -> list[str]:
    """Batched generation (left padding); returns only the new text of each prompt."""
    import torch

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outs: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                     temperature=temperature if do_sample else None, top_p=None, top_k=None,
                                     pad_token_id=tokenizer.pad_token_id)
            new = gen[:, enc["input_ids"].shape[1]:]
            outs.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
    return outs


def task_accuracy(model, tokenizer, rows: list[dict], *, max_new_tokens: int = 16,
                  batch_size: int = 64) -> Figure | None:
    """Fraction of rows with an `answer` whose greedy completion has that final answer; None if no row has one."""
    scored = [r for r in rows if r.get("answer") is not None]
    if not scored:
        return None
    completions = generate(model, tokenizer, [prompt_text(r, tokenizer) for r in scored],
                           max_new_tokens=max_new_tokens, batch_size=batch_size)
    hits = sum(answers_match(final_answer(c), str(r["answer"])) for c, r in zip(completions, scored))
    return Figure(hits / len(scored), len(scored))


def heldout_loss(trainer, rows: list[dict]) -> Figure | None:
    """The trainer's own loss on the held-out rows (its eval dataset); None without held-out rows."""
    if not rows:
        return None
    return Figure(float(trainer.evaluate()["eval_loss"]), len(rows), higher_is_better=False)


# --- preference pairs (DPO, ORPO, RM) --------------------------------------------------------------

def completion_text(row: dict, key: str, tokenizer) -> str:
    """The text of `row[key]` (chosen or rejected) as it follows `prompt_text(row)`: for chat rows, what the
    chat template renders for the reply (end-of-turn marker included); for text rows, the reply + EOS."""
    value, prompt = row[key], row.get("prompt")
    if isinstance(value, list):
        turns = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
        head = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(turns + value, tokenize=False)
        if full.startswith(head):
            return full[len(head):]
        return value[-1]["content"]
    return str(value) + (tokenizer.eos_token or "")


def pair_texts(row: dict, tokenizer) -> tuple[str, str, str]:
    """(prompt, chosen continuation, rejected continuation) as text."""
    return (prompt_text(row, tokenizer), completion_text(row, "chosen", tokenizer),
            completion_text(row, "rejected", tokenizer))


def sequence_logps(model, tokenizer, prompts: list[str], completions: list[str], *, batch_size: int = 64) -> list[float]:
    """Sum of log p(completion tokens | prompt) for each pair (prompt and completion tokenised apart,
    as TRL's DPO does)."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[float] = []
    try:
        for i in range(0, len(prompts), batch_size):
            seqs, starts = [], []
            for p, c in zip(prompts[i:i + batch_size], completions[i:i + batch_size]):
                p_ids = tokenizer(p, add_special_tokens=False)["input_ids"]
                c_ids = tokenizer(c, add_special_tokens=False)["input_ids"]
                seqs.append(p_ids + c_ids)
                starts.append(len(p_ids))
            width = max(map(len, seqs))
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for j, s in enumerate(seqs):
                ids[j, :len(s)] = torch.tensor(s)
                mask[j, :len(s)] = 1
            with torch.no_grad():
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None].to(device))[..., 0].cpu()
            for j, (s, start) in enumerate(zip(seqs, starts)):
                out.append(float(logp[j, max(start - 1, 0):len(s) - 1].sum()))
    finally:
        if was_training:
            model.train()
    return out


def preference_accuracy(model, tokenizer, rows: list[dict], *, batch_size: int = 64) -> Figure | None:
    """Fraction of held-out pairs where the model gives the chosen reply a higher log-probability than
    the rejected one; None when there are no pairs."""
    if not rows:
        return None
    texts = [pair_texts(r, tokenizer) for r in rows]
    prompts = [p for p, _, _ in texts]
    chosen = sequence_logps(model, tokenizer, prompts, [c for _, c, _ in texts], batch_size=batch_size)
    rejected = sequence_logps(model, tokenizer, prompts, [r for _, _, r in texts], batch_size=batch_size)
    return Figure(sum(c > r for c, r in zip(chosen, rejected)) / len(rows), len(rows))


def reward_scores(model, tokenizer, texts: list[str], *, batch_size: int = 32) -> list[float]:
    """Scalar scores of a sequence-classification (reward) model for whole texts."""
    import torch

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    scores: list[float] = []
    try:
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            with torch.no_grad():
                logits = model(**enc).logits
            scores.extend(float(v) for v in logits[:, 0].float().cpu())
    finally:
        tokenizer.padding_side = side
        if was_training:
            model.train()
    return scores


def pairwise_accuracy(model, tokenizer, rows: list[dict], *, batch_size: int = 32) -> Figure | None:
    """RM: fraction of held-out pairs whose chosen text scores above its rejected text."""
    if not rows:
        return None
    texts = [pair_texts(r, tokenizer) for r in rows]
    chosen = reward_scores(model, tokenizer, [p + c for p, c, _ in texts], batch_size=batch_size)
    rejected = reward_scores(model, tokenizer, [p + r for p, _, r in texts], batch_size=batch_size)
    return Figure(sum(c > r for c, r in zip(chosen, rejected)) / len(rows), len(rows))


# a secondary held-out task accuracy may fall this much before the verdict warns (DPO, ORPO, SFT)
TASK_TOLERANCE = {"heldout_accuracy": 0.02}


def preference_figures(model, tokenizer, heldout: list[dict], *, max_new_tokens: int, batch_size: int) -> Figures:
    """What DPO and ORPO measure on held-out pairs: preference accuracy (primary) and, for rows with an
    `answer`, task accuracy."""
    return Figures.of(
        heldout_preference_accuracy=preference_accuracy(model, tokenizer, heldout, batch_size=batch_size),
        heldout_accuracy=task_accuracy(model, tokenizer, heldout, max_new_tokens=max_new_tokens,
                                       batch_size=batch_size))
