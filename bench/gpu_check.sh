#!/usr/bin/env bash
# The GPU check: extraction, training and conversion benchmarks on CUDA in one run, one table at the end.
#
#   bash bench/gpu_check.sh            # on a GPU machine holding the repository and its environment
#   DEVICE=cpu bash bench/gpu_check.sh # the same run on the CPU (checks the script itself)
#
# Needs the project's Python environment (.venv from scripts/setup.sh, or a python3 with the same packages)
# and ../shared/data (the benchmarks' clips). Goals on one H100/H200: >= 10,000 EG/s training `original`,
# >= 300 frames/s extraction, >= 200 frames/s conversion. Runs in about 5 minutes on a GPU; each step is bounded.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
DEVICE="${DEVICE:-cuda}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
if [ "$DEVICE" = cuda ]; then
  FRAMES=600; STEPS=50; COMPILE=--compile
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
else
  FRAMES=60; STEPS=3; COMPILE=
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

step() {  # name, seconds, command...: run one benchmark under a time limit, keep its output
  local name=$1 limit=$2; shift 2
  echo "== $name"
  timeout "$limit" "$@" 2>&1 | grep -v 'it/s]' | tee "$OUT/$name.txt"
  echo "exit ${PIPESTATUS[0]}" >> "$OUT/$name.txt"
}
step train 180 "$PY" -m bench.train_throughput --device "$DEVICE" --models original,lite --steps "$STEPS" $COMPILE
step extract 120 "$PY" -m bench.extract --device "$DEVICE" --frames "$FRAMES" --batch 16
step convert 180 "$PY" -m bench.convert --device "$DEVICE" --frames "$FRAMES"

echo
echo "| benchmark | figure |"
echo "|---|---|"
grep -h '^train ' "$OUT/train.txt" | sed -E 's/^train +([a-z]+) +(.*): +([0-9.]+) EG\/s.*/| train \1 \2 | \3 EG\/s |/'
grep -h '^extract ' "$OUT/extract.txt" | sed -E 's/^extract (.*): ([0-9.]+) frames\/s.*/| extract \1 | \2 frames\/s |/'
grep -h '^convert ' "$OUT/convert.txt" | sed -E 's/^convert (.*), [0-9]+ frames: .*sealed ([0-9.]+) frames\/s.*/| convert \1, sealed | \2 frames\/s |/'
grep -h '^exit [^0]' "$OUT"/*.txt && echo "some step failed or ran out of time: see $OUT" || true
