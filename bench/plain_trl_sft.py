"""The baseline for bench/sft_overhead.py: the same SFT as a plain TRL script, nothing around it.

    python bench/plain_trl_sft.py --model DIR --data rows.jsonl --output DIR --max-steps 300
"""

import argparse
import json
import time

from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--data", required=True)
p.add_argument("--output", required=True)
p.add_argument("--max-steps", type=int, default=300)
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--learning-rate", type=float, default=2e-3)
args = p.parse_args()

rows = [json.loads(line) for line in open(args.data)]
train = Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
tokenizer = AutoTokenizer.from_pretrained(args.model)
model = AutoModelForCausalLM.from_pretrained(args.model)
config = SFTConfig(output_dir=args.output, max_steps=args.max_steps, per_device_train_batch_size=args.batch_size,
                   learning_rate=args.learning_rate, lr_scheduler_type="cosine", warmup_steps=50, seed=42,
                   use_cpu=True, bf16=False, gradient_checkpointing=False, report_to=[], save_strategy="no",
                   logging_steps=50, max_length=64, disable_tqdm=True)
trainer = SFTTrainer(model=model, args=config, train_dataset=train, processing_class=tokenizer)
t0 = time.monotonic()
trainer.train()
seconds = time.monotonic() - t0
trainer.save_model(args.output)
print(json.dumps({"steps": trainer.state.global_step, "train_seconds": seconds}))
