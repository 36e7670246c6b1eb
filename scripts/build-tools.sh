#!/usr/bin/env bash
# Build pinned Crossplane CLI, Crossplane core, helm and the control-plane
# binaries (etcd, kube-apiserver, kube-controller-manager) from the Go module
# proxy into a cache directory, skipping whatever is already built.
#
#   BIN=$(scripts/build-tools.sh | tail -1)   # last stdout line = bin dir
#   export PATH="$BIN:$PATH"
#
# Binaries:
#   crossplane       Crossplane CLI   (github.com/crossplane/cli/v2)
#   crossplane-core  Crossplane core  (github.com/crossplane/crossplane/v2);
#                    `crossplane render --crossplane-binary` runs
#                    `<core> internal render`; its core CRDs are copied to
#                    crossplane-crds/ (what `core init` installs)
#   helm             helm v3          (helm.sh/helm/v3)
#   etcd             etcd server      (go.etcd.io/etcd/server/v3)
#   kube-apiserver, kube-controller-manager
#                    Kubernetes       (k8s.io/kubernetes)
#                    scripts/controlplane.sh and tests/controlplane run these.
#   promtool         Prometheus rule checker (github.com/prometheus/prometheus,
#                    cmd/promtool; module tags v0.3MM.P are Prometheus v3.MM.P),
#                    built with -tags remove_all_sd: only rule checks and rule
#                    unit tests are used, and the optional service discoveries
#                    (cloud SDKs) are most of its build.
#                    tests/crossplane/test_alert_rules.py runs it.
#   kubeconform      manifest validator (github.com/yannh/kubeconform); the tests
#                    run it -strict on every rendered manifest against schemas
#                    generated offline by tests/kubeconform_schemas.py from the
#                    Kubernetes OpenAPI (copied beside it) and the vendored CRDs.
#
# Cold build times on 2 idle cores: etcd ~0.5 min, kube-apiserver ~6 min,
# kube-controller-manager ~1.5 min more (it shares most packages). Measured on
# the same 2 cores under load ~15 (eight parallel builds/tests): crossplane 47
# min, crossplane-core 26 min, etcd 10 min, kube-apiserver 55 min,
# kube-controller-manager 20 min. promtool (remove_all_sd): 95 s with the Go build
# cache warm from the builds above; cold (empty GOCACHE, modules already downloaded,
# nice 15, load ~15) 53 min.
# kubeconform (cold module and build caches, 8 modules): 2.5 min under load ~9,
# about 1 min of CPU.
#
# Progress goes to stderr; stdout carries only an `export PATH=...` comment
# line and, last, the bin dir.
#
# Environment:
#   XAGENT_TOOLS_DIR  cache/bin dir (default $HOME/.cache/xagent/tools/<pins>)
#   XAGENT_TOOLS_ONLY space separated subset of: crossplane crossplane-core helm
#                     etcd kube-apiserver kube-controller-manager promtool kubeconform
#
# The control-plane binaries are cached in their own pinned directory
# ($HOME/.cache/xagent/tools/kube-<v>_etcd-<v>) and symlinked into the bin dir,
# so changing their pins does not rebuild the crossplane tools (and vice versa).
# promtool likewise lives in $HOME/.cache/xagent/tools/promtool-<v>.
# kubeconform likewise has its own ($HOME/.cache/xagent/tools/kubeconform-<v>).
#
# Note: the module proxy reachable here serves only some crossplane versions and
# refuses their version lists (`go list -m -versions` -> 403), so the pins are
# explicit. CLI v2.5.0 is the newest stable CLI tag (and is served); core
# v2.4.0 is the newest core version served. The CLI's render.v1alpha1 proto is
# identical to core v2.4.0's apart from go_package, and the pair was tested.
set -euo pipefail

CROSSPLANE_CLI_VERSION="${CROSSPLANE_CLI_VERSION:-v2.5.0}"
CROSSPLANE_CORE_VERSION="${CROSSPLANE_CORE_VERSION:-v2.4.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
# Prometheus v3.16.0; `go list -m -versions` lists it and `go mod download` fetches it here.
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
# v0.8.0 is the newest version the module proxy lists (go list -m -versions).
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"

CLI_MOD=github.com/crossplane/cli/v2
CORE_MOD=github.com/crossplane/crossplane/v2
HELM_MOD=helm.sh/helm/v3
KUBE_MOD=k8s.io/kubernetes
ETCD_MOD=go.etcd.io/etcd/server/v3
PROM_MOD=github.com/prometheus/prometheus
KUBECONFORM_MOD=github.com/yannh/kubeconform
# Both crossplane binaries report their version from crossplane-runtime.
XP_VERSION_VAR=github.com/crossplane/crossplane-runtime/v2/pkg/version.version

PINS="cli-${CROSSPLANE_CLI_VERSION}_core-${CROSSPLANE_CORE_VERSION}_helm-${HELM_VERSION}"
BIN_DIR="${XAGENT_TOOLS_DIR:-${HOME}/.cache/xagent/tools/${PINS}}"
# With an explicit XAGENT_TOOLS_DIR everything lives there, unlinked.
KUBE_DIR="${XAGENT_TOOLS_DIR:-${HOME}/.cache/xagent/tools/kube-${KUBE_VERSION}_etcd-${ETCD_VERSION}}"
PROM_DIR="${XAGENT_TOOLS_DIR:-${HOME}/.cache/xagent/tools/promtool-${PROMETHEUS_VERSION}}"
ONLY="${XAGENT_TOOLS_ONLY:-crossplane crossplane-core helm etcd kube-apiserver kube-controller-manager promtool kubeconform}"
KUBECONFORM_DIR="${XAGENT_TOOLS_DIR:-${HOME}/.cache/xagent/tools/kubeconform-${KUBECONFORM_VERSION}}"

log() { printf '[build-tools] %s\n' "$*" >&2; }

command -v go >/dev/null 2>&1 || { log "ERROR: go not found in PATH"; exit 1; }

# Module/build caches stay at Go's defaults ($HOME/go, $HOME/.cache/go-build)
# so they are shared with other Go work on the machine.
export GOPATH="${GOPATH:-$(go env GOPATH)}"
export GOMODCACHE="${GOMODCACHE:-$(go env GOMODCACHE)}"
export GOFLAGS="-trimpath -buildvcs=false"
export CGO_ENABLED=0
# Two cores: one package compile at a time per build step, two procs.
export GOMAXPROCS="${GOMAXPROCS:-2}"
BUILD_P="${BUILD_P:-2}"
# Let the pinned modules pick a newer toolchain if they ever require one.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

mkdir -p "$BIN_DIR" "$KUBE_DIR" "$PROM_DIR" "$KUBECONFORM_DIR"
BIN_DIR="$(cd "$BIN_DIR" && pwd)"
KUBE_DIR="$(cd "$KUBE_DIR" && pwd)"
PROM_DIR="$(cd "$PROM_DIR" && pwd)"
KUBECONFORM_DIR="$(cd "$KUBECONFORM_DIR" && pwd)"

TMP_DIRS=()
cleanup() {
	((${#TMP_DIRS[@]})) && chmod -R u+w "${TMP_DIRS[@]}" 2>/dev/null && rm -rf "${TMP_DIRS[@]}"
	rm -f "$BIN_DIR"/.*."$$".tmp "$KUBE_DIR"/.*."$$".tmp "$PROM_DIR"/.*."$$".tmp "$KUBECONFORM_DIR"/.*."$$".tmp
	return 0
}
trap cleanup EXIT

want() { [[ " $ONLY " == *" $1 "* ]]; }

timed() { # timed NAME CMD...
	local name=$1 start end
	shift
	start=$(date +%s)
	"$@"
	end=$(date +%s)
	log "built ${name} in $((end - start))s"
}

# Build main packages from a throwaway wrapper module that requires their
# module at the pinned version. Used for every tool because:
#  - crossplane core's go.mod has a replace directive, so `go install
#    pkg@version` refuses it (so do kubernetes' and etcd server's);
#  - `go install pkg@version` also fails for the CLI here: it loads the
#    module's deprecation info from the version list, which the proxy
#    refuses (403) for crossplane modules; `go get` in a module does not.
# The wrapper's build list equals upstream's (MVS over one requirement), except
# for upstream replaces: a relative-path replace (`M => ./dir`, a nested module
# of the same repo, absent from the module zip) becomes a requirement on M at
# the same tag, or, given NESTED_VERSION, a replace by the published M at that
# version (kubernetes' staging modules: `k8s.io/api => ./staging/...` becomes
# `k8s.io/api => k8s.io/api v0.34.4`, since k8s.io/kubernetes requires them at
# v0.0.0); a module replace (`M => N vX`) is copied as is.
# Sets WRAP_DIR to the wrapper module's directory.
wrapper_setup() { # wrapper_setup MODULE VERSION [NESTED_VERSION]
	local mod=$1 version=$2 nested=${3:-} info upstream srcdir
	WRAP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/xagent-wrap.XXXXXX")
	TMP_DIRS+=("$WRAP_DIR")
	log "  downloading ${mod}@${version}"
	info=$(go mod download -json "${mod}@${version}" 2>&1) || true
	upstream=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$info")
	srcdir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
	[[ -f "$upstream" ]] || { log "ERROR: cannot download ${mod}@${version}: ${info}"; return 1; }
	(
		cd "$WRAP_DIR"
		go mod init xagent.dev/tools-wrapper >/dev/null 2>&1
		go mod edit -require="${mod}@${version}"
		# Start from upstream's checksums.
		[[ -f "$srcdir/go.sum" ]] && cp "$srcdir/go.sum" go.sum && chmod u+w go.sum
		# go mod edit -json prints Replace entries; parse them with sed
		# (no jq dependency): one "Old.Path New.Path [New.Version]" per line.
		replaces=$(go mod edit -json "$upstream" | tr -d '\n\t ' |
			grep -o '"Replace":\[.*\]' |
			grep -o '{"Old":{[^}]*},"New":{[^}]*}}' |
			sed -e 's/{"Old":{"Path":"\([^"]*\)"[^}]*},"New":{"Path":"\([^"]*\)"\(,"Version":"\([^"]*\)"\)\{0,1\}}}/\1 \2 \4/' || true)
		printf '%s\n' "$replaces" | sed '/^$/d' |
			while read -r from to tover; do
				case "$to" in
				*/FORBIDDEN_DEPENDENCY)
					# etcd's guard against importing these; keep it out.
					;;
				./* | ../*)
					if [[ -n "$nested" ]]; then
						go mod edit -replace="${from}=${from}@${nested}"
					else
						log "  upstream replace ${from} => ${to}: requiring ${from}@${version}"
						go mod edit -require="${from}@${version}"
					fi
					;;
				*)
					log "  upstream replace ${from} => ${to} ${tover}: copied"
					go mod edit -replace="${from}=${to}${tover:+@$tover}"
					;;
				esac
			done
		[[ -n "$nested" ]] && log "  $(grep -c '=> .* '"$nested"'$' go.mod || true) nested modules replaced by their ${nested} releases"
		return 0
	)
}

# Resolve and compile one main package inside WRAP_DIR. `go get` per package:
# each main package adds its own go.sum entries (kube-controller-manager needs
# kube-scheduler's and kubectl's, which kube-apiserver does not).
wrapper_compile() { # wrapper_compile NAME PKG VERSION LDFLAGS OUTDIR
	local name=$1 pkg=$2 version=$3 ldflags=$4 outdir=$5
	(
		cd "$WRAP_DIR"
		log "  resolving ${pkg}"
		if ! go get "${pkg}@${version}" >get.log 2>&1; then
			cat get.log >&2
			exit 1
		fi
		log "  $(grep -c '^go: downloading' get.log || true) modules downloaded; compiling"
		go build -p "$BUILD_P" ${BUILD_TAGS:+-tags "$BUILD_TAGS"} -ldflags "$ldflags" -o "$outdir/.$name.$$.tmp" "$pkg"
	)
	# Atomic rename: a concurrent run never sees a half-written binary.
	mv -f "$outdir/.$name.$$.tmp" "$outdir/$name"
}

wrapper_build() { # wrapper_build NAME MODULE PKG VERSION LDFLAGS [OUTDIR]
	wrapper_setup "$2" "$4"
	wrapper_compile "$1" "$3" "$4" "$5" "${6:-$BIN_DIR}"
}

build_one() { # build_one NAME FUNC ARGS...
	local name=$1
	shift
	if [[ -x "$BIN_DIR/$name" ]]; then
		log "${name}: cached (${BIN_DIR}/${name})"
		return 0
	fi
	log "${name}: building ..."
	timed "$name" "$@"
}

log "bin dir: ${BIN_DIR}"
log "pins: crossplane CLI ${CROSSPLANE_CLI_VERSION}, crossplane core ${CROSSPLANE_CORE_VERSION}, helm ${HELM_VERSION}"

if want crossplane; then
	build_one crossplane wrapper_build crossplane \
		"$CLI_MOD" "${CLI_MOD}/cmd/crossplane" "$CROSSPLANE_CLI_VERSION" \
		"-s -w -X ${XP_VERSION_VAR}=${CROSSPLANE_CLI_VERSION}"
fi

if want crossplane-core; then
	build_one crossplane-core wrapper_build crossplane-core \
		"$CORE_MOD" "${CORE_MOD}/cmd/crossplane" "$CROSSPLANE_CORE_VERSION" \
		"-s -w -X ${XP_VERSION_VAR}=${CROSSPLANE_CORE_VERSION}"
fi

# `crossplane-core core init` installs Crossplane's CRDs from a directory (the
# image ships them in /crds): keep the pinned module's cluster/crds beside the
# binary, since the module cache may be cleaned while this cache is kept.
if want crossplane-core && [[ ! -f "$BIN_DIR/crossplane-crds/.complete" ]]; then
	log "crossplane-crds: copying cluster/crds of ${CORE_MOD}@${CROSSPLANE_CORE_VERSION}"
	core_src=$(go mod download -json "${CORE_MOD}@${CROSSPLANE_CORE_VERSION}" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d "$core_src/cluster/crds" ]] || { log "ERROR: no cluster/crds in ${core_src}"; exit 1; }
	rm -rf "$BIN_DIR/crossplane-crds"
	mkdir -p "$BIN_DIR/crossplane-crds"
	cp "$core_src"/cluster/crds/*.yaml "$BIN_DIR/crossplane-crds/"
	chmod -R u+w "$BIN_DIR/crossplane-crds"
	touch "$BIN_DIR/crossplane-crds/.complete"
fi

if want helm; then
	build_one helm wrapper_build helm "$HELM_MOD" "${HELM_MOD}/cmd/helm" "$HELM_VERSION" \
		"-s -w -X ${HELM_MOD}/internal/version.version=${HELM_VERSION}"
fi

# Control-plane binaries: built into KUBE_DIR, linked into BIN_DIR.
kube_cached() { # kube_cached NAME [DIR]: link a built binary into BIN_DIR
	local dir=${2:-$KUBE_DIR}
	[[ -x "$dir/$1" ]] || return 1
	[[ "$dir" == "$BIN_DIR" ]] || ln -sfn "$dir/$1" "$BIN_DIR/$1"
	log "$1: cached (${dir}/$1)"
}

if want kubeconform && ! kube_cached kubeconform "$KUBECONFORM_DIR"; then
	log "kubeconform: building ..."
	timed kubeconform wrapper_build kubeconform "$KUBECONFORM_MOD" "${KUBECONFORM_MOD}/cmd/kubeconform" \
		"$KUBECONFORM_VERSION" "-s -w -X main.version=${KUBECONFORM_VERSION}" "$KUBECONFORM_DIR"
	kube_cached kubeconform "$KUBECONFORM_DIR"
fi
# kubeconform's schemas are generated offline (tests/kubeconform_schemas.py) from the
# pinned Kubernetes version's OpenAPI v3 documents: keep them beside the binary, since the
# module cache may be cleaned while this cache is kept.
KUBE_OPENAPI="$KUBECONFORM_DIR/kubernetes-openapi-${KUBE_VERSION}"
if want kubeconform && [[ ! -f "$KUBE_OPENAPI/.complete" ]]; then
	log "kubernetes-openapi: copying api/openapi-spec/v3 of ${KUBE_MOD}@${KUBE_VERSION}"
	kube_src=$(go mod download -json "${KUBE_MOD}@${KUBE_VERSION}" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d "$kube_src/api/openapi-spec/v3" ]] || { log "ERROR: no api/openapi-spec/v3 in ${kube_src}"; exit 1; }
	rm -rf "$KUBE_OPENAPI"
	mkdir -p "$KUBE_OPENAPI"
	cp "$kube_src"/api/openapi-spec/v3/*.json "$KUBE_OPENAPI/"
	chmod -R u+w "$KUBE_OPENAPI"
	touch "$KUBE_OPENAPI/.complete"
fi

if want etcd && ! kube_cached etcd; then
	log "etcd: building ..."
	# server/v3 is etcd's main package; its replaces of ../api, ../client/...
	# become requirements at the same tag.
	timed etcd wrapper_build etcd "$ETCD_MOD" "$ETCD_MOD" "$ETCD_VERSION" "-s -w" "$KUBE_DIR"
	kube_cached etcd
fi

KUBE_NEEDED=()
for b in kube-apiserver kube-controller-manager; do
	want "$b" && ! kube_cached "$b" && KUBE_NEEDED+=("$b")
done
if ((${#KUBE_NEEDED[@]})); then
	log "${KUBE_NEEDED[*]}: building ..."
	kv=${KUBE_VERSION#v}
	kmaj=${kv%%.*}
	kmin=${kv#*.}
	kmin=${kmin%%.*}
	# The staging modules are published as k8s.io/<name> v0.<minor>.<patch>.
	kube_nested="v0.${kv#*.}"
	kube_ldflags="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		kube_ldflags+=" -X $p.gitVersion=${KUBE_VERSION} -X $p.gitMajor=${kmaj} -X $p.gitMinor=${kmin}"
		kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
	done
	wrapper_setup "$KUBE_MOD" "$KUBE_VERSION" "$kube_nested"
	for b in "${KUBE_NEEDED[@]}"; do
		timed "$b" wrapper_compile "$b" "${KUBE_MOD}/cmd/$b" "$KUBE_VERSION" "$kube_ldflags" "$KUBE_DIR"
		kube_cached "$b"
	done
fi

# promtool: its own pinned dir, linked into BIN_DIR like the control-plane binaries.
prom_cached() {
	[[ -x "$PROM_DIR/promtool" ]] || return 1
	[[ "$PROM_DIR" == "$BIN_DIR" ]] || ln -sfn "$PROM_DIR/promtool" "$BIN_DIR/promtool"
	log "promtool: cached (${PROM_DIR}/promtool)"
}
if want promtool && ! prom_cached; then
	log "promtool: building ..."
	prom_v=${PROMETHEUS_VERSION#v0.}
	prom_release="3.${prom_v:1:2}.${prom_v#*.}"
	[[ "${prom_v:0:1}" == 3 ]] || { log "ERROR: PROMETHEUS_VERSION ${PROMETHEUS_VERSION} is not a v0.3MM.P module tag"; exit 1; }
	BUILD_TAGS=remove_all_sd timed promtool wrapper_build promtool "$PROM_MOD" "${PROM_MOD}/cmd/promtool" \
		"$PROMETHEUS_VERSION" "-s -w -X github.com/prometheus/common/version.Version=${prom_release}" "$PROM_DIR"
	prom_cached
fi

# Smoke check (also catches a binary that does not start on this machine).
want crossplane && log "crossplane: $("$BIN_DIR/crossplane" version --client 2>&1 | head -1)"
want crossplane-core && log "crossplane-core: $("$BIN_DIR/crossplane-core" --version 2>&1 | head -1)"
want helm && log "helm: $("$BIN_DIR/helm" version --short 2>&1 | head -1)"
want etcd && log "etcd: $("$BIN_DIR/etcd" --version 2>&1 | head -1)"
for b in kube-apiserver kube-controller-manager; do
	want "$b" && log "$b: $("$BIN_DIR/$b" --version 2>&1 | head -1)"
done
want promtool && log "promtool: $("$BIN_DIR/promtool" --version 2>&1 | head -1)"
want kubeconform && log "kubeconform: $("$BIN_DIR/kubeconform" -v 2>&1 | head -1)"
log "done"
echo "# export PATH=\"${BIN_DIR}:\$PATH\""
echo "$BIN_DIR"
