#!/usr/bin/env bash
# Docker engine: the agent runs the application as a container through the engine's socket.
# Debian's docker.io (20.10, security-supported by Debian for bookworm's lifetime) rather than
# docker-ce: it comes from the same signed archive as the rest of the OS, so no third-party
# apt repository or key is baked into the image.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get -y -q install docker.io
# AppArmor: Debian's kernel enables it, and dockerd then loads its docker-default profile with
# apparmor_parser; without the parser it refuses to start any container ("AppArmor enabled on
# system but the docker-default profile could not be loaded"). docker.io only recommends
# apparmor and this image installs no recommends. Found by booting the image as a machine
# (test/vm/); the container boot test runs on the host's kernel and cannot see it.
apt-get -y -q install apparmor

install -d -m 0755 /etc/docker
# - live-restore: restarting or upgrading dockerd does not kill the application container.
# - log limits: container stdout is kept on disk by json-file; without a cap one chatty app
#   fills the root volume (the agent's own logs go to journald, which caps itself).
# - no-new-privileges: setuid binaries in images cannot gain privileges (the app runs as 999).
# - icc false: containers on the default bridge cannot talk to each other unless published.
cat >/etc/docker/daemon.json <<'JSON'
{
  "live-restore": true,
  "log-driver": "json-file",
  "log-opts": { "max-size": "50m", "max-file": "5" },
  "no-new-privileges": true,
  "icc": false
}
JSON

# Started by systemd at boot (taupage.service requires it); never during the build.
systemctl enable docker.service containerd.service
