#!/usr/bin/env bash
# Install edge-spec with its export, benchmark and test extras on a CPU-only machine,
# without the multi-GB CUDA builds of torch that a plain `pip install torch` would bring.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# 1. torch, CPU build, first: once it is there, the extras' `torch>=2.4` adds nothing.
#    A local CPU wheel (torch==2.13.0+cpu) is used when pip can find one; otherwise PyTorch's
#    own CPU index is asked.
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  "$PY" -m pip install "torch==2.13.0+cpu" \
    || "$PY" -m pip install torch --index-url https://download.pytorch.org/whl/cpu
fi

# 2. edge-spec itself, editable, with the extras.
"$PY" -m pip install -e ".[export,bench,test]"

# 3. optimum-intel (the OpenVINO GenAI baseline's exporter) without its declared deps:
#    it lists torchvision, which would replace the CPU torch by a CUDA build, yet it imports
#    and works without it. Everything else it needs came with step 2.
"$PY" -m pip install --no-deps "optimum-intel==2.2.0" "optimum==2.3.0"
"$PY" -c "import torch, openvino, onnxruntime, edge_spec; print('edge-spec', edge_spec.__version__, '| torch', torch.__version__)"
