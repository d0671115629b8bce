"""What the agentic trainer's `train()` calls beside the libraries: the run's tools, the SFT traces, the held-out
figures and the summary's extras."""

from __future__ import annotations

from halo_forge.errors import ConfigError


def require_assistant_markers(tokenizer) -> None:
    """Loss on the assistant turns only needs a chat template that marks them (`{% generation %}`)."""
    if "{% generation %}" not in (tokenizer.chat_template or ""):
        raise ConfigError("the model's chat template has no {% generation %} markers, so the loss cannot be kept "
                          "to the assistant turns of a tool trace",
                          hint="use a model whose chat template marks assistant turns with {% generation %} "
                               "(halo-forge/tiny does), or add the markers to its template")


def run_tools(config, data, notes: list[str]) -> tuple[list, bool]:
    """(the tools this run can execute, whether episodes go on after calls). Tools come from the built-in world
    (tool_world, tool_arith), the rows' ``code`` (sandboxed) and --tool plugins; episodes are multi-turn when every gold
    call's tool can run and --single-turn is not set."""
    from halo_forge.agentic.tools import dataset_tools, plugin_tool, world_tools

    found = {}
    if data.source in ("builtin:tool_world", "builtin:tool_arith"):
        found.update({t.__name__: t for t in world_tools(data.source.split(":")[1])})
    found.update({t.__name__: t for t in dataset_tools(data.train + data.heldout,
                                                       unsafe=config.unsafe_verifier_execution)})
    found.update({t.__name__: t for t in map(plugin_tool, config.tool_plugins)})
    missing = sorted({c["name"] for r in data.train + data.heldout for c in r["gold_calls"]} - set(found))
    multi = not config.single_turn and not missing
    if missing and not config.single_turn and config.method != "sft":
        notes.append(f"single-turn call training: no implementation for {', '.join(missing[:5])} "
                     "(give --tool package.module:function, or a tool's 'code')")
    return list(found.values()), multi


def sft_traces(config, rows: list[dict], tools: list) -> list[dict]:
    """Tool traces (user → assistant tool_calls → tool results → final answer; call-only when the tools cannot
    run) of the gold calls, or of tool_world's sloppy teacher with --sft-calls sloppy_teacher."""
    from halo_forge.data.tool_world import sft_trace, teacher_calls

    by_name = {t.__name__: t for t in tools}
    teacher = config.sft_calls == "sloppy_teacher"
    return [sft_trace(r, teacher_calls(r, config.seed) if teacher else None, tools=by_name) for r in rows]


def heldout(trainer, model, tokenizer, rows: list[dict]):
    """(Figures, details): held-out exact-call accuracy (greedy first turn) with its call-check breakdown, then,
    when the tools run, whole greedy episodes (final-answer accuracy, turns, endings, failure reasons)."""
    from halo_forge.agentic.evaluation import call_figures, episode_figures, figures_of

    if not rows:
        return figures_of({"n": 0}), {}
    opts = trainer.plan["eval"]
    calls = call_figures(model, tokenizer, rows, trainer.tools, verifier=trainer.call_verifier, **opts)
    episodes = episode_figures(model, tokenizer, rows, trainer.tools, max_turns=trainer.config.max_turns,
                               verifier=trainer.call_verifier, **opts) if trainer.multi_turn else None
    return figures_of(calls, episodes), {"calls": calls, "episodes": episodes}


def summary_extra(trainer, before: dict, after: dict) -> dict:
    """The method, tools and episode settings, and the held-out call-check breakdown, failure reasons and
    episodes (turns per episode, endings) before and after training."""
    cfg = trainer.config
    out = {"method": cfg.method, "evaluation_metric": "held-out exact-call accuracy (greedy first assistant turn)",
           "tools": [t.__name__ for t in trainer.tools], "multi_turn": trainer.multi_turn,
           "max_turns": cfg.max_turns, "call_weight": cfg.call_weight, "answer_weight": cfg.answer_weight}
    for key in ("call_checks", "call_failures"):
        out[key] = {"before": (before.get("calls") or {}).get(key), "after": (after.get("calls") or {}).get(key)}
    out["heldout_episodes"] = {"before": before.get("episodes"), "after": after.get("episodes")}
    return out
