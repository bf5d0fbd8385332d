#!/usr/bin/env bash
# One prepared GPU check for a machine with CUDA (e.g. the lent H200): run the GPU tests and the
# GPU benchmark, print a table. Uses the machine's own python3 with torch (CUDA); installs the
# project's pure-Python needs from carried wheels in .whl/ if present. TensorRT and onnxruntime-gpu
# are too large to carry; their tests skip cleanly when absent.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
echo "== GPU tests =="
$PY -m pytest -q -p no:cacheprovider -m gpu tests -rs 2>&1 | tail -15
echo "== GPU benchmark =="
$PY -c "from installation.bench.show import gpu_table; print(gpu_table())"
$PY -c "from installation.bench.upscale import gpu_upscale_table; print(gpu_upscale_table())"
echo "== Triton on GPU (the TensorRT plan served by tritonserver) =="
$PY -c "from installation.bench.triton import gpu_triton_check; print(gpu_triton_check())"
