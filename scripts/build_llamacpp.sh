#!/usr/bin/env bash
# Build (once) and install the optional llama.cpp support for oculi.
#
# What it does, idempotently (every step reuses its cached result):
#   1. downloads the llama-cpp-python sdist (pinned) into $OCULI_LLAMACPP_CACHE;
#   2. builds a *portable* CPU wheel from it into $OCULI_WHEEL_CACHE and installs
#      it into the given Python environment (default: ./.venv);
#   3. with --server, also builds `llama-server` from the very same vendored
#      llama.cpp source (used only by bench/llamacpp.py as the reference).
#
# Why a cache outside the repo: compiling llama.cpp takes ~7 minutes on two
# cores; CI on the same machine reuses the wheel, a fresh machine builds it.
#
# Build flags (portable, not -march=native): GGML_NATIVE=OFF so the binary does
# not depend on the build host's CPU; AVX/AVX2/FMA/F16C/BMI2 on (x86-64-v3, every
# x86 server and laptop of the last decade), AVX-512 off (absent on many CPUs).
# Override with OCULI_LLAMACPP_CMAKE_ARGS, e.g. "-DGGML_NATIVE=ON" for a local box
# or "-DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF" for old CPUs.
#
# Usage: scripts/build_llamacpp.sh [--install] [--server] [--python PATH]
#   --install  build (or reuse) and install the wheel: the default, accepted for clarity
set -euo pipefail

VERSION="0.3.36"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${HERE}/.venv/bin/python"
WITH_SERVER=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --install) shift ;;
    --server) WITH_SERVER=1; shift ;;
    --python) PYTHON="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

SRC_CACHE="${OCULI_LLAMACPP_CACHE:-${HOME}/.cache/oculi-llamacpp}"
WHEEL_CACHE="${OCULI_WHEEL_CACHE:-${HOME}/.cache/oculi-wheels}"
JOBS="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
if [[ "$(uname -m)" == "x86_64" ]]; then
  DEFAULT_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"
else
  DEFAULT_ARGS="-DGGML_NATIVE=OFF"
fi
CMAKE_FLAGS="${OCULI_LLAMACPP_CMAKE_ARGS:-${DEFAULT_ARGS}}"
SDIST="${SRC_CACHE}/llama_cpp_python-${VERSION}.tar.gz"
SRC="${SRC_CACHE}/llama_cpp_python-${VERSION}"

mkdir -p "${SRC_CACHE}" "${WHEEL_CACHE}"

if [[ ! -f "${SDIST}" ]]; then
  echo "[build_llamacpp] downloading sdist llama-cpp-python==${VERSION}"
  "${PYTHON}" -m pip download --no-deps --no-binary :all: "llama-cpp-python==${VERSION}" -d "${SRC_CACHE}"
else
  echo "[build_llamacpp] sdist cached: ${SDIST}"
fi
if [[ ! -d "${SRC}" ]]; then
  echo "[build_llamacpp] unpacking sdist into ${SRC}"
  tar -xzf "${SDIST}" -C "${SRC_CACHE}"
fi

WHEEL="$(ls "${WHEEL_CACHE}"/llama_cpp_python-"${VERSION}"-*.whl 2>/dev/null | head -n1 || true)"
if [[ -z "${WHEEL}" ]]; then
  echo "[build_llamacpp] building wheel (CMAKE_ARGS=${CMAKE_FLAGS}, -j${JOBS}); ~7 min on 2 cores"
  CMAKE_ARGS="${CMAKE_FLAGS}" CMAKE_BUILD_PARALLEL_LEVEL="${JOBS}" \
    nice -n 10 "${PYTHON}" -m pip wheel --no-deps -w "${WHEEL_CACHE}" "${SDIST}"
  WHEEL="$(ls "${WHEEL_CACHE}"/llama_cpp_python-"${VERSION}"-*.whl | head -n1)"
else
  echo "[build_llamacpp] wheel cached: ${WHEEL}"
fi

if "${PYTHON}" -c "import llama_cpp, sys; sys.exit(0 if llama_cpp.__version__ == '${VERSION}' else 1)" 2>/dev/null; then
  echo "[build_llamacpp] llama_cpp ${VERSION} already installed in ${PYTHON}"
else
  echo "[build_llamacpp] installing ${WHEEL}"
  "${PYTHON}" -m pip install --no-deps "${WHEEL}"
  # The wheel's runtime deps (numpy, typing-extensions, diskcache, jinja2) are
  # already pinned by oculi; install only what is missing.
  "${PYTHON}" -m pip install -c "${HERE}/constraints.txt" diskcache jinja2 numpy typing-extensions
fi

if [[ "${WITH_SERVER}" == "1" ]]; then
  SERVER_BUILD="${SRC_CACHE}/server-build"
  if [[ -x "${SERVER_BUILD}/bin/llama-server" ]]; then
    echo "[build_llamacpp] llama-server cached: ${SERVER_BUILD}/bin/llama-server"
  else
    echo "[build_llamacpp] building llama-server from ${SRC}/vendor/llama.cpp; ~8 min on 2 cores"
    # shellcheck disable=SC2086
    nice -n 10 cmake -S "${SRC}/vendor/llama.cpp" -B "${SERVER_BUILD}" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DLLAMA_USE_PREBUILT_UI=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
      -DBUILD_SHARED_LIBS=OFF ${CMAKE_FLAGS}
    nice -n 10 cmake --build "${SERVER_BUILD}" --target llama-server -j "${JOBS}"
  fi
  echo "[build_llamacpp] llama-server: ${SERVER_BUILD}/bin/llama-server"
fi
echo "[build_llamacpp] done"
