"""The offline quickstart end to end, through the real CLI and flow: every stage wins by a wide margin
and fixes what the quickstart says it fixes.

The held-out set is 200 problems, so one problem is half a point. Each stage must add at least 10
points of held-out accuracy and pass its verdict; the gains measured for three seeds (docs/BENCHMARKS.md)
are well above that, so no single problem can flip an assertion. The flaw counts are checked with the
same kind of margin: SFT copies both of the teacher's flaws, DPO repairs most of the dropped carries and
leaves most missing hundreds digits, GRPO fixes the hundreds digit. One run of the quickstart (~4 CPU
minutes) serves every assertion. DPO's preference accuracy must be what its name
says (the held-out pairs' chosen-vs-rejected log-probability ordering) and differ from task accuracy.
"""

import json

from halo_forge.cli.main import main
from halo_forge.summary import TrainingSummary

MIN_GAIN = 0.10
N = 200


def _accuracy(summary):
    return next(e for e in summary.effectiveness.evaluations if e.metric == "heldout_accuracy")


def test_quickstart_every_stage_wins_and_fixes_its_flaw(tmp_path, capsys):
    assert main(["quickstart", "--output-dir", str(tmp_path)]) == 0
    check_quickstart(tmp_path, capsys.readouterr().out)


def check_quickstart(tmp_path, out: str) -> None:
    """Every assertion on one quickstart run: its output folder and what it printed."""
    sft, dpo, grpo = (TrainingSummary.read(tmp_path / stage) for stage in ("sft", "dpo", "grpo"))
    figures = json.loads((tmp_path / "quickstart.json").read_text())

    # the chain: each stage starts from the last one's model, measured on the same 200 problems
    assert dpo.model_name == sft.outputs.model_path and grpo.model_name == dpo.outputs.model_path
    accs = [_accuracy(s) for s in (sft, dpo, grpo)]
    assert [a.n for a in accs] == [N, N, N]
    assert accs[0].before == 0.0
    assert accs[1].before == accs[0].after and accs[2].before == accs[1].after
    for summary, acc in zip((sft, dpo, grpo), accs):
        assert summary.effectiveness.verdict == "passed", (summary.modality, summary.effectiveness.reasons)
        assert summary.weights_updated
        assert acc.after - acc.before >= MIN_GAIN, f"{summary.modality} gained only {acc.before} -> {acc.after}"
        assert figures["stages"][summary.modality]["after"] == acc.after
    assert grpo.inputs.verifier.startswith("math{")
    assert (tmp_path / "sft" / "model.safetensors").is_file() and not list(tmp_path.glob(".*partial"))

    # what each stage fixed, in each model's greedy answers to the same 200 problems (~100 carry problems,
    # ~110 answers of 100 or more: each bound below is 10 problems or more away from what the quickstart does)
    f = figures["flaws"]
    carry, hundreds = f["sft"]["carry_problems"], f["sft"]["hundreds_problems"]
    assert carry >= 80 and hundreds >= 80
    assert f["sft"]["carry_dropped"] >= 0.75 * carry and f["sft"]["hundreds_missing"] >= 0.5 * hundreds, f["sft"]
    assert f["dpo"]["carry_dropped"] <= 0.5 * f["sft"]["carry_dropped"], "DPO did not repair the dropped carry"
    assert f["dpo"]["hundreds_missing"] >= 0.4 * hundreds, "DPO's pairs were not meant to fix the hundreds digit"
    assert f["grpo"]["hundreds_missing"] <= 0.1 * hundreds, "GRPO did not fix the missing hundreds digit"
    assert f["grpo"]["carry_dropped"] <= 0.5 * f["sft"]["carry_dropped"]

    # DPO's preference accuracy: the pairs judge the carry only, task accuracy also needs the hundreds digit
    pref = next(e for e in dpo.effectiveness.evaluations if e.metric == "heldout_preference_accuracy")
    assert pref.n == N and pref.after - pref.before >= MIN_GAIN
    assert pref.before - accs[1].before >= MIN_GAIN and pref.after - accs[1].after >= MIN_GAIN

    for text in ("two flaws", "held-out accuracy: 0.0% before SFT", "preference accuracy", "what each stage fixed",
                 "flaw 1", "flaw 2", "verdict passed"):
        assert text in out, text


def test_preference_accuracy_is_the_pairs_log_probability_ordering(tiny_model_path):
    """preference_accuracy counts the held-out pairs whose chosen reply has the higher log-probability:
    checked against log-probabilities summed by hand, one unpadded sequence at a time, and against the
    same pairs swapped (p becomes 1 - p)."""
    import torch

    from halo_forge.data.builtin import load_builtin
    from halo_forge.evaluation import pair_texts, preference_accuracy
    from halo_forge.models.loading import load_causal_lm, load_tokenizer

    tokenizer, model = load_tokenizer(str(tiny_model_path)), load_causal_lm(str(tiny_model_path))
    rows = load_builtin("arithmetic_pref")[1][:40]

    def logp(prompt: str, reply: str) -> float:
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([p_ids + r_ids])).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        return sum(float(logprobs[len(p_ids) + i - 1, t]) for i, t in enumerate(r_ids))

    right = 0
    for row in rows:
        prompt, chosen, rejected = pair_texts(row, tokenizer)
        right += logp(prompt, chosen) > logp(prompt, rejected)
    figure = preference_accuracy(model, tokenizer, rows)
    n = figure.n
    assert n == 40 and 0 < right < n and round(figure.value * n) == right
    swapped = [dict(r, chosen=r["rejected"], rejected=r["chosen"]) for r in rows]
    assert round(preference_accuracy(model, tokenizer, swapped).value * n) == n - right
