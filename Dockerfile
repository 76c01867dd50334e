# syntax=docker/dockerfile:1
# Multi-stage build: dependencies in a builder, a slim non-root runtime.
# (Hardened and tested with hadolint in the "Ship it" issue.)
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU-only torch first, so the pinned torch==2.13.0 never pulls a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY agents ./agents
COPY tools ./tools
COPY memory ./memory
COPY jobs ./jobs
RUN pip install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 copilot
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    SRE_COPILOT_DATA_DIR=/var/lib/sre-copilot \
    SRE_COPILOT_WEB__HOST=0.0.0.0 \
    HF_HUB_OFFLINE=1
RUN mkdir -p /var/lib/sre-copilot && chown copilot /var/lib/sre-copilot
USER copilot
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
ENTRYPOINT ["sre-copilot"]
CMD ["serve"]
