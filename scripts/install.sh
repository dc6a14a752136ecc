#!/usr/bin/env bash
# One command installs oculi from nothing: the .venv/ environment, the pinned
# Python dependencies (PyTorch CPU first, so the pinned CPU wheel is used), the
# llama.cpp extra (built once, then reused from a wheel cache), and the npm
# packages of the conformance suite. constraints.txt pins every transitive
# dependency to the versions the suite was run with.
#   OCULI_SKIP_LLAMACPP=1  skip the llama.cpp extra (saves a ~7 minute first build)
#   PYTHON=python3.11      interpreter to create the environment with
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

# The playground's browser tests drive Debian's Chromium (Playwright's own browser download is not used).
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "==> chromium (playground browser tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "==> note: install Debian's chromium package as root for the playground browser tests"
  fi
fi

if [ -f package-lock.json ] && command -v npm >/dev/null; then
  echo "==> npm packages (conformance suite)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> done: .venv/bin/oculi is ready"
