# syntax=docker/dockerfile:1
# The xagent agent runtime: `python -m runtime` (CloudEvents, queue worker, probes, metrics).
#
# Two stages on the same interpreter: the builder turns this project into a wheel and installs
# it with the `runtime` extra into /venv; the final image holds only that venv. It runs as
# UID 65532, needs no shell (exec-form ENTRYPOINT), and writes nowhere but /tmp, so it works
# with readOnlyRootFilesystem and an emptyDir on /tmp (XAGENT_STATE_DIR, HOME).
#
#   docker build -t xagent-runtime .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /venv
# Only what the wheel is built from (see .dockerignore): the metadata, the packages the
# wheel target lists and the files it force-includes.
COPY pyproject.toml README.md ./
COPY function ./function
COPY runtime ./runtime
COPY contract ./contract
COPY compositions/xagent.yaml ./compositions/xagent.yaml
RUN /venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /venv/bin/pip install "$(ls /wheels/xagent-*.whl)[runtime]" \
 && /venv/bin/python -m compileall -q /venv \
 && /venv/bin/python -c "import runtime.main"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="xagent-runtime" \
      org.opencontainers.image.description="LangGraph agent runtime deployed by the xagent composition function" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    XAGENT_STATE_DIR=/tmp/xagent \
    PORT=8080
COPY --from=builder /venv /venv
WORKDIR /tmp
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/venv/bin/python", "-m", "runtime"]
