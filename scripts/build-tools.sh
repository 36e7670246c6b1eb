#!/usr/bin/env bash
# Build pinned Crossplane CLI, Crossplane core and helm binaries from the Go
# module proxy into a cache directory, skipping whatever is already built.
#
#   BIN=$(scripts/build-tools.sh | tail -1)   # last stdout line = bin dir
#   export PATH="$BIN:$PATH"
#
# Binaries:
#   crossplane       Crossplane CLI   (github.com/crossplane/cli/v2)
#   crossplane-core  Crossplane core  (github.com/crossplane/crossplane/v2);
#                    `crossplane render --crossplane-binary` runs
#                    `<core> internal render`
#   helm             helm v3          (helm.sh/helm/v3)
#
# Progress goes to stderr; stdout carries only an `export PATH=...` comment
# line and, last, the bin dir.
#
# Environment:
#   XAGENT_TOOLS_DIR  cache/bin dir (default $HOME/.cache/xagent/tools/<pins>)
#   XAGENT_TOOLS_ONLY space separated subset of: crossplane crossplane-core helm
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

CLI_MOD=github.com/crossplane/cli/v2
CORE_MOD=github.com/crossplane/crossplane/v2
HELM_MOD=helm.sh/helm/v3
# Both crossplane binaries report their version from crossplane-runtime.
XP_VERSION_VAR=github.com/crossplane/crossplane-runtime/v2/pkg/version.version

PINS="cli-${CROSSPLANE_CLI_VERSION}_core-${CROSSPLANE_CORE_VERSION}_helm-${HELM_VERSION}"
BIN_DIR="${XAGENT_TOOLS_DIR:-${HOME}/.cache/xagent/tools/${PINS}}"
ONLY="${XAGENT_TOOLS_ONLY:-crossplane crossplane-core helm}"

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

mkdir -p "$BIN_DIR"
BIN_DIR="$(cd "$BIN_DIR" && pwd)"

TMP_DIRS=()
cleanup() { ((${#TMP_DIRS[@]})) && rm -rf "${TMP_DIRS[@]}"; rm -f "$BIN_DIR"/.*."$$".tmp; return 0; }
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

# Build a main package from a throwaway wrapper module that requires its module
# at the pinned version. Used for all three tools because:
#  - crossplane core's go.mod has a replace directive, so `go install
#    pkg@version` refuses it;
#  - `go install pkg@version` also fails for the CLI here: it loads the
#    module's deprecation info from the version list, which the proxy
#    refuses (403) for crossplane modules; `go get` in a module does not.
# The wrapper's build list equals upstream's (MVS over one requirement), except
# for upstream replaces: a relative-path replace (`M => ./dir`, a nested module
# of the same repo, absent from the module zip) becomes a requirement on M at
# the same tag; a module replace (`M => N vX`) is copied as is.
wrapper_build() { # wrapper_build NAME MODULE PKG VERSION [LDFLAGS]
	local name=$1 mod=$2 pkg=$3 version=$4 ldflags=${5:-"-s -w"}
	local wd upstream
	wd=$(mktemp -d "${TMPDIR:-/tmp}/xagent-wrap.XXXXXX")
	TMP_DIRS+=("$wd")
	log "  downloading ${mod}@${version}"
	local info srcdir
	info=$(go mod download -json "${mod}@${version}" 2>&1) || true
	upstream=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$info")
	srcdir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
	[[ -f "$upstream" ]] || { log "ERROR: cannot download ${mod}@${version}: ${info}"; return 1; }
	(
		cd "$wd"
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
				./* | ../*)
					log "  upstream replace ${from} => ${to}: requiring ${from}@${version}"
					go mod edit -require="${from}@${version}"
					;;
				*)
					log "  upstream replace ${from} => ${to} ${tover}: copied"
					go mod edit -replace="${from}=${to}${tover:+@$tover}"
					;;
				esac
			done
		log "  resolving wrapper module"
		if ! go get "${pkg}@${version}" >get.log 2>&1; then
			cat get.log >&2
			exit 1
		fi
		log "  $(grep -c '^go: downloading' get.log || true) modules downloaded; compiling"
		go build -p "$BUILD_P" -ldflags "$ldflags" -o "$BIN_DIR/.$name.$$.tmp" "$pkg"
	)
	# Atomic rename: a concurrent run never sees a half-written binary.
	mv -f "$BIN_DIR/.$name.$$.tmp" "$BIN_DIR/$name"
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

if want helm; then
	build_one helm wrapper_build helm "$HELM_MOD" "${HELM_MOD}/cmd/helm" "$HELM_VERSION" \
		"-s -w -X ${HELM_MOD}/internal/version.version=${HELM_VERSION}"
fi

# Smoke check (also catches a binary that does not start on this machine).
want crossplane && log "crossplane: $("$BIN_DIR/crossplane" version --client 2>&1 | head -1)"
want crossplane-core && log "crossplane-core: $("$BIN_DIR/crossplane-core" --version 2>&1 | head -1)"
want helm && log "helm: $("$BIN_DIR/helm" version --short 2>&1 | head -1)"
log "done"
echo "# export PATH=\"${BIN_DIR}:\$PATH\""
echo "$BIN_DIR"
