#!/usr/bin/env bash
# Build xagent's Crossplane packages into _output/ with the real `crossplane xpkg build`:
#
#   _output/function-xagent.xpkg       package/function: crossplane.yaml + the step input CRD
#   _output/configuration-xagent.xpkg  package/configuration/crossplane.yaml, the v2 XRD
#                                      (xrds/xagent.yaml) and the Composition
#
# Both carry examples/ as their examples. xpkg build packs every YAML under a package root,
# so the Configuration is assembled in a temporary root holding exactly its three files.
# package/rbac.yaml (the ClusterRole that lets Crossplane manage the composed kinds) is not
# in any package: `crossplane xpkg build` rejects ClusterRole in a Configuration
# (`no kind "ClusterRole" is registered`); apply it with kubectl.
#
#   bash scripts/build-packages.sh               # packages, function without a runtime image
#   bash scripts/build-packages.sh --with-image  # also build the function's runtime image
#                                                # without Docker and embed it (see below)
#   bash scripts/build-packages.sh --output DIR  # write somewhere else than _output/
#
# Without --with-image the function package holds only its package layer (the CLI allows
# it); push the image built from package/function/Dockerfile next to it, or use
# --with-image. That option builds an image equivalent to the Dockerfile's without a Docker
# engine, from registry packages only: a Debian bookworm rootfs with python3 (mmdebstrap,
# from apt; run as root), the project wheel and its manylinux cp311 dependency wheels
# (pip), assembled and configured with crane (go-containerregistry, built with Go) and a
# throwaway registry on loopback. It is written to _output/function-xagent-image.tar and
# embedded with --embed-runtime-image-tarball. linux/amd64 only; it takes a few minutes.
#
# Environment:
#   XAGENT_TOOLS_BIN   dir with the crossplane CLI (else scripts/build-tools.sh builds it,
#                      else `crossplane` on PATH)
#   DEBIAN_MIRROR      mirror or apt sources file for mmdebstrap (default: the machine's
#                      /etc/apt/sources.list.d/debian.sources, else deb.debian.org)
#   CRANE_VERSION      go-containerregistry version for crane (default v0.22.1)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUTPUT="$ROOT/_output"
WITH_IMAGE=0
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
log() { printf '[build-packages] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

while (($#)); do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--with-image) WITH_IMAGE=1 ;;
	--output) [[ $# -ge 2 ]] || die "--output needs a directory"; OUTPUT="$2"; shift ;;
	*) log "unknown argument: $1 (see --help)"; exit 2 ;;
	esac
	shift
done

crossplane_cli() {
	if [[ -n "${XAGENT_TOOLS_BIN:-}" && -x "$XAGENT_TOOLS_BIN/crossplane" ]]; then
		echo "$XAGENT_TOOLS_BIN/crossplane"
	elif command -v go >/dev/null 2>&1; then
		echo "$(XAGENT_TOOLS_ONLY=crossplane bash "$ROOT/scripts/build-tools.sh" | tail -1)/crossplane"
	elif command -v crossplane >/dev/null 2>&1; then
		command -v crossplane
	else
		die "no crossplane CLI: set XAGENT_TOOLS_BIN, install Go (scripts/build-tools.sh), or put crossplane on PATH"
	fi
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/xagent-packages.XXXXXX")"
REGISTRY_PID=""
cleanup() {
	[[ -n "$REGISTRY_PID" ]] && kill "$REGISTRY_PID" 2>/dev/null
	rm -rf "$WORK"
	return 0
}
trap cleanup EXIT

CROSSPLANE="$(crossplane_cli)"
mkdir -p "$OUTPUT"
OUTPUT="$(cd "$OUTPUT" && pwd)"

# --- runtime image without Docker ------------------------------------------------------------

build_image() { # build_image OUT.tar
	local out=$1 mirror crane port
	[[ "$(uname -m)" == x86_64 ]] || die "--with-image builds linux/amd64 images only"
	command -v mmdebstrap >/dev/null 2>&1 || die "--with-image needs mmdebstrap (apt-get install mmdebstrap)"
	command -v go >/dev/null 2>&1 || die "--with-image needs Go to build crane"
	mirror="${DEBIAN_MIRROR:-}"
	if [[ -z "$mirror" ]]; then
		mirror=http://deb.debian.org/debian
		[[ -f /etc/apt/sources.list.d/debian.sources ]] && mirror=/etc/apt/sources.list.d/debian.sources
	fi

	log "image: Debian bookworm rootfs with python3 (mmdebstrap)"
	# shellcheck disable=SC2016 # "$1" in the hook is mmdebstrap's: the root being built
	mmdebstrap --quiet --variant=essential --mode=root \
		--include=python3,libstdc++6,ca-certificates \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
		bookworm "$WORK/rootfs.tar" "$mirror"

	log "image: the xagent wheel and its cp311 manylinux dependencies (pip)"
	python3 -m pip wheel --quiet --no-deps --wheel-dir "$WORK/wheel" "$ROOT"
	python3 -m pip install --quiet --target "$WORK/app/app/site-packages" --no-compile \
		--python-version 3.11 --implementation cp --abi cp311 \
		--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --only-binary=:all: \
		"$WORK"/wheel/xagent-*.whl
	tar --sort=name --mtime=@0 --owner=65532 --group=65532 --numeric-owner \
		-C "$WORK/app" -cf "$WORK/app.tar" app

	crane="$HOME/.cache/xagent/tools/crane-$CRANE_VERSION/crane"
	if [[ ! -x "$crane" ]]; then
		log "image: building crane $CRANE_VERSION"
		GOBIN="$(dirname "$crane")" GOFLAGS=-trimpath CGO_ENABLED=0 \
			go install "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
	fi

	log "image: assembling with crane on a loopback registry"
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
	"$crane" registry serve --address "127.0.0.1:$port" >"$WORK/registry.log" 2>&1 &
	REGISTRY_PID=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	"$crane" append --insecure --oci-empty-base -f "$WORK/rootfs.tar" -f "$WORK/app.tar" \
		-t "127.0.0.1:$port/xagent/function-xagent:build" >/dev/null
	"$crane" mutate --insecure "127.0.0.1:$port/xagent/function-xagent:build" \
		--set-platform linux/amd64 --user 65532:65532 --workdir / --exposed-ports 9443/tcp \
		--entrypoint /usr/bin/python3,-m,function,serve,--address,0.0.0.0:9443 \
		--env PYTHONPATH=/app/site-packages --env PYTHONUNBUFFERED=1 \
		--env PYTHONDONTWRITEBYTECODE=1 \
		-t xagent/function-xagent:dev -o "$out" >/dev/null
	kill "$REGISTRY_PID" 2>/dev/null
	REGISTRY_PID=""
	log "image: $out"
}

# --- packages --------------------------------------------------------------------------------

fn_args=()
if ((WITH_IMAGE)); then
	build_image "$OUTPUT/function-xagent-image.tar"
	fn_args+=(--embed-runtime-image-tarball="$OUTPUT/function-xagent-image.tar")
fi

log "function package: package/function"
"$CROSSPLANE" xpkg build --package-root="$ROOT/package/function" \
	--examples-root="$ROOT/examples" "${fn_args[@]}" -o "$OUTPUT/function-xagent.xpkg"

log "configuration package: crossplane.yaml, xrds/xagent.yaml, compositions/xagent.yaml"
mkdir -p "$WORK/configuration"
cp "$ROOT/package/configuration/crossplane.yaml" "$WORK/configuration/crossplane.yaml"
cp "$ROOT/xrds/xagent.yaml" "$WORK/configuration/xrd.yaml"
cp "$ROOT/compositions/xagent.yaml" "$WORK/configuration/composition.yaml"
"$CROSSPLANE" xpkg build --package-root="$WORK/configuration" \
	--examples-root="$ROOT/examples" -o "$OUTPUT/configuration-xagent.xpkg"

echo "$OUTPUT/function-xagent.xpkg"
echo "$OUTPUT/configuration-xagent.xpkg"
