#!/usr/bin/env bash
# etcd for `etcd_discovery_domain` (the original's /opt/etcd, etcd 2.0.11, not checksum-verified):
# Debian's etcd-server (3.4, from the same signed archive as the rest of the OS) with the v2 API
# the original's users speak. The agent itself runs it, only for a config that sets the key (a
# proxy to the cluster the domain's DNS SRV records name, or a single node for `disable`; see
# docs/etcd.md): the packaged etcd.service stays off, or every instance would run an etcd
# member on :2379.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get -y -q install etcd-server
systemctl disable etcd.service
systemctl mask etcd.service
# The package's own data dir is unused: the agent's etcd keeps its data in /var/lib/taupage/etcd.
rm -rf /var/lib/etcd/*
