#!/usr/bin/env bash
# Base OS settings every later step relies on. Runs first, as root, in the Packer build (EC2
# builder instance or the local build container); never on a booted instance.
set -euo pipefail

# No daemon may start while the image is being built: on EC2 a started service would write
# state (logs, keys, ids) into the image, and in the build container there is no init to start
# it. Debian's maintainer scripts ask /usr/sbin/policy-rc.d first; 101 = "action forbidden".
# 90-cleanup.sh removes it again and 99-validate.sh checks that it is gone.
cat >/usr/sbin/policy-rc.d <<'POLICY'
#!/bin/sh
# Installed by the taupage AMI build (ami/00-base.sh), removed by ami/90-cleanup.sh.
exit 101
POLICY
chmod 0755 /usr/sbin/policy-rc.d

# Immutable AMI: instances never upgrade themselves in place (an upgrade is a new AMI, built,
# tested and rolled out like any release), so periodic apt jobs and unattended upgrades are off.
# No recommended packages: everything installed is named explicitly in these scripts.
cat >/etc/apt/apt.conf.d/90-taupage <<'APT'
// taupage AMI (ami/00-base.sh): immutable image, explicit package lists.
APT::Periodic::Enable "0";
APT::Periodic::Update-Package-Lists "0";
APT::Periodic::Unattended-Upgrade "0";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dpkg::Options { "--force-confdef"; "--force-confold"; };
APT

export DEBIAN_FRONTEND=noninteractive
# A mirror that cannot be reached fails the build (apt-get only warns by default).
apt-get update -q --error-on=any
# The base image's security fixes go into every release; the release cadence bounds their age.
apt-get -y -q upgrade
# Tools the agent's operators need on the host (ca-certificates: TLS to KMS and registries).
apt-get -y -q install ca-certificates curl jq less procps iproute2 sudo openssh-server systemd-sysv
