"""Held-out task accuracy: greedy generation scored against each row's `answer`."""

from __future__ import annotations

from halo_forge.data.formats import answers_match, final_answer


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


def task_accuracy(model, tokenizer, rows: list[dict], *, max_new_tokens: int = 16) -> tuple[float, int] | None:
    """Fraction of rows with an `answer` whose greedy completion has that final answer; None if no row has one."""
    scored = [r for r in rows if r.get("answer") is not None]
    if not scored:
        return None
    completions = generate(model, tokenizer, [prompt_text(r, tokenizer) for r in scored],
                           max_new_tokens=max_new_tokens)
    hits = sum(answers_match(final_answer(c), str(r["answer"])) for c, r in zip(completions, scored))
    return hits / len(scored), len(scored)
