# briefing as a container: cron runs `docker run ... briefing` once a morning, or
# `docker run -d ... briefing serve` keeps the scheduler running. See README, "Operating".
FROM python:3.11-slim-bookworm

# Where torch comes from: the CPU build by default (a plain `torch` from PyPI is a CUDA build
# of several GB). Override with a mirror, e.g. --build-arg TORCH_INDEX="--index-url http://mirror/cpu".
ARG TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
# A model id to download into the image at build time, e.g.
# --build-arg PREFETCH_MODEL=csebuetnlp/mT5_multilingual_XLSum. Empty: no model in the image.
# Runs never download (the model is loaded from the cache only): fetch it once into the
# /opt/models volume: `docker run --rm -v briefing-models:/opt/models -v "$PWD/config:/config:ro"
# briefing models fetch` (README, "With cron and Docker").
ARG PREFETCH_MODEL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HOME=/opt/models \
    BRIEFING_CONFIG=/config/briefing.yaml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY briefing ./briefing
COPY templates ./templates
# The project itself is the one unpinned install; its dependencies are bounded in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir $TORCH_INDEX "torch==2.13.0" \
    && pip install --no-cache-dir -e ".[abstractive,postgres,mysql]"
RUN mkdir -p /opt/models /data \
    && if [ -n "$PREFETCH_MODEL" ]; then briefing models fetch --model "$PREFETCH_MODEL"; fi

RUN useradd --create-home --uid 10001 briefing \
    && chown -R briefing /data /opt/models
USER 10001
# The database and the outbox live in /data, the model cache (HF_HOME) in /opt/models: mount
# volumes to keep them between runs (an empty named volume starts with the prefetched model).
VOLUME ["/data", "/opt/models"]
WORKDIR /data

ENTRYPOINT ["briefing"]
CMD ["run"]
