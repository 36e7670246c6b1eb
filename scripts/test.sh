#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs the project into .venv, starts the real
# PostgreSQL, Redis and NATS JetStream on loopback, builds the pinned crossplane CLI and core,
# helm, the control-plane binaries, promtool and kubeconform (cached under
# ~/.cache/xagent/tools), lints, checks generated files, runs pytest (tests/controlplane
# brings its own control plane up and down).
#
#   bash scripts/test.sh               # everything
#   bash scripts/test.sh -k readiness  # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "python environment (.venv)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[runtime,dev]'
export PATH="$PWD/.venv/bin:$PATH"

step "services: PostgreSQL, Redis, NATS JetStream on loopback"
eval "$(bash scripts/services.sh start)"

step "tools: crossplane CLI and core, helm, etcd, kube-apiserver, kube-controller-manager, promtool, kubeconform (pinned, cached)"
XAGENT_TOOLS_BIN="$(bash scripts/build-tools.sh | tail -1)"
export XAGENT_TOOLS_BIN

step "lint and format"
ruff check .
ruff format --check .

step "generated files are up to date"
xagent xrd --check

step "pytest"
# No test collected (exit 5) fails the run like any other failure.
pytest "$@"
