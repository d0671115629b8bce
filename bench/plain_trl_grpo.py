"""The baseline for bench/grpo_raft.py: the same GRPO as a plain TRL script (reward: math-verify against
the row's answer), nothing around it.

    python bench/plain_trl_grpo.py --model DIR --max-steps 40
"""

import argparse
import json
import time

from datasets import Dataset
from math_verify import parse, verify
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

from halo_forge.data.prompts import arithmetic_prompt_split  # the same prompts, as plain rows

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--output", default="/tmp/plain-trl-grpo")
p.add_argument("--max-steps", type=int, default=40)
args = p.parse_args()

train, _ = arithmetic_prompt_split()


def reward(prompts, completions, answer, **kwargs):
    out = []
    for c, a in zip(completions, answer):
        text = c[-1]["content"] if isinstance(c, list) else c
        pred = parse(text)
        out.append(1.0 if pred and verify(parse(a), pred) else 0.0)
    return out


tokenizer = AutoTokenizer.from_pretrained(args.model)
model = AutoModelForCausalLM.from_pretrained(args.model)
config = GRPOConfig(output_dir=args.output, max_steps=args.max_steps, per_device_train_batch_size=64,
                    num_generations=8, learning_rate=1e-4, lr_scheduler_type="cosine", beta=0.0, temperature=1.0,
                    max_completion_length=6, seed=42, use_cpu=True, bf16=False, gradient_checkpointing=False,
                    report_to=[], save_strategy="no", logging_steps=25, disable_tqdm=True)
trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=Dataset.from_list(train),
                      processing_class=tokenizer)
t0 = time.monotonic()
trainer.train()
seconds = time.monotonic() - t0
print(json.dumps({"steps": trainer.state.global_step, "train_seconds": seconds}))
