#!/usr/bin/env bash
# The benchmark on a CUDA machine, one command, under 5 minutes:
#   bench/gpu.sh                 # defaults below; extra arguments go to python -m bench
# Prints the same table and JSON line as `python -m bench`, with the in-process GPU ceiling
# (full predictor and LSTM encoder alone) in "ceiling". Needs an NVIDIA GPU with CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || make install
.venv/bin/python - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"CUDA is not available to torch {torch.__version__}; this script needs a GPU")
print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}", file=sys.stderr)
PY
exec timeout 290 .venv/bin/python -m bench --gpu --devices "${DEVICES:-5000}" \
  --rate "${RATE:-2}" --seconds "${SECONDS_PER_PHASE:-10}" --batch-max-size 8192 "$@"
