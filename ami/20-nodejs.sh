#!/usr/bin/env bash
# Node.js runtime for the bundled agent (/opt/taupage/taupage.mjs needs Node >= 20: it uses
# AbortSignal.any, and package.json says engines.node >= 20).
#
# Why an uploaded binary and not apt: Debian 12's `nodejs` is 18, too old, and bookworm has no
# Node 20 in its archive; a third-party apt repository (NodeSource) would put another signing key
# and another moving target into the image. The pipeline uploads one Node binary (a `file`
# provisioner: the official linux-x64 build, or the build host's, see docs/ami.md) together with
# its SHA-256 (Packer variable node_sha256), so what is installed is exactly what was pinned.
set -euo pipefail

readonly SRC=/tmp/taupage-build/node
readonly DEST=/usr/local/bin/node

[[ -n "${TAUPAGE_NODE_SHA256:-}" ]] || {
  echo "TAUPAGE_NODE_SHA256 is empty: refusing an unverified Node.js binary" >&2
  exit 1
}
echo "${TAUPAGE_NODE_SHA256}  ${SRC}" | sha256sum --check --strict -
install -o root -g root -m 0755 "$SRC" "$DEST"

version="$("$DEST" --version)"
major="${version#v}"
major="${major%%.*}"
if ((major < 20)); then
  echo "Node.js $version is too old: the agent needs >= 20" >&2
  exit 1
fi
# The API the agent depends on, checked with the installed binary and the image's libraries.
"$DEST" -e 'if (typeof AbortSignal.any !== "function") process.exit(1)'
echo "installed Node.js $version at $DEST"
