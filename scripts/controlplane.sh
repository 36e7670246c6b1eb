#!/usr/bin/env bash
# A local control plane to try xagent without a cluster or Docker: etcd, kube-apiserver,
# kube-controller-manager, Crossplane core (out of cluster, as its own service account) and
# the xagent function over mTLS, on free loopback ports, with xagent's XRD, Composition and
# the CRDs of the composed kinds installed. Nothing runs pods: composed resources are
# created and reconciled, operators are absent.
#
#   bash scripts/controlplane.sh up     # builds the binaries if needed, prints `export KUBECONFIG=...`
#   bash scripts/controlplane.sh env    # the same export line, for a running plane
#   bash scripts/controlplane.sh down   # stops every process it started
#
# State (certs, etcd data, logs/, kubeconfig) lives in _output/controlplane, or --dir DIR.
# The tests (tests/controlplane) run the same code: tests/controlplane/plane.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[[ -x "$PY" ]] || { echo "controlplane: no .venv; run: python3 -m venv .venv && .venv/bin/pip install -e ." >&2; exit 1; }
if [[ "${1:-}" == up && -z "${XAGENT_TOOLS_BIN:-}" ]]; then
	XAGENT_TOOLS_BIN="$(XAGENT_TOOLS_ONLY="crossplane-core etcd kube-apiserver kube-controller-manager" bash scripts/build-tools.sh | tail -1)"
	export XAGENT_TOOLS_BIN
fi
exec "$PY" -m tests.controlplane.plane "$@"
