# syntax=docker/dockerfile:1
# The Groundwork API (`groundwork serve`) for server mode; docker-compose.yml runs it beside
# OpenSearch and Qdrant. Build alone: docker build -t groundwork .
FROM python:3.11-slim-bookworm

# Models ship inside PyPI packages: never reach for a model hub at run time (HF_HUB_OFFLINE).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_FROZEN=1 \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/groundwork/venv \
    HF_HUB_OFFLINE=1

RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /opt/groundwork/app

# Locked dependencies first: they change rarely, so this layer stays cached.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY core ./core
COPY index ./index
COPY retrieval ./retrieval
COPY agent ./agent
COPY api ./api
COPY pipelines ./pipelines
RUN uv sync --frozen --no-dev

RUN useradd --system --uid 10001 --create-home groundwork \
    && mkdir -p /data \
    && chown groundwork /data
USER groundwork

ENV PATH=/opt/groundwork/venv/bin:$PATH \
    GW_BACKEND__DATA_DIR=/data \
    GW_API__HOST=0.0.0.0 \
    GW_API__PORT=8000
VOLUME ["/data"]
EXPOSE 8000

CMD ["groundwork", "serve"]
