#!/usr/bin/env bash
# Builds the root filesystem of the taupage test images, offline, from a static busybox:
#   test/images/build-rootfs.sh DEST_DIR [BUSYBOX_BINARY]
# DEST_DIR is replaced by: bin/busybox plus a symlink per applet (sh, httpd, env, cat, sleep,
# echo, ls, id, wget, ...), www/ (copied from test/images/www: /health answers "ok"), /tmp
# (1777) and a minimal /etc/passwd and /etc/group (root, nobody, app=999). Everything is
# readable by any uid, so `httpd -f -p 8080 -h /www` runs as a non-root user (--user 999:999).
# scripts/test-env.sh turns it into images with `tar | docker import`.
set -euo pipefail

dest="${1:?usage: build-rootfs.sh DEST_DIR [BUSYBOX_BINARY]}"
busybox="${2:-/bin/busybox}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ! -x "$busybox" ]]; then
  echo "build-rootfs: $busybox not found (apt-get install busybox-static)" >&2
  exit 1
fi
# A dynamically linked busybox would not run in an image without libc.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build-rootfs: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi

rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/etc" "$dest/tmp" "$dest/www"
cp "$busybox" "$dest/bin/busybox"
chmod 0755 "$dest/bin/busybox"

# Every applet this busybox offers; the list must at least cover what the tests rely on.
mapfile -t applets < <("$busybox" --list)
for required in sh httpd env cat sleep echo ls; do
  if ! printf '%s\n' "${applets[@]}" | grep -qx "$required"; then
    echo "build-rootfs: $busybox has no '$required' applet" >&2
    exit 1
  fi
done
for applet in "${applets[@]}"; do
  [[ "$applet" == busybox || -z "$applet" ]] && continue
  ln -s busybox "$dest/bin/$applet"
done

cp "$here"/www/* "$dest/www/"
cat >"$dest/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
app:x:999:999:app:/tmp:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$dest/etc/group" <<'EOF'
root:x:0:
app:x:999:
nogroup:x:65534:
EOF

chmod 0755 "$dest" "$dest/bin" "$dest/etc" "$dest/www"
chmod 0644 "$dest/etc/passwd" "$dest/etc/group" "$dest"/www/*
chmod 1777 "$dest/tmp"
