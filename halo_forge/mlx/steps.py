"""Optimiser, learning-rate schedule and the training step on MLX, plus the SFT loss.

    optimizer = make_optimizer(lr=2e-4, total_steps=100, schedule="cosine", warmup_steps=10)
    step = make_train_step(model, optimizer, sft_loss, compile=True)
    result = step([(tokens, mask)])            # one optimiser step over the listed micro-batches
    result.loss, result.grad_norm, result.grads

The forward pass runs inside `nn.value_and_grad` (the loss function calls the model), and a compiled step
declares the model, optimiser and random state as its inputs and outputs (mlx-lm's own pattern), so the
gradients reach every trainable weight with or without `mx.compile`. Gradients are clipped to norm 1.0 and
AdamW uses bias correction, as transformers' Trainer defaults do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine")
MAX_GRAD_NORM = 1.0  # transformers' TrainingArguments default


def lr_schedule(lr: float, total_steps: int, schedule: str = "cosine", warmup_steps: int = 0) -> Callable:
    """transformers' schedule of the same name as an mlx.optimizers schedule (a function of the step)."""
    import mlx.core as mx
    import mlx.optimizers as optim

    if schedule not in SCHEDULES:
        raise ValueError(f"learning-rate schedule {schedule!r} is not available on MLX; use one of {', '.join(SCHEDULES)}")
    warmup = max(0, int(warmup_steps))  # may exceed the run (transformers' formulas: lr stays in the ramp)
    rest = max(1, int(total_steps) - warmup)
    constant = lambda _step: mx.array(lr, dtype=mx.float32)  # noqa: E731
    if schedule == "cosine":
        main = optim.cosine_decay(lr, rest, 0.0)
    elif schedule == "linear":
        main = optim.linear_schedule(lr, 0.0, rest)
    else:
        main = constant
    if schedule == "constant" or warmup == 0:
        return constant if schedule == "constant" else main
    return optim.join_schedules([optim.linear_schedule(0.0, lr, warmup), main], [warmup])


def make_optimizer(*, lr: float, total_steps: int, schedule: str = "cosine", warmup_steps: int = 0,
                   weight_decay: float = 0.0):
    """AdamW as PyTorch's adamw_torch: betas (0.9, 0.999), eps 1e-8, bias correction, decoupled weight decay."""
    import mlx.optimizers as optim

    return optim.AdamW(learning_rate=lr_schedule(lr, total_steps, schedule, warmup_steps), betas=[0.9, 0.999],
                       eps=1e-8, weight_decay=weight_decay, bias_correction=True)


@dataclass
class StepResult:
    loss: float
    aux: Any           # what the loss function returned beside the loss (token count, metrics …), evaluated
    grad_norm: float   # before clipping
    grads: dict        # the (averaged, unclipped) gradient tree of the trainable weights


def make_train_step(model, optimizer, loss_fn: Callable, *, compile: bool = True,
                    max_grad_norm: float | None = MAX_GRAD_NORM) -> Callable[[list[tuple]], StepResult]:
    """A function taking a list of micro-batches (tuples of arrays for `loss_fn(model, *batch) -> (loss, aux)`)
    that accumulates their gradients, averages them, clips and applies one optimiser update."""
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_map

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state, mx.random.state]

    def grads_of(*batch):
        (loss, aux), grads = loss_and_grad(model, *batch)
        return loss, aux, grads

    def update(grads):
        norm = mx.array(0.0)
        if max_grad_norm:
            grads, norm = optim.clip_grad_norm(grads, max_grad_norm)
        optimizer.update(model, grads)
        return norm

    if compile:
        grads_of = mx.compile(grads_of, inputs=state, outputs=state)
        update = mx.compile(update, inputs=state, outputs=state)

    def step(micro_batches: list[tuple]) -> StepResult:
        total, losses, auxes = None, [], []
        for batch in micro_batches:
            loss, aux, grads = grads_of(*batch)
            total = grads if total is None else tree_map(lambda a, b: a + b, total, grads)
            losses.append(loss)
            auxes.append(aux)
        if len(micro_batches) > 1:
            total = tree_map(lambda g: g / len(micro_batches), total)
        norm = update(total)
        mx.eval(model.parameters(), optimizer.state, norm, losses, auxes, total)
        return StepResult(loss=float(sum(float(x) for x in losses) / len(losses)),
                          aux=auxes[0] if len(auxes) == 1 else auxes, grad_norm=float(norm), grads=total)

    return step


def token_logps(model, tokens, temperature: float = 1.0):
    """log p(tokens[:, t+1] | tokens[:, :t+1]) for every position: (B, L-1), float32; logits divided by
    `temperature` first (TRL's GRPO scores the sampling distribution that way)."""
    import mlx.core as mx

    logits = model(tokens[:, :-1]).astype(mx.float32)
    if temperature != 1.0:
        logits = logits / temperature
    picked = mx.take_along_axis(logits, tokens[:, 1:, None], axis=-1)[..., 0]
    return picked - mx.logsumexp(logits, axis=-1)


def sft_loss(model, tokens, mask):
    """Mean cross-entropy over the learned tokens (mask 1 on the token being predicted), as mlx-lm's
    `default_loss` computes it for a prompt offset; returns (loss, number of learned tokens)."""
    import mlx.core as mx
    import mlx.nn as nn

    logits = model(tokens[:, :-1])
    weights = mask[:, 1:]
    ce = nn.losses.cross_entropy(logits, tokens[:, 1:]) * weights
    ntoks = weights.sum()
    return ce.astype(mx.float32).sum() / mx.maximum(ntoks, 1.0), ntoks
