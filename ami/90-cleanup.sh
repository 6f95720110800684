#!/usr/bin/env bash
# Removes everything that identifies the build machine or must be unique per instance, so that
# every instance started from the image is a fresh host: host keys, machine-id, logs, shell
# history, cloud-init state, authorized_keys, build leftovers. 99-validate.sh checks each one.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
shopt -s nullglob

# Services may start normally on the instances.
rm -f /usr/sbin/policy-rc.d

# Package caches: nothing at runtime needs them. (A local build may mount a host .deb cache on
# /var/cache/apt/archives to speed up rebuilds; a mount is not part of the committed image, so
# it is left alone.)
apt-get -y -q autoremove --purge
if ! mountpoint -q /var/cache/apt/archives; then apt-get clean; fi
rm -rf /var/lib/apt/lists/*

# SSH host keys: identical keys on every instance would let one instance impersonate another.
# taupage-ssh-host-keys.service generates new ones at first boot (cloud-init does too on EC2).
rm -f /etc/ssh/ssh_host_*

# machine-id: empty (not absent), so systemd generates a new one at first boot and treats it as
# the first boot (ConditionFirstBoot). D-Bus' copy is a link to it on Debian.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
rm -f /var/lib/systemd/random-seed /var/lib/systemd/credential.secret

# cloud-init state: otherwise cloud-init thinks it already ran for this instance id and skips
# the per-instance steps (key pair, hostname) on the real instances.
if command -v cloud-init >/dev/null; then cloud-init clean --logs --seed; fi
rm -rf /var/lib/cloud/*

# authorized_keys of the build user and root: the image must not trust the builder's key pair.
# (The granting service's key in /etc/ssh/authorized_keys.d/ is part of the image on purpose.)
rm -f /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys

# Shell and tool histories of the build session.
rm -f /root/.bash_history /root/.lesshst /root/.viminfo /root/.wget-hsts \
  /home/*/.bash_history /home/*/.lesshst /home/*/.viminfo /home/*/.wget-hsts

# Logs: the build's logs describe the builder, not the instance. Files are removed, the
# directory layout (with its owners and modes) stays for the services that write there.
journalctl --rotate >/dev/null 2>&1 || true
rm -rf /var/log/journal/*
find /var/log -type f -delete
rm -f /var/lib/dhcp/*.leases

# Build leftovers (the uploads; Packer removes its own script files).
rm -rf /tmp/taupage-build /var/tmp/*
