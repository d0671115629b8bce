"""What the RL trainers (GRPO, RAFT) share: the verifier fields of their configs, the configured
verifiers, the bridge to TRL ``reward_funcs`` and the held-out pass rate (their effectiveness figure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from halo_forge.config import FieldGroup, Problem, set_but_unused
from halo_forge.training.trainer import TorchTrainer

RolloutEngine = Literal["auto", "torch", "vllm", "mlx"]
Method = Literal["sft", "grpo", "raft"]


class RolloutFields(FieldGroup):
    """Fields GRPO and RAFT share: the verifiers that reward a completion and how completions are sampled."""

    verifiers: list[str] = Field(["math"], description="Verifier(s) scoring each completion (`halo-forge verifiers list`); on the command line --verifier NAME, repeatable.")
    verifier_weights: list[float] | None = Field(None, description="One weight per verifier (default: equal); on the command line --verifier-weight W, repeatable.")
    verifier_args: list[str] = Field([], description="Verifier options key=value (NAME:key=value targets one verifier); on the command line --verifier-arg, repeatable.")
    unsafe_verifier_execution: bool = Field(False, description="Allow code-running verifiers without a sandbox (only on a machine you can lose).")
    rollout_engine: RolloutEngine = Field("auto", description="Sampling engine: auto (vllm on a GPU when installed, else torch), torch, vllm or mlx.")
    temperature: float = Field(0.9, gt=0, description="Sampling temperature of the rollouts.")
    max_completion_length: int = Field(256, gt=0, description="Maximum new tokens per sampled completion.")

    def _check(self) -> list[Problem]:
        problems = []
        if not self.verifiers:
            problems.append(Problem("verifiers", [], "give at least one --verifier"))
        if self.verifier_weights is not None and len(self.verifier_weights) != len(self.verifiers):
            problems.append(Problem("verifier_weights", self.verifier_weights,
                                    f"{len(self.verifier_weights)} --verifier-weight values for "
                                    f"{len(self.verifiers)} --verifier: give one weight per verifier"))
        return problems

    def verifier_options(self) -> dict[str, dict[str, Any]]:
        from halo_forge.verifiers import parse_verifier_args

        out: dict[str, dict[str, Any]] = {name: {} for name in self.verifiers}
        for pair in self.verifier_args:
            head, eq, _ = pair.partition("=")
            target, colon, key = head.partition(":")
            if colon and eq:
                if target not in out:
                    from halo_forge.errors import ConfigError

                    raise ConfigError(f"--verifier-arg {pair!r} names verifier {target!r}, which is not among "
                                      f"--verifier {', '.join(self.verifiers)}")
                out[target].update(parse_verifier_args([pair[len(target) + 1:]]))
            else:
                for name in out:
                    out[name].update(parse_verifier_args([pair]))
        for name, opts in out.items():
            if self.unsafe_verifier_execution and _runs_code(name):
                opts.setdefault("unsafe", True)
        return out

    @property
    def verifier(self) -> str:
        """Identity of the configured verifiers (name, options, code digest): the cache key's verifier."""
        from halo_forge.verifiers import verifier_identity

        opts = self.verifier_options()
        weights = self.verifier_weights or [1.0] * len(self.verifiers)
        return "+".join(f"{w:g}*{verifier_identity(n, opts[n])}" if len(self.verifiers) > 1 else
                        verifier_identity(n, opts[n]) for n, w in zip(self.verifiers, weights))


class GroupFields(FieldGroup):
    """GRPO's group: several completions sampled per prompt, each rewarded relative to the others."""

    num_generations: int = Field(4, gt=0, description="GRPO: completions sampled per prompt (the group); --batch-size counts completions, a multiple of it.")
    no_scale_rewards: bool = Field(False, description="GRPO: do not divide advantages by the group's reward std (Dr. GRPO).")

    def _check(self) -> list[Problem]:
        if getattr(self, "method", "grpo") != "grpo":
            return []
        problems = []
        if self.num_generations < 2 and not self.no_scale_rewards:
            problems.append(Problem("num_generations", self.num_generations,
                                    "leaves one completion per group: its reward std is 0 and scaled advantages are "
                                    "undefined; use --num-generations 2 or more (or --no-scale-rewards)"))
        if self.batch_size % self.num_generations:
            problems.append(Problem("batch_size", self.batch_size,
                                    f"not a multiple of --num-generations {self.num_generations}: each step must "
                                    "hold whole groups"))
        return problems


class RAFTFields(FieldGroup):
    """RAFT's cycles: sample from the current policy, verify, keep the best, fine-tune on them."""

    cycles: int = Field(3, gt=0, description="RAFT: sample → verify → keep → fine-tune cycles.")
    samples_per_prompt: int = Field(4, gt=0, description="RAFT: completions sampled per prompt each cycle.")
    prompts_per_cycle: int | None = Field(None, gt=0, description="RAFT: prompts sampled each cycle (default: all training prompts).")
    keep_percent: float = Field(0.5, description="RAFT: keep at most this fraction (0, 1] of the generated samples, best rewards first.")
    reward_threshold: float = Field(1.0, ge=0, le=1, description="RAFT: keep only samples whose reward reaches this.")
    min_samples: int = Field(1, gt=0, description="RAFT: skip a cycle's fine-tuning when fewer samples than this are kept.")

    def _check(self) -> list[Problem]:
        if not 0.0 < self.keep_percent <= 1.0:
            return [Problem("keep_percent", self.keep_percent, "must be in (0, 1] (a fraction of the generated "
                                                               "samples); e.g. 0.25 keeps the best quarter")]
        return []


def method_problems(config, table: dict[tuple[str, ...], tuple[str, ...]]) -> list[Problem]:
    """The fields of `table` (methods → the fields only they use) set for a run of another --method."""
    unused = {}
    for methods, names in table.items():
        if config.method not in methods:
            why = f"applies to --method {' or '.join(methods)}; this run is --method {config.method}: drop it"
            unused.update({name: why for name in names})
    return set_but_unused(config, unused)


def rollout_problems(config) -> list[Problem]:
    """What stops the rollout fields from working here (pure): unknown verifiers, options naming no
    configured verifier, an engine that cannot run."""
    from halo_forge.errors import BackendError, ConfigError
    from halo_forge.rollout import resolve_engine
    from halo_forge.verifiers import available_verifiers

    problems = []
    known = available_verifiers()
    for name in config.verifiers:
        if name not in known:
            problems.append(Problem("verifiers", name, f"unknown verifier; available: {', '.join(sorted(known))} "
                                                       "(`halo-forge verifiers list` describes them)"))
    try:
        config.verifier_options()
    except ConfigError as exc:
        problems.append(Problem("verifier_args", config.verifier_args, exc.message))
    try:
        resolve_engine(config.rollout_engine)
    except BackendError as exc:
        problems.append(Problem("rollout_engine", config.rollout_engine,
                                exc.message + (f": {exc.hint}" if exc.hint else "")))
    return problems


class RolloutTrainer(TorchTrainer):
    """What a PyTorch trainer that samples and verifies holds beyond the common state: its verifiers,
    built once with the trainer; its check adds the rollout problems (unknown verifiers, engine)."""

    used_elsewhere = {**TorchTrainer.used_elsewhere,
                      "unsafe_verifier_execution": "the verifier options (plan['verifiers'])"}

    def __init__(self, config, backend: str, data=None) -> None:
        super().__init__(config, backend, data)
        self.verifiers = build_verifiers(config)

    @classmethod
    def check(cls, config, caps) -> list[Problem]:
        return super().check(config, caps) + rollout_problems(config)


def _runs_code(name: str) -> bool:
    from halo_forge.verifiers import available_verifiers

    entry = available_verifiers().get(name)
    return bool(entry and entry.cls.runs_code)


def verifier_plan(config) -> dict:
    """The verifiers a run scores with: names, options (sandbox choice included) and weights."""
    return {"names": list(config.verifiers), "options": config.verifier_options(), "weights": config.verifier_weights}


def build_verifiers(config) -> list[tuple[str, Any, float]]:
    """[(name, verifier instance, weight)] for the config (unknown names: exit 2 listing the known ones)."""
    from halo_forge.verifiers import get_verifier

    opts = config.verifier_options()
    weights = config.verifier_weights or [1.0] * len(config.verifiers)
    return [(n, get_verifier(n, **opts[n]), float(w)) for n, w in zip(config.verifiers, weights)]


def check_verifier_rows(config, rows: list[dict], where) -> None:
    """A DataError naming the first row that lacks a field one of the configured verifiers reads."""
    from halo_forge.verifiers import check_rows

    for _name, verifier, _w in build_verifiers(config):
        check_rows(verifier, rows, where)


def completion_text(completion) -> str:
    """TRL hands conversational completions as message lists: the assistant's text."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
    return str(completion)


def score(verifiers, completions: list[str], rows: list[dict]) -> list[dict]:
    """Weighted reward per completion: {reward, passed (all verifiers passed), reason (first failing)}."""
    total = sum(w for _, _, w in verifiers) or 1.0
    results = [v.verify_batch(completions, rows) for _, v, _ in verifiers]
    out = []
    for i in range(len(completions)):
        per = [r[i] for r in results]
        reward = sum(w * r.reward for (_, _, w), r in zip(verifiers, per)) / total
        failing = next((r.reason for r in per if not r.passed), None)
        out.append({"reward": reward, "passed": all(r.passed for r in per), "reason": failing or "passed"})
    return out


def reward_funcs(verifiers, row_fields: list[str], *, memo_size: int = 200_000) -> list:
    """One TRL reward function per verifier; each rebuilds its rows from the ground-truth columns TRL
    passes as keyword arguments (one value per completion). Verdicts are memoised per (completion, row)
    within the run: groups repeat the same answers often, and a verifier's verdict on the same input
    does not change."""
    import json

    funcs = []
    for name, verifier, _w in verifiers:
        memo: dict[str, float] = {}

        def fn(prompts, completions, _v=verifier, _memo=memo, **kwargs):
            n = len(completions)
            rows = [{k: kwargs[k][i] for k in row_fields if k in kwargs} for i in range(n)]
            texts = [completion_text(c) for c in completions]
            keys = [json.dumps([t, r], sort_keys=True, default=str) for t, r in zip(texts, rows)]
            todo = sorted({i for i, k in enumerate(keys) if k not in _memo}, key=lambda i: keys[i])
            todo = list({keys[i]: i for i in todo}.values())  # one verification per distinct input
            if todo:
                results = _v.verify_batch([texts[i] for i in todo], [rows[i] for i in todo])
                if len(_memo) > memo_size:
                    _memo.clear()
                for i, r in zip(todo, results):
                    _memo[keys[i]] = r.reward
            return [_memo[k] for k in keys]

        fn.__name__ = f"verifier_{name}"
        funcs.append(fn)
    return funcs


def pass_rate(model, tokenizer, verifiers, rows: list[dict], *, max_new_tokens: int, batch_size: int):
    """Held-out task accuracy: fraction of prompts whose greedy completion passes every verifier."""
    from halo_forge.evaluation import generate, prompt_text

    if not rows:
        return None
    texts = generate(model, tokenizer, [prompt_text(r, tokenizer) for r in rows], max_new_tokens=max_new_tokens,
                     batch_size=batch_size)
    scored = score(verifiers, texts, rows)
    from halo_forge.training.figures import Figure

    return Figure(sum(s["passed"] for s in scored) / len(rows), len(rows))



def heldout_scores(verifiers, completions: list[str], rows: list[dict]):
    """(Figures, details) of held-out completions: the pass rate of every verifier (`heldout_accuracy`, the
    verdict's figure) and the mean weighted reward; details hold the breakdown of the verifiers' reasons and a
    few examples (for the summary). No rows: no figures."""
    from collections import Counter

    from halo_forge.training.figures import Figure, Figures

    if not rows:
        return Figures(), {}
    scored, n = score(verifiers, completions, rows), len(rows)
    figures = Figures.of(heldout_accuracy=Figure(sum(s["passed"] for s in scored) / n, n),
                         heldout_mean_reward=Figure(sum(s["reward"] for s in scored) / n, n))
    details = {"verifier_breakdown": dict(Counter(s["reason"] for s in scored).most_common(8)),
               "examples": [{"completion": c[:120], "reward": round(s["reward"], 4), "reason": s["reason"]}
                            for c, s in zip(completions[:4], scored)]}
    return figures, details


def rows_have_fields(verifiers, rows: list[dict]) -> bool:
    """Whether every row carries what every verifier reads (a held-out pass rate can be measured)."""
    return all(row.get(f) is not None for _, v, _ in verifiers for f in v.required_fields() for row in rows)
