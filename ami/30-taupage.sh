#!/usr/bin/env bash
# The agent itself: the bundle built by the pipeline (`npm run build` -> dist/: taupage.mjs and
# the chunks/ it loads on demand, self-contained, uploaded by a `file` provisioner; nothing is
# compiled or npm-installed on the instance), its systemd units, the AMI-level defaults and the
# release file.
set -euo pipefail

readonly BUILD=/tmp/taupage-build
: "${TAUPAGE_VERSION:?}" "${TAUPAGE_COMMIT:?}" "${TAUPAGE_BUILD_TIME:?}"

# Root-owned and read-only: the agent runs as root, so nobody else may change its code.
install -d -o root -g root -m 0755 /opt/taupage
install -d -o root -g root -m 0755 /opt/taupage/chunks
install -o root -g root -m 0644 "$BUILD/dist/taupage.mjs" /opt/taupage/taupage.mjs
# Source maps stay in the pipeline's artifacts: the instance only needs the code.
install -o root -g root -m 0644 "$BUILD"/dist/chunks/*.mjs /opt/taupage/chunks/

# `taupage` on the PATH: operators (taupage validate/plan) and the granting-service forced
# command (taupage ssh-access) use the same bundle and the same Node as the agent.
cat >/usr/local/bin/taupage <<'WRAPPER'
#!/bin/sh
# Installed by the taupage AMI build (ami/30-taupage.sh).
exec /usr/local/bin/node /opt/taupage/taupage.mjs "$@"
WRAPPER
chmod 0755 /usr/local/bin/taupage
/usr/local/bin/taupage version

# Node's compile cache (docs/ami.md): the V8 code of every module of the bundle, built once here
# with the agent's node, read at every boot (taupage.service: NODE_COMPILE_CACHE; every module
# is a hit, so the agent writes nothing there). The cache is keyed by Node's version
# and V8's code-generation flags (the unit's heap-size flags are not among them: checked).
install -d -o root -g root -m 0755 /opt/taupage/compile-cache
NODE_COMPILE_CACHE=/opt/taupage/compile-cache /usr/local/bin/node "$BUILD/files/prime-compile-cache.mjs" /opt/taupage

# Units and drop-ins from systemd/ in the repository, as they are.
install -o root -g root -m 0644 "$BUILD"/systemd/*.service "$BUILD"/systemd/*.timer /etc/systemd/system/
for dropin in "$BUILD"/systemd/*.d; do
  [[ -d "$dropin" ]] || continue
  install -d -m 0755 "/etc/systemd/system/$(basename "$dropin")"
  install -o root -g root -m 0644 "$dropin"/*.conf "/etc/systemd/system/$(basename "$dropin")/"
done
# The expiry timer ends SSH grants on time even while the agent is down (docs/ssh-access.md).
systemctl enable taupage.service taupage-ssh-host-keys.service taupage-ssh-expiry.timer

# AMI-level defaults (organisation settings); user data keys replace these at boot.
install -d -o root -g root -m 0755 /etc/taupage
install -o root -g root -m 0644 "$BUILD/defaults.yaml" /etc/taupage/defaults.yaml
# /meta (taupage.yaml for host tools and, read-only, for the container) is part of the image's
# layout; the agent fills it at boot.
install -d -o root -g root -m 0755 /meta

# Which release an instance runs, without asking AWS (original taupage issue #473).
cat >/etc/taupage-release <<RELEASE
TAUPAGE_VERSION=${TAUPAGE_VERSION}
TAUPAGE_COMMIT=${TAUPAGE_COMMIT}
TAUPAGE_BUILD_TIME=${TAUPAGE_BUILD_TIME}
RELEASE
chmod 0644 /etc/taupage-release
cat /etc/taupage-release
