# oculi's container image (Docker and Podman). README → "Run in a container".
#
#   docker build -t oculi .                      # CPU image (default target "cpu"): oculi-lite,
#                                                # transformers and llama.cpp engines
#   docker build --target gpu -t oculi:gpu .     # vLLM's CUDA build (OCULI_VLLM=cuda semantics)
#
# Stages: base (Debian's Python 3.11 + the few shared libraries the wheels load) →
# build-base (an empty venv) → llamacpp (the llama.cpp wheel: a prebuilt one, or compiled once
# and cached as its own layer) → venv-cpu / venv-gpu (everything pip installs) → cpu / gpu (base +
# the venv, non-root). Compilers, pip caches and build arguments stay in the build stages.
#
# Build arguments:
#   BASE                 base image (default debian:bookworm-slim; any Debian bookworm works)
#   PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_TRUSTED_HOST, PIP_CERT, PIP_FIND_LINKS
#                        read by pip from the environment in the build stages only: a corporate
#                        index or proxy CA, a local wheel folder (mount it into the build with -v).
#                        ARG, not ENV, so none of them reaches the final image.
#   TORCH_INDEX_URL      where the CPU torch wheel comes from (default PyTorch's CPU index; empty:
#                        the regular index / PIP_FIND_LINKS only)
#   LLAMACPP_CMAKE_ARGS  llama.cpp build flags (default: portable x86-64-v3, as scripts/build_llamacpp.sh)

ARG BASE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${BASE} AS base
# python3: Debian bookworm's 3.11. libgomp1: llama.cpp's and onnxruntime's OpenMP runtime.
# tini: PID 1 that forwards SIGTERM to the server and reaps the processes engines spawn.
# Nothing for X11/GL: the image ships opencv-python-headless only (see venv-cpu).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 ca-certificates libgomp1 tini \
    && rm -rf /var/lib/apt/lists/*

# ---------------------------------------------------------------------------------------------
FROM base AS build-base
# No compilers here: every pinned CPU dependency is a wheel. The stages that may compile (llama.cpp
# without a prebuilt wheel, the GPU venv) install them themselves (109 MB of packages, ~15 s).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/oculi
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180
ENV COMPILERS="python3-dev build-essential cmake ninja-build"

# ---------------------------------------------------------------------------------------------
FROM build-base AS llamacpp
ARG PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT PIP_FIND_LINKS
ARG LLAMACPP_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF"
# Only pyproject's pin matters; this layer does not change with the source, so it is compiled once
# (~7 min on 2 cores). A wheel of the same version in PIP_FIND_LINKS (what scripts/build_llamacpp.sh
# leaves in ~/.cache/oculi-wheels) is taken as it is, with no compilers installed.
RUN if ! /opt/oculi/bin/pip download --no-deps --no-index --only-binary=:all: -d /wheels llama-cpp-python==0.3.36; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $COMPILERS \
        && rm -rf /var/lib/apt/lists/* \
        && CMAKE_ARGS="$LLAMACPP_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
            /opt/oculi/bin/pip wheel --no-deps -w /wheels llama-cpp-python==0.3.36; \
    fi

# ---------------------------------------------------------------------------------------------
FROM build-base AS deps
# Dependencies before the source, so editing src/ rebuilds only the last layers.
COPY pyproject.toml constraints.txt /src/
RUN /opt/oculi/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
    | grep -v '^torch==' > /src/requirements.txt

# ---------------------------------------------------------------------------------------------
FROM deps AS venv-cpu
ARG PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT PIP_FIND_LINKS
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# The CPU torch first (its "+cpu" build sorts above the CUDA one of the same version), so the
# pinned requirements below find it satisfied instead of pulling the CUDA build and its libraries.
RUN /opt/oculi/bin/pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} torch==2.13.0 \
    && /opt/oculi/bin/python -c "import torch, sys; sys.exit(torch.version.cuda is not None)"
RUN /opt/oculi/bin/pip install -c /src/constraints.txt -r /src/requirements.txt \
    # rapidocr-onnxruntime requires the desktop opencv-python, which links libxcb/libGL (absent from
    # a slim base) and shares the cv2 package with the headless build: with both installed
    # `import cv2` fails. Keep only the headless one (the same version, same API).
    && /opt/oculi/bin/pip uninstall -y opencv-python opencv-python-headless \
    && /opt/oculi/bin/pip install --no-deps -c /src/constraints.txt opencv-python-headless
COPY --from=llamacpp /wheels /wheels
RUN /opt/oculi/bin/pip install --no-deps /wheels/llama_cpp_python-*.whl \
    && /opt/oculi/bin/pip install -c /src/constraints.txt diskcache jinja2
COPY README.md /src/
COPY src /src/src
RUN /opt/oculi/bin/pip install --no-deps /src \
    && /opt/oculi/bin/python -c "import cv2, llama_cpp, oculi.cli"

# ---------------------------------------------------------------------------------------------
FROM deps AS venv-gpu
ARG PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_CERT PIP_FIND_LINKS
# The registry's torch 2.13.0 is the CUDA build (its CUDA libraries come as pip packages; the
# driver comes from the host through the NVIDIA container toolkit). vLLM as scripts/install.sh
# installs it with OCULI_VLLM=cuda: --no-deps, then the rest from scripts/vllm-requirements.txt.
COPY scripts/vllm-requirements.txt /src/scripts/
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $COMPILERS \
    && rm -rf /var/lib/apt/lists/*
RUN /opt/oculi/bin/pip install torch==2.13.0 \
    && /opt/oculi/bin/pip install -c /src/constraints.txt -r /src/requirements.txt \
    && /opt/oculi/bin/pip uninstall -y opencv-python opencv-python-headless \
    && /opt/oculi/bin/pip install --no-deps -c /src/constraints.txt opencv-python-headless \
    && /opt/oculi/bin/pip install --no-deps vllm==0.32.0 torchvision==0.28.0 \
    && /opt/oculi/bin/pip install -c /src/constraints.txt -r /src/scripts/vllm-requirements.txt
COPY README.md /src/
COPY src /src/src
RUN /opt/oculi/bin/pip install --no-deps /src

# ---------------------------------------------------------------------------------------------
FROM base AS runtime
# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/oculi --shell /usr/sbin/nologin oculi \
    && mkdir -p /data /models \
    && chown oculi:oculi /data /models
# Every setting is an OCULI_* variable (README → Configuration). Defaults for a container:
# listen on all interfaces (oculi still binds to 127.0.0.1 until API keys are configured, via
# OCULI_API_KEYS or a mounted OCULI_API_KEYS_FILE), the SQLite store under /data, the model
# hub cache under /models.
ENV PATH=/opt/oculi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OCULI_HOST=0.0.0.0 \
    OCULI_PORT=8000 \
    OCULI_GRPC_PORT=50051 \
    XDG_DATA_HOME=/data \
    HF_HOME=/models
WORKDIR /home/oculi
EXPOSE 8000 50051
VOLUME ["/data", "/models"]
# Liveness only (cheap, answers while generations run); orchestrators probe /health/ready too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('OCULI_PORT', '8000'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "oculi", "serve"]

# ---------------------------------------------------------------------------------------------
FROM runtime AS gpu
COPY --from=venv-gpu /opt/oculi /opt/oculi
ENV OCULI_ENGINE=vllm \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001

# ---------------------------------------------------------------------------------------------
# The default target (last stage).
FROM runtime AS cpu
COPY --from=venv-cpu /opt/oculi /opt/oculi
USER 10001
