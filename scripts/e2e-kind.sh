#!/usr/bin/env bash
# End-to-end test on a throwaway kind cluster: Crossplane, the operators the Composition
# expects, xagent's XRD, Composition and function, then examples/minimal until the XAgent
# is Ready.
#
# Usage: bash scripts/e2e-kind.sh [flags]
#
#   --cluster-name NAME         kind cluster to create (default xagent-e2e)
#   --keep                      keep the cluster (and the local registry) afterwards
#   --crossplane-version VER    Crossplane helm chart version (default 2.4.0)
#   --skip-operators            install no operators; then only wait until the function
#                               has run (PolicyCompliant=True), not for Ready
#   --timeout DURATION          for each helm install and each wait (default 15m)
#   -h, --help                  this text
#
# Exit codes:
#   0  the XAgent became Ready, or there is no Docker engine (SKIP, nothing created)
#   1  a step failed (diagnostics are printed), or a needed tool is missing
#   2  bad usage
#
# No Docker engine is a skip, not a failure, so that a machine without one (a CI sandbox,
# this repository's own test container) can run the suite; set E2E_REQUIRE_DOCKER=1 to
# make it a failure where the e2e must run.
#
# Needs: docker (a running engine), kind, kubectl, helm, and the crossplane CLI
# ($XAGENT_TOOLS_BIN, PATH, or built by scripts/build-tools.sh). It needs the internet:
# helm charts and container images are downloaded.
#
# What it does:
#   1. creates the kind cluster and a local registry container on kind's network;
#   2. helm-installs Crossplane and, unless --skip-operators, External Secrets, CloudNativePG,
#      the Dragonfly operator, NATS with JetStream and NACK, KEDA and the Prometheus operator
#      CRDs, at pinned chart versions (below), plus a fake ClusterSecretStore "default"
#      holding the model key the example asks for;
#   3. builds the function image (package/function/Dockerfile) and the runtime image
#      (Dockerfile) and loads both into kind; builds the function xpkg
#      (scripts/build-packages.sh) and pushes it to the local registry;
#   4. applies package/rbac.yaml, xrds/xagent.yaml, compositions/xagent.yaml and a Function
#      whose DeploymentRuntimeConfig runs the loaded image;
#   5. applies examples/minimal and waits for the XAgent to be Ready;
#   6. on failure prints diagnostics; unless --keep, deletes what it created.
set -euo pipefail

CLUSTER_NAME="xagent-e2e"
KEEP=0
CROSSPLANE_VERSION="2.4.0"
SKIP_OPERATORS=0
TIMEOUT="15m"

# Chart versions, pinned to the operator versions whose CRDs are vendored in
# function/schemas/crds/ (override any of them from the environment).
ESO_CHART_VERSION="${ESO_CHART_VERSION:-2.9.0}"                 # external-secrets v2.9.0
CNPG_CHART_VERSION="${CNPG_CHART_VERSION:-0.29.0}"              # CloudNativePG 1.30.0
DRAGONFLY_CHART_VERSION="${DRAGONFLY_CHART_VERSION:-v1.6.1}"    # dragonfly-operator v1.6.1
NATS_CHART_VERSION="${NATS_CHART_VERSION:-2.12.3}"              # nats-server 2.12
NACK_CHART_VERSION="${NACK_CHART_VERSION:-0.27.0}"              # controller image below
NACK_VERSION="${NACK_VERSION:-0.22.4}"                          # jetstream-controller
KEDA_CHART_VERSION="${KEDA_CHART_VERSION:-2.20.2}"              # KEDA 2.20.2
PROMETHEUS_CRDS_CHART_VERSION="${PROMETHEUS_CRDS_CHART_VERSION:-31.0.0}"  # operator v0.93.0

FUNCTION_IMAGE="xagent/function-xagent:e2e"
RUNTIME_IMAGE="ghcr.io/xagent-dev/xagent-runtime:0.1.0"   # spec.image default of an XAgent
REGISTRY_PORT="${E2E_REGISTRY_PORT:-5001}"

usage() {
	local line
	while IFS= read -r line; do
		[[ "$line" == "set -euo pipefail" ]] && break
		[[ "$line" == "#!"* ]] && continue
		line="${line#\#}"
		printf '%s\n' "${line# }"
	done <"${BASH_SOURCE[0]}"
}

die_usage() {
	printf 'e2e-kind: %s\n' "$1" >&2
	printf 'Run with --help for usage.\n' >&2
	exit 2
}

while (($#)); do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--keep) KEEP=1 ;;
	--skip-operators) SKIP_OPERATORS=1 ;;
	--cluster-name | --crossplane-version | --timeout)
		[[ $# -ge 2 && -n "$2" && "$2" != --* ]] || die_usage "$1 needs a value"
		case "$1" in
		--cluster-name) CLUSTER_NAME="$2" ;;
		--crossplane-version) CROSSPLANE_VERSION="$2" ;;
		--timeout) TIMEOUT="$2" ;;
		esac
		shift
		;;
	*) die_usage "unknown argument: $1" ;;
	esac
	shift
done

# First, before anything is created: is there a Docker engine?
if ! docker info >/dev/null 2>&1; then
	if [[ "${E2E_REQUIRE_DOCKER:-0}" == 1 ]]; then
		printf 'FAIL: e2e-kind needs a running Docker engine (docker info failed) and E2E_REQUIRE_DOCKER=1; nothing was created\n' >&2
		exit 1
	fi
	printf 'SKIP: e2e-kind needs a running Docker engine (docker info failed); nothing was created\n'
	exit 0
fi

ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)"
REGISTRY_NAME="${CLUSTER_NAME}-registry"
log() { printf '\n==> %s\n' "$*" >&2; }
fail() { printf 'e2e-kind: %s\n' "$*" >&2; exit 1; }

missing=()
for tool in kind kubectl helm; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
((${#missing[@]} == 0)) || fail "missing tools: ${missing[*]} (install them, then run again)"

crossplane_cli() {
	if [[ -n "${XAGENT_TOOLS_BIN:-}" && -x "$XAGENT_TOOLS_BIN/crossplane" ]]; then
		echo "$XAGENT_TOOLS_BIN/crossplane"
	elif command -v crossplane >/dev/null 2>&1; then
		command -v crossplane
	else
		echo "$(XAGENT_TOOLS_ONLY=crossplane bash "$ROOT/scripts/build-tools.sh" | tail -1)/crossplane"
	fi
}
CROSSPLANE="$(crossplane_cli)"
[[ -x "$CROSSPLANE" ]] || fail "no crossplane CLI (set XAGENT_TOOLS_BIN or run scripts/build-tools.sh)"

CREATED_CLUSTER=0
CREATED_REGISTRY=0
SUCCEEDED=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/xagent-e2e.XXXXXX")"

diagnostics() {
	log "diagnostics"
	local k=(kubectl --context "kind-$CLUSTER_NAME")
	"${k[@]}" get xagents.xagent.dev -A -o yaml || true
	"${k[@]}" describe xagents.xagent.dev -A || true
	"${k[@]}" get functions.pkg.crossplane.io,functionrevisions.pkg.crossplane.io -o wide || true
	"${k[@]}" describe functions.pkg.crossplane.io || true
	"${k[@]}" get -n agents all,configmaps,externalsecrets,clusters.postgresql.cnpg.io,dragonflies.dragonflydb.io,streams.jetstream.nats.io,consumers.jetstream.nats.io,scaledobjects.keda.sh -o wide || true
	"${k[@]}" get events -A --sort-by=.lastTimestamp | tail -n 60 || true
	"${k[@]}" logs -n crossplane-system deploy/crossplane --tail=150 || true
	"${k[@]}" logs -n crossplane-system -l pkg.crossplane.io/function=function-xagent --tail=150 || true
	"${k[@]}" logs -n agents -l app.kubernetes.io/name=xagent-runtime --tail=100 || true
}

cleanup() {
	local rc=$?
	((SUCCEEDED)) || ((rc == 0)) || diagnostics
	if ((KEEP)); then
		log "kept: kind cluster $CLUSTER_NAME (kubectl --context kind-$CLUSTER_NAME), registry $REGISTRY_NAME"
	else
		if ((CREATED_CLUSTER)); then kind delete cluster --name "$CLUSTER_NAME" || true; fi
		if ((CREATED_REGISTRY)); then docker rm -f "$REGISTRY_NAME" >/dev/null 2>&1 || true; fi
	fi
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT

kc() { kubectl --context "kind-$CLUSTER_NAME" "$@"; }
hi() { helm --kube-context "kind-$CLUSTER_NAME" upgrade --install --wait --timeout "$TIMEOUT" "$@"; }

# --- 1. cluster and registry ------------------------------------------------------------------

log "kind cluster $CLUSTER_NAME"
kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME" && fail "kind cluster $CLUSTER_NAME already exists (delete it or pass --cluster-name)"
CREATED_CLUSTER=1
kind create cluster --name "$CLUSTER_NAME" --wait 120s

log "local registry $REGISTRY_NAME (127.0.0.1:$REGISTRY_PORT)"
if ! docker inspect "$REGISTRY_NAME" >/dev/null 2>&1; then
	CREATED_REGISTRY=1
	docker run -d --restart=no --name "$REGISTRY_NAME" --network kind \
		-p "127.0.0.1:$REGISTRY_PORT:5000" registry:2 >/dev/null
fi
# Crossplane pulls the package from the registry's address on kind's network; a private
# (RFC 1918) address is dialled over plain HTTP.
REGISTRY_IP="$(docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' "$REGISTRY_NAME")"
[[ -n "$REGISTRY_IP" ]] || fail "registry $REGISTRY_NAME has no address on the kind network"

# --- 2. Crossplane and operators --------------------------------------------------------------

helm repo add crossplane-stable https://charts.crossplane.io/stable --force-update >/dev/null
log "Crossplane $CROSSPLANE_VERSION"
hi crossplane crossplane-stable/crossplane --version "$CROSSPLANE_VERSION" \
	--namespace crossplane-system --create-namespace

if ((SKIP_OPERATORS)); then
	log "operators skipped (--skip-operators)"
else
	helm repo add external-secrets https://charts.external-secrets.io --force-update >/dev/null
	helm repo add cnpg https://cloudnative-pg.github.io/charts --force-update >/dev/null
	helm repo add nats https://nats-io.github.io/k8s/helm/charts/ --force-update >/dev/null
	helm repo add kedacore https://kedacore.github.io/charts --force-update >/dev/null
	helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null

	log "External Secrets Operator $ESO_CHART_VERSION"
	hi external-secrets external-secrets/external-secrets --version "$ESO_CHART_VERSION" \
		--namespace external-secrets --create-namespace
	log "CloudNativePG (chart $CNPG_CHART_VERSION)"
	hi cnpg cnpg/cloudnative-pg --version "$CNPG_CHART_VERSION" \
		--namespace cnpg-system --create-namespace
	log "Dragonfly operator $DRAGONFLY_CHART_VERSION"
	hi dragonfly-operator oci://ghcr.io/dragonflydb/dragonfly-operator/helm/dragonfly-operator \
		--version "$DRAGONFLY_CHART_VERSION" --namespace dragonfly-operator-system --create-namespace
	log "NATS with JetStream (chart $NATS_CHART_VERSION), at nats.nats.svc:4222 as the Composition expects"
	hi nats nats/nats --version "$NATS_CHART_VERSION" --namespace nats --create-namespace \
		--set config.jetstream.enabled=true --set config.jetstream.fileStore.pvc.size=1Gi
	log "NACK $NACK_VERSION: the vendored CRDs, then the controller"
	kc apply --server-side -f "$ROOT/function/schemas/crds/nack/"
	hi nack nats/nack --version "$NACK_CHART_VERSION" --namespace nats --skip-crds \
		--set jetstream.image.tag="$NACK_VERSION" \
		--set jetstream.nats.url=nats://nats.nats.svc.cluster.local:4222
	log "KEDA $KEDA_CHART_VERSION"
	hi keda kedacore/keda --version "$KEDA_CHART_VERSION" --namespace keda --create-namespace
	log "Prometheus operator CRDs (chart $PROMETHEUS_CRDS_CHART_VERSION)"
	hi prometheus-operator-crds prometheus-community/prometheus-operator-crds \
		--version "$PROMETHEUS_CRDS_CHART_VERSION" --namespace monitoring --create-namespace

	log "fake ClusterSecretStore default (the model key of examples/minimal)"
	kc apply -f - <<-'EOF'
		apiVersion: external-secrets.io/v1
		kind: ClusterSecretStore
		metadata:
		  name: default
		spec:
		  provider:
		    fake:
		      data:
		        - key: xagent/acme/openai
		          value: sk-e2e-not-a-real-key
	EOF
fi

# --- 3. images and the function package -------------------------------------------------------

log "images: $FUNCTION_IMAGE, $RUNTIME_IMAGE"
docker build -f "$ROOT/package/function/Dockerfile" -t "$FUNCTION_IMAGE" "$ROOT"
docker build -f "$ROOT/Dockerfile" -t "$RUNTIME_IMAGE" "$ROOT"
kind load docker-image --name "$CLUSTER_NAME" "$FUNCTION_IMAGE" "$RUNTIME_IMAGE"

log "function package -> 127.0.0.1:$REGISTRY_PORT/xagent/function-xagent:e2e"
XAGENT_TOOLS_BIN="$(dirname "$CROSSPLANE")" bash "$ROOT/scripts/build-packages.sh" --output "$WORK" >/dev/null
"$CROSSPLANE" xpkg push -f "$WORK/function-xagent.xpkg" "127.0.0.1:$REGISTRY_PORT/xagent/function-xagent:e2e"

# --- 4. xagent ---------------------------------------------------------------------------------

log "RBAC, XRD, Composition, Function"
kc apply -f "$ROOT/package/rbac.yaml"
kc apply -f "$ROOT/xrds/xagent.yaml"
kc apply -f "$ROOT/compositions/xagent.yaml"
kc apply -f - <<EOF
apiVersion: pkg.crossplane.io/v1beta1
kind: DeploymentRuntimeConfig
metadata:
  name: function-xagent-e2e
spec:
  deploymentTemplate:
    spec:
      selector: {}
      template:
        spec:
          containers:
            - name: package-runtime
              image: $FUNCTION_IMAGE
              imagePullPolicy: Never
---
apiVersion: pkg.crossplane.io/v1
kind: Function
metadata:
  name: function-xagent
spec:
  package: $REGISTRY_IP:5000/xagent/function-xagent:e2e
  runtimeConfigRef:
    name: function-xagent-e2e
EOF
kc wait --for=condition=Established --timeout="$TIMEOUT" crd/xagents.xagent.dev
kc wait --for=condition=Healthy --timeout="$TIMEOUT" functions.pkg.crossplane.io/function-xagent

# --- 5. the example ----------------------------------------------------------------------------

log "examples/minimal"
kc create namespace agents --dry-run=client -o yaml | kc apply -f -
kc apply -f "$ROOT/examples/minimal/xr.yaml"
if ((SKIP_OPERATORS)); then
	# Without the operators the composed kinds do not exist, so the XAgent cannot be
	# Ready; the function has still run once it reports PolicyCompliant.
	kc wait --for=condition=PolicyCompliant --timeout="$TIMEOUT" -n agents xagents.xagent.dev/support-bot
else
	kc wait --for=condition=Ready --timeout="$TIMEOUT" -n agents xagents.xagent.dev/support-bot
fi
kc get -n agents xagents.xagent.dev/support-bot -o wide
SUCCEEDED=1
log "PASS: examples/minimal is $( ((SKIP_OPERATORS)) && echo composed || echo Ready ) on kind cluster $CLUSTER_NAME"
