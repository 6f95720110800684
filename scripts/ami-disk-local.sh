#!/usr/bin/env bash
# Turns the local AMI build (scripts/ami-build-local.sh: packer's docker.local source, the same
# provisioners as the amazon-ebs AMI) into a disk a virtual machine boots from, so that the
# image's own kernel, systemd, dockerd and containerd run as on an instance (test/vm/,
# bench/instance-boot.ts).
#
#   scripts/ami-disk-local.sh        (root; uses DOCKER_HOST, e.g. the test environment's)
#
# Prints the directory holding the disk on stdout (progress on stderr):
#   root.raw      ext4 file system of the whole image (no partition table), label taupage-root
#   vmlinuz       the image's Debian cloud kernel (linux-image-cloud-amd64, from the base)
#   initrd.img    its initramfs (built by initramfs-tools in the base)
#   disk.env      IMAGE_ID, KERNEL_VERSION, INPUT_KEY, BUILD_SECONDS
#
# Cached in CACHE_DIR/vm/<key> (TAUPAGE_AMI_CACHE, default /var/tmp/taupage-ami-cache), keyed by
# everything the image is made from (dist/, ami/, systemd/, packer.pkr.hcl, these scripts, the
# Node.js binary), so a second run with the same inputs boots the same disk without a packer
# build. The git commit is not part of the key: /etc/taupage-release of a cached disk names the
# commit that built it. TAUPAGE_AMI_DISK_REBUILD=1 forces a new build.
#
# Why a script rather than a third Packer source (qemu builder): the qemu builder starts from an
# ISO or a cloud image and provisions over SSH inside a VM. This machine reaches only Debian's
# package mirror (no cloud.debian.org images), and provisioning under software emulation would
# take far longer than the docker build; converting the docker source's result keeps ONE
# provisioning run for both the container test and the VM test.
#
# What the conversion adds is what makes a rootfs a machine and is not the AMI's business on EC2
# (there the EC2 base and cloud-init provide it): an fstab for the root file system, DHCP on the
# first network interface through systemd-networkd (part of Debian's systemd package), and
# /etc/hosts, /etc/hostname, /etc/resolv.conf instead of the empty files Docker leaves. Nothing
# else: no test setting reaches the disk (test endpoints come through the kernel command line,
# see test/vm/support/vm.ts). The disk boots by direct kernel boot (QEMU -kernel/-initrd); on EC2
# the AMI boots through its own boot loader.
set -Eeuo pipefail
trap 'printf "ami-disk-local: ERROR: command failed (line %s, status %s): %s\n" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly CACHE_DIR="${TAUPAGE_AMI_CACHE:-/var/tmp/taupage-ami-cache}"
readonly DISK_SIZE="${TAUPAGE_AMI_DISK_SIZE:-6G}"

log() { printf 'ami-disk-local: %s\n' "$*" >&2; }
die() {
  printf 'ami-disk-local: ERROR: %s\n' "$*" >&2
  exit 1
}

[[ $EUID -eq 0 ]] || die "must run as root (the image's files keep their owners)"
cd "$REPO_ROOT"
[[ -s dist/taupage.mjs ]] || die "dist/taupage.mjs is missing: run npm run build first"

# --- 1. tools ------------------------------------------------------------------------------------
missing=()
command -v mkfs.ext4 >/dev/null || missing+=(e2fsprogs)
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v qemu-img >/dev/null || missing+=(qemu-utils)
command -v socat >/dev/null || missing+=(socat) # IMDS at 169.254.169.254 (QEMU guestfwd)
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}" </dev/null >&2
fi

# --- 2. cache key ----------------------------------------------------------------------------------
key="$(
  {
    find dist ami systemd -type f -print0 | sort -z | xargs -0 sha256sum
    sha256sum packer.pkr.hcl package.json scripts/ami-build-local.sh scripts/ami-disk-local.sh package-lock.json # package-lock.json pins the image's node
    echo "$DISK_SIZE v1"
  } | sha256sum | cut -c1-16
)"
readonly vm_dir="$CACHE_DIR/vm/$key"
mkdir -p "$CACHE_DIR/vm"
exec 8>"$CACHE_DIR/vm/disk.lock"
flock -w 1200 8 || die "another conversion holds $CACHE_DIR/vm/disk.lock for more than 20 min"
if [[ -s "$vm_dir/disk.env" && "${TAUPAGE_AMI_DISK_REBUILD:-0}" != 1 ]]; then
  log "cached: $vm_dir ($(grep IMAGE_ID "$vm_dir/disk.env"))"
  printf '%s\n' "$vm_dir"
  exit 0
fi

# --- 3. the image --------------------------------------------------------------------------------
started=$(date +%s)
image_id="$(bash scripts/ami-build-local.sh | tail -n 1)"
[[ "$image_id" == sha256:* ]] || die "scripts/ami-build-local.sh printed no image id"

# --- 4. rootfs -------------------------------------------------------------------------------------
work="$CACHE_DIR/vm/$key.tmp"
rm -rf "$work"
mkdir -p "$work/rootfs"
container="$(docker create "$image_id" /bin/true)"
docker export "$container" | tar --numeric-owner --xattrs --xattrs-include='*' -xpf - -C "$work/rootfs"
docker rm "$container" >/dev/null
root="$work/rootfs"
# Docker's traces: a container marker (systemd-detect-virt would call the machine a container)
# and the files it bind-mounts at run time, left empty in the export.
rm -f "$root/.dockerenv"
printf 'taupage\n' >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\ttaupage\n' >"$root/etc/hosts"
# Without systemd-resolved, networkd does not write resolv.conf: the DHCP server's resolver
# (QEMU's user network) as a static file, like an EC2 VPC's .2 resolver.
printf 'nameserver 169.254.0.3\n' >"$root/etc/resolv.conf"
printf 'LABEL=taupage-root / ext4 defaults,discard,errors=remount-ro 0 1\n' >"$root/etc/fstab"
install -d -m 0755 "$root/etc/systemd/network"
cat >"$root/etc/systemd/network/80-ec2-dhcp.network" <<'NETWORK'
# ami-disk-local.sh: the machine's first interface on DHCP, as EC2's base image configures it.
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
NETWORK
ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
install -d "$root/etc/systemd/system/network-online.target.wants" "$root/etc/systemd/system/sockets.target.wants"
ln -sf /lib/systemd/system/systemd-networkd-wait-online.service \
  "$root/etc/systemd/system/network-online.target.wants/systemd-networkd-wait-online.service"
ln -sf /lib/systemd/system/systemd-networkd.socket "$root/etc/systemd/system/sockets.target.wants/systemd-networkd.socket"

kernel="$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n 1)"
[[ -n "$kernel" ]] || die "no kernel in the image's /boot (the base needs linux-image-cloud-amd64)"
kernel_version="${kernel##*/vmlinuz-}"
[[ -s "$root/boot/initrd.img-$kernel_version" ]] || die "no initramfs for $kernel_version in the image"
cp "$kernel" "$work/vmlinuz"
cp "$root/boot/initrd.img-$kernel_version" "$work/initrd.img"

# --- 5. the disk ---------------------------------------------------------------------------------
truncate -s "$DISK_SIZE" "$work/root.raw"
mkfs.ext4 -q -F -L taupage-root -E root_owner=0:0 -d "$root" "$work/root.raw" >&2
rm -rf "$root"
build_seconds=$(($(date +%s) - started))
printf 'IMAGE_ID=%s\nKERNEL_VERSION=%s\nINPUT_KEY=%s\nBUILD_SECONDS=%s\n' \
  "$image_id" "$kernel_version" "$key" "$build_seconds" >"$work/disk.env"
rm -rf "$vm_dir"
mv "$work" "$vm_dir"
# Older disks of this cache: only the newest few are kept (each is ~1.5 GB of data).
find "$CACHE_DIR/vm" -mindepth 1 -maxdepth 1 -type d -not -name '*.tmp' -printf '%T@ %p\n' |
  sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
log "disk of $image_id (kernel $kernel_version) in ${build_seconds}s: $vm_dir"
printf '%s\n' "$vm_dir"
