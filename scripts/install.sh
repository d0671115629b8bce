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
# the verifier sandbox (halo_forge/verifiers/sandbox.py) prefers bubblewrap; install it where we can
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } >/dev/null 2>&1 \
      || echo "could not install bubblewrap: the verifier sandbox will use its fallback (unshare + rlimits)"
  else
    echo "bubblewrap (bwrap) not found: the verifier sandbox will use its fallback (unshare + rlimits as root," \
         "else code-running verifiers need --unsafe-verifier-execution); install it with your package manager"
  fi
fi
