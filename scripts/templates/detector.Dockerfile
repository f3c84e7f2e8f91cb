# syntax=docker/dockerfile:1
# GENERATED from scripts/templates/detector.Dockerfile by `python -m scripts.deploy_files generate`:
# edit the template, not this file (a test fails when the two differ).
#
# The {{name}} detector as a container, built from the repository root. CUDA PyTorch (default):
#   docker build -f detectors/{{name}}/Dockerfile -t {{image}} .
# CPU-only PyTorch, a much smaller image:
#   docker build -f detectors/{{name}}/Dockerfile --build-arg TORCH_VARIANT=cpu -t {{image}}:cpu .
# or `make run-detector NAME={{name}} [GPU=1]`, which builds and runs it.
#
# Weights: detectors/{{name}}/weights/ is baked in; mount another folder over
# /app/detectors/{{name}}/weights to swap them without a rebuild. Either way the SDK checks
# each file against the sha256 pinned in detector.yaml when the model loads, and /ready answers 503
# with the reason when one is missing or does not match.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

# gpu: PyPI's Linux torch wheels are CUDA builds that carry the CUDA and cuDNN libraries as nvidia-*
# wheels, so the host needs only the NVIDIA driver and container toolkit. cpu: the CPU-only build,
# a fraction of the size. One stage with a shell branch (not one stage per variant) because the
# classic builder behind the Docker SDK (`make run-detector`) would build every stage.
ARG TORCH_VARIANT=gpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app
RUN groupadd --system --gid 10001 tribunal \
    && useradd --system --uid 10001 --gid tribunal --create-home --home-dir /home/tribunal tribunal
WORKDIR /app

# The torch pins are the project's (pyproject.toml, `ml` extra); the generator copies them here.
RUN case "$TORCH_VARIANT" in \
      gpu) pip install --no-cache-dir torch=={{torch_version}} torchvision=={{torchvision_version}} ;; \
      cpu) pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
             torch=={{torch_version}} torchvision=={{torchvision_version}} ;; \
      *) echo "TORCH_VARIANT must be gpu or cpu, not '$TORCH_VARIANT'" >&2; exit 1 ;; \
    esac

# The project's own install, before its code so code changes reuse this layer: the SDK, then the
# project's dependencies with the `ml` extra (torch is already there, so pip keeps the variant chosen above).
# Only pyproject.toml is here yet, so the second install brings dependencies and an empty
# distribution; the code copied below runs from /app (PYTHONPATH), where Detector.directory() and
# REPO_ROOT (tribunal_home.py) find detector.yaml, weights/ and config/ beside it.
COPY sdk/ sdk/
COPY pyproject.toml README.md requirements.lock ./
# The versions are those of requirements.lock (make lock), as for `make install`; the pyproject files
# hold the ranges.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir -c requirements.lock ./sdk \
    && pip install --no-cache-dir -c requirements.lock ".[ml]"
COPY scripts/container_healthcheck.py /usr/local/bin/tribunal-healthcheck
COPY tribunal_home.py ./
COPY detectors/__init__.py detectors/
COPY detectors/common/ detectors/common/
# Owned by the service user: a working tree may hold weights readable by their owner only (git
# checkouts do not), and --chmod would need BuildKit. The weights are sha256-checked at load anyway.
COPY --chown=10001:10001 detectors/{{name}}/ detectors/{{name}}/

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# The registry's port for this detector; compose and Kubernetes set the same value explicitly.
ENV TRIBUNAL_HOST=0.0.0.0 \
    TRIBUNAL_PORT={{port}} \
    TRIBUNAL_DEVICE=auto
EXPOSE {{port}}
# Liveness only: /health answers while the model loads; readiness (/ready) is for orchestrators.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/usr/local/bin/tribunal-healthcheck", "/health"]
CMD ["python", "-m", "detectors.{{package}}"]
