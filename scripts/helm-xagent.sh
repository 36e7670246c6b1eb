#!/usr/bin/env bash
# The command behind `helm xagent ...` (plugin.yaml): runs the xagent CLI with the arguments
# helm passes after the plugin name. helm strips its own global flags (--namespace,
# --kube-context, --debug) and sets HELM_PLUGIN_DIR to where the plugin is installed.
#
# xagent is looked up in $HELM_PLUGIN_DIR/.venv/bin (a venv made for the plugin, or the
# repository's own .venv when the plugin is this checkout), then on PATH.
set -euo pipefail

plugin_dir="${HELM_PLUGIN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

if [[ -x "$plugin_dir/.venv/bin/xagent" ]]; then
	exec "$plugin_dir/.venv/bin/xagent" "$@"
elif command -v xagent >/dev/null 2>&1; then
	exec xagent "$@"
fi

printf '%s\n' \
	"helm xagent: the xagent CLI is not installed (looked in $plugin_dir/.venv/bin and on PATH)." \
	"Install it for the plugin:" \
	"  python3 -m venv \"$plugin_dir/.venv\" && \"$plugin_dir/.venv/bin/pip\" install \"$plugin_dir\"" \
	"or install xagent anywhere on PATH (pip install <path to the xagent repository>)." >&2
exit 127
