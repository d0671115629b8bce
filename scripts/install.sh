#!/usr/bin/env bash
# Create (or reuse) the virtual environment and install halo-forge with its dev extras.
# torch: a torch already in the venv is kept; with an NVIDIA/AMD GPU the default wheel is used;
# otherwise the CPU build torch==2.13.0 is installed first (a plain `torch` would pull CUDA).
set -euo pipefail
venv=${1:-.venv}
extras=${2:-dev}
py=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)
if "$venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "keeping installed torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 || command -v rocm-smi >/dev/null 2>&1; then
  "${pip[@]}" torch
else
  "${pip[@]}" torch==2.13.0
fi
"${pip[@]}" -e ".[${extras}]"

# System programs the tests and features use, one line each: the command that must exist, the Debian
# package that provides it, and what needs it. Installed with apt where we are root; otherwise listed.
system_programs=(
  "bwrap bubblewrap the verifier sandbox (halo_forge/verifiers/sandbox.py; without it code-running verifiers need --unsafe-verifier-execution)"
  "chromium chromium the dashboard's browser tests (tests/test_dashboard_browser.py; without it: skipped)"
  "g++ g++ mx.compile on Linux CPU (MLX JIT-compiles its fused CPU kernels with g++, cached under /tmp/mlx)"
  "espeak-ng espeak-ng built-in spoken-digit audio (halo_forge/data/audio_builtin.py; without it: generated tones)"
)
missing=()
for line in "${system_programs[@]}"; do
  read -r cmd pkg why <<<"$line"
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } \
      >/dev/null 2>&1 || echo "could not install ${missing[*]} with apt-get: the features below fall back or are skipped"
  fi
  for line in "${system_programs[@]}"; do
    read -r cmd pkg why <<<"$line"
    command -v "$cmd" >/dev/null 2>&1 || echo "$cmd not found (Debian package $pkg): needed by $why"
  done
fi
