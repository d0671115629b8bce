"""Multi-turn rollouts over HF generate that execute the model's tool calls (held-out evaluation, RAFT
sampling). GRPO uses TRL's own tool loop instead (``GRPOTrainer(tools=...)``, see agentic/grpo.py); both
render with the chat template's ``tools=`` and ``tool`` turns and report a failed tool as the result
``{'error': '...'}``, so an episode reads the same whichever loop ran it.

Each turn: render every unfinished conversation with ``tools=``, generate one assistant turn for all of
them in batches, parse its calls (`agentic.calls.parse_calls`), run each call (a tool that raises, or a
name that is not a tool, gives an error result and a recorded failure), append the assistant turn and the
``tool`` turns. A turn without calls is the final answer; ``max_turns`` assistant turns end the episode.
"""

from __future__ import annotations

from halo_forge.agentic.episodes import Episode


def _run_call(call: dict, tools: dict) -> tuple[str, str | None]:
    """(result text, failure or None) of one call."""
    tool = tools.get(call["name"])
    if tool is None:
        return str({"error": f"Tool {call['name']} not found."}), f"{call['name']}: no such tool"
    try:
        return tool(**call["arguments"]), None
    except Exception as exc:  # a tool's own error is the model's feedback, not ours to raise
        return str({"error": str(exc)}), f"{call['name']}: {type(exc).__name__}: {str(exc)[:100]}"


def _take_turn(ep: Episode, convo: list[dict], text: str, tools: dict) -> bool:
    """Record one generated assistant turn; True when the episode goes on (calls were made)."""
    from halo_forge.agentic.calls import message_calls, parse_calls

    ep.turns += 1
    calls, problems = parse_calls(text) if "<tool_call>" in text else ([], [])
    if not calls:
        if problems:
            ep.call_texts.append(text)
            ep.failures += [f"unparseable tool call: {p}" for p in problems]
        ep.final = text.strip()
        turn = {"role": "assistant", "content": text.strip()}
        ep.messages.append(turn)
        convo.append(turn)
        return False
    ep.call_texts.append(text)
    ep.calls += calls
    ep.failures += [f"unparseable tool call: {p}" for p in problems]  # a broken block beside good ones
    turn = {"role": "assistant", "content": "", "tool_calls": message_calls(calls)}
    ep.messages.append(turn)
    convo.append(turn)
    for call in calls:
        result, failure = _run_call(call, tools)
        if failure:
            ep.failures.append(failure)
        tool_turn = {"role": "tool", "name": call["name"], "content": result}
        ep.messages.append(tool_turn)
        convo.append(tool_turn)
    return True


def run_episodes(model, tokenizer, rows: list[dict], tools: list, *, max_turns: int = 3, max_new_tokens: int = 128,
                 batch_size: int = 32, do_sample: bool = False, temperature: float = 1.0) -> list[Episode]:
    """One episode per row (its ``prompt`` chat list), calls executed with ``tools`` (Tool objects)."""
    from halo_forge.evaluation import generate

    by_name = {t.__name__: t for t in tools}
    definitions = [dict(t) for t in tools] or None
    episodes = [Episode() for _ in rows]
    convos = [list(r["prompt"]) for r in rows]
    active = list(range(len(rows)))
    for _ in range(max_turns):
        if not active:
            break
        texts = [tokenizer.apply_chat_template(convos[i], tools=definitions, tokenize=False, add_generation_prompt=True)
                 for i in active]
        outs = generate(model, tokenizer, texts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                        do_sample=do_sample, temperature=temperature)
        active = [i for i, out in zip(active, outs) if _take_turn(episodes[i], convos[i], out, by_name)]
    for i in active:
        episodes[i].ended = "turn_limit"
    return episodes


def first_turn_texts(model, tokenizer, rows: list[dict], tools: list, *, max_new_tokens: int = 128,
                     batch_size: int = 32, do_sample: bool = False, temperature: float = 1.0,
                     n: int = 1) -> list[list[str]]:
    """``n`` first assistant turns per row (no tool runs): what single-turn call training and the exact-call
    figure look at."""
    from halo_forge.evaluation import generate

    definitions = [dict(t) for t in tools]
    texts = [tokenizer.apply_chat_template(list(r["prompt"]), tools=definitions or r.get("tools"), tokenize=False,
                                           add_generation_prompt=True) for r in rows]  # call-only: each row's tools
    flat = generate(model, tokenizer, [t for t in texts for _ in range(n)], max_new_tokens=max_new_tokens,
                    batch_size=batch_size, do_sample=do_sample, temperature=temperature)
    return [flat[i * n:(i + 1) * n] for i in range(len(rows))]
