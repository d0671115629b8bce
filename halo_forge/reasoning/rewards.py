"""The reasoning trainer's rewards: which verifiers, with which weights, and their TRL reward functions.

    verifiers = reasoning_verifiers(answer_weight=1.0, format_weight=0.5, overlong=(48, 16), model="halo-forge/tiny")
    reward_funcs = reasoning_reward_funcs(verifiers)      # GRPOTrainer(reward_funcs=..., args.reward_weights=weights)
    weights = [w for _, _, w in verifiers]

The answer (``reasoning_answer``) and format (``think_format``) rewards are always there (a weight of 0 drops
one); length shaping is optional: ``overlong=(max_length, cache)`` adds ``soft_overlong``,
``cosine_max_length`` adds ``cosine_length``. The reward functions are halo_forge.rl's verifier bridge, with
TRL's completion token counts passed to the length verifiers as the row's ``completion_tokens``.
"""

from __future__ import annotations

from typing import Any


def reasoning_reward_specs(*, answer_weight: float = 1.0, format_weight: float = 0.5,
                           overlong: tuple[int, int] | None = None, overlong_weight: float = 1.0,
                           cosine_max_length: int | None = None, cosine_weight: float = 1.0,
                           model: str | None = None, answer_field: str = "answer") -> list[tuple[str, dict, float]]:
    """[(verifier name, its options, weight)]: what the reasoning rewards are, without building them (the
    trainer's config derives its verifier identity from this)."""
    out = []
    if answer_weight:
        out.append(("reasoning_answer", {"field": answer_field}, float(answer_weight)))
    if format_weight:
        out.append(("think_format", {}, float(format_weight)))
    if overlong is not None:
        max_length, cache = overlong
        out.append(("soft_overlong", {"max_length": max_length, "cache": cache, "tokenizer": model},
                    float(overlong_weight)))
    if cosine_max_length is not None:
        out.append(("cosine_length", {"max_length": cosine_max_length, "tokenizer": model, "field": answer_field},
                    float(cosine_weight)))
    return out


def reasoning_verifiers(**specs) -> list[tuple[str, Any, float]]:
    """[(name, verifier, weight)], as ``halo_forge.rl.build_verifiers`` returns them, for
    :func:`reasoning_reward_specs`'s arguments; ``model`` names the tokenizer the length verifiers count with
    when no token ids are at hand (evaluation, RAFT)."""
    from halo_forge.verifiers import get_verifier

    out = [(name, get_verifier(name, **opts), w) for name, opts, w in reasoning_reward_specs(**specs)]
    if not out:
        raise ValueError("every reasoning reward has weight 0: give the answer or the format reward a weight")
    return out


def reasoning_reward_funcs(verifiers: list[tuple[str, Any, float]], row_fields: tuple[str, ...] = ("answer",)) -> list:
    """TRL reward functions for ``verifiers`` (one each, named ``verifier_<name>``); the length verifiers get
    the completion's token count from TRL's ``completion_ids``."""
    from halo_forge.rl import reward_funcs

    funcs = reward_funcs(verifiers, [*row_fields, "completion_tokens"])

    def token_counted(fn):
        def reward(prompts, completions, completion_ids=None, **kwargs):
            if completion_ids is not None:
                kwargs["completion_tokens"] = [len(ids) for ids in completion_ids]
            return fn(prompts=prompts, completions=completions, **kwargs)

        reward.__name__ = fn.__name__
        return reward

    return [token_counted(f) for f in funcs]
