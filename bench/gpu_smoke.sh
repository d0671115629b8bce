#!/usr/bin/env bash
# GPU checks for the PyTorch SFT path (run on a CUDA machine; results go in docs/BENCHMARKS.md):
# backend detection, bf16 by default, LoRA/DoRA on GPU, bitsandbytes 8-bit optimiser and QLoRA,
# and the quickstart's SFT stage timed on the GPU. Usage: bash bench/gpu_smoke.sh [LOGDIR]
set -uo pipefail
log=${1:-/tmp/halo-forge-gpu}; mkdir -p "$log"
export HALO_FORGE_HOME=/tmp/hfh HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
hf() { python3 -m halo_forge.cli.main "$@"; }
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0), 'bf16', torch.cuda.is_bf16_supported())"
printf '{"prompt": "What is %d+%d?", "completion": "%d", "answer": "%d"}\n' $(for i in $(seq 10 89); do echo $i $((i+3)) $((2*i+3)) $((2*i+3)); done) > /tmp/add.jsonl
run() { name=$1; shift; t0=$SECONDS; python3 -m halo_forge.cli.main sft train --data /tmp/add.jsonl \
  --output /tmp/out-$name --overwrite --max-steps 20 --batch-size 8 --learning-rate 1e-3 "$@" 2>&1 | tee "$log/$name.log" | tail -12
  echo "$name wall $((SECONDS-t0)) s"
  python3 -c "import json,sys; s=json.load(open('/tmp/out-$name/training_summary.json')); print('$name', s['backend'], s['extra']['precision'], s['extra']['peft'], 'steps', s['total_train_steps_executed'], 'moved', s['weights_updated'], s['effectiveness']['verdict'])" || echo "$name: no summary"; }
run lora
run dora --use-dora
run full --no-lora
run bnb8 --optim adamw_bnb_8bit
run qlora --load-in-4bit
run fp32 --precision fp32
echo "== quickstart SFT stage on GPU"
t0=$SECONDS; python3 -m halo_forge.cli.main quickstart --output-dir /tmp/qs 2>&1 | tee "$log/quickstart.log" | tail -12; echo "quickstart wall $((SECONDS-t0)) s"
