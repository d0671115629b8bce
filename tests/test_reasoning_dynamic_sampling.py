"""DAPO dynamic sampling on TRL's GRPOTrainer with the tiny model: all-equal groups are dropped, resampled up
to the bound and counted, and training still takes real steps. Also: every GRPO loss variant TRL 1.16 accepts
takes a real step."""

from __future__ import annotations

import pytest

from halo_forge.reasoning import dynamic_sampling as ds
from halo_forge.reasoning import grpo_options

G = 4  # completions per group


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def reward(prompts, completions, kind, **kw):
    """'flat' prompts: the same reward for every completion; 'live' ones: the completion's length varies it."""
    return [0.5 if k == "flat" else len(c) / 100 for c, k in zip(completions, kind)]


def grpo_args(tmp_path, **over):
    from trl import GRPOConfig

    base = dict(output_dir=str(tmp_path), per_device_train_batch_size=4 * G, num_generations=G, max_steps=3,
                max_completion_length=6, learning_rate=1e-3, beta=0.0, temperature=1.0, use_cpu=True, bf16=False,
                report_to=[], save_strategy="no", logging_steps=1, seed=0, disable_tqdm=True,
                gradient_checkpointing=False)
    return GRPOConfig(**{**base, **over})


def build(tmp_path, rows, rounds, **over):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from halo_forge.models.tiny import ensure_tiny

    path = ensure_tiny("halo-forge/tiny")
    cls = ds.dynamic_sampling_trainer()
    return cls(model=AutoModelForCausalLM.from_pretrained(path), reward_funcs=reward,
               args=grpo_args(tmp_path, **over), train_dataset=Dataset.from_list(rows),
               processing_class=AutoTokenizer.from_pretrained(path), max_resample_rounds=rounds)


def rows(n_flat: int, n_live: int) -> list[dict]:
    out = [{"prompt": f"What is {i}+{i}?", "kind": "flat"} for i in range(n_flat)]
    return out + [{"prompt": f"What is {i}+1?", "kind": "live"} for i in range(n_live)]


def test_pure_pieces():
    import torch

    flat = ds.all_equal_groups(torch.tensor([1., 1, 1, 1, 0, 1, 0, 0, .3, .3, .3, .3000001]), 4)
    assert flat.tolist() == [True, False, True]
    assert ds.group_rows(torch.tensor([0, 2]), 3).tolist() == [0, 1, 2, 6, 7, 8]
    w = ds.weighted_rewards(torch.tensor([[1., float("nan")], [0., 2.]]), torch.tensor([1., .5]))
    assert w.tolist() == [1.0, 1.0]
    a = {"prompt_ids": torch.tensor([[5, 6]]), "prompt_mask": torch.ones(1, 2, dtype=torch.long),
         "completion_ids": torch.tensor([[7, 8, 9]]), "completion_mask": torch.tensor([[1, 1, 0]]),
         "advantages": torch.tensor([0.5]), "num_items_in_batch": torch.tensor(2)}
    b = {"prompt_ids": torch.tensor([[1, 2, 3]]), "prompt_mask": torch.ones(1, 3, dtype=torch.long),
         "completion_ids": torch.tensor([[4]]), "completion_mask": torch.tensor([[1]]),
         "advantages": torch.tensor([-0.5]), "num_items_in_batch": torch.tensor(1)}
    m = ds.concat_outputs([a, b], pad_token_id=0)
    assert m["prompt_ids"].tolist() == [[0, 5, 6], [1, 2, 3]] and m["prompt_mask"].tolist() == [[0, 1, 1], [1, 1, 1]]
    assert m["completion_ids"].tolist() == [[7, 8, 9], [4, 0, 0]] and m["completion_mask"].tolist() == [[1, 1, 0], [1, 0, 0]]
    assert m["advantages"].tolist() == [0.5, -0.5] and int(m["num_items_in_batch"]) == 3
    with pytest.raises(NotImplementedError, match="pixel_values"):
        ds.concat_outputs([{**a, "pixel_values": torch.zeros(1)}], pad_token_id=0)


def test_all_equal_groups_dropped_resampled_and_counted(tmp_path):
    trainer = build(tmp_path, rows(12, 12), rounds=4, max_steps=2)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    s = trainer.dynamic_sampling
    assert trainer.state.global_step == 2 and s.batches == 2
    assert s.groups_dropped > 0 and s.resample_rounds > 0  # half the prompts are flat: batches had some
    assert s.groups_scored > 2 * 4  # fresh prompts were generated and scored in place of the dropped groups
    assert s.batches_short == 0 and s.groups_refilled == 0  # 4 rounds suffice at a 50 % flat rate
    last = trainer._buffered_inputs[0]["advantages"].view(-1, G)  # the last batch the loss saw
    assert (last.abs().sum(dim=1) > 0).all()  # every group in it carries signal
    moved = any(not (p.detach() == before[n]).all() for n, p in trainer.model.named_parameters())
    assert moved
    logged = [e for e in trainer.state.log_history if "dynamic_sampling/groups_dropped" in e]
    assert logged and logged[-1]["dynamic_sampling/groups_dropped"] > 0


def test_the_bound_holds_and_short_batches_are_counted(tmp_path):
    trainer = build(tmp_path, rows(8, 0), rounds=2, max_steps=2)
    trainer.train()
    s = trainer.dynamic_sampling
    assert trainer.state.global_step == 2  # training still steps on batches of all-equal groups
    assert s.to_dict() == {"batches": 2, "groups_scored": 2 * (4 + 4 + 4), "groups_dropped": 24,
                           "resample_rounds": 4, "batches_short": 2, "groups_refilled": 8}


def test_off_is_plain_trl(tmp_path):
    trainer = build(tmp_path, rows(8, 0), rounds=0, max_steps=1)
    trainer.train()
    assert trainer.dynamic_sampling.batches == 0 and trainer.state.global_step == 1


def test_every_loss_variant_trl_accepts_takes_a_step(tmp_path):
    from halo_forge.reasoning.grpo_options import loss_args

    assert grpo_options.loss_problems(loss_type="dapo", scale_rewards="batch", epsilon_high=0.28) == []
    for loss in grpo_options.LOSS_TYPES:
        level = "sequence" if loss == "luspo" else "token"
        assert grpo_options.loss_problems(loss_type=loss, importance_sampling_level=level) == []
        for scale in grpo_options.SCALE_REWARDS if loss == "dapo" else ("group",):
            args = loss_args(loss_type=loss, scale_rewards=scale, epsilon_high=0.28 if loss != "cispo" else 5.0,
                             mask_truncated_completions=True, importance_sampling_level=level)
            trainer = build(tmp_path / f"{loss}-{scale}", rows(0, 8), rounds=0, max_steps=1,
                            per_device_train_batch_size=2 * G, **args)
            assert (trainer.loss_type, trainer.scale_rewards, trainer.epsilon_high) == (
                loss, scale, args["epsilon_high"])
            trainer.train()
            assert trainer.state.global_step == 1, loss


def test_loss_problems_all_at_once():
    problems = grpo_options.loss_problems(loss_type="ppo", scale_rewards="std", epsilon=0.2, epsilon_high=0.1,
                                          importance_sampling_level="sequence")
    assert [p.line() for p in problems] == [
        "  --loss-type (got 'ppo'): use one of grpo, dapo, dr_grpo, bnpo, cispo, sapo, luspo, vespo",
        "  --scale-rewards (got 'std'): use one of group, batch, none",
        "  --epsilon-high (got 0.1): give at least --epsilon (0.2); DAPO uses 0.28"]
    [p] = grpo_options.loss_problems(loss_type="dapo", importance_sampling_level="sequence")
    assert p.line() == ("  --importance-sampling-level (got 'sequence'): TRL refuses it with --loss-type dapo; "
                        "use grpo (GSPO's setup) or luspo")
    assert grpo_options.loss_problems(loss_type="luspo")[0].line().startswith("  --loss-type (got 'luspo'): luspo")
