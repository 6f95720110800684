#!/usr/bin/env bash
# Where logs live and how big they may get. The agent logs JSON lines to journald (its unit
# sends stdout there); containers log through Docker's json-file driver with a size cap
# (15-docker.sh); auditd rotates its own log (61-auditd.sh). What remains as plain files on disk
# (dpkg, apt, wtmp/btmp) is rotated by logrotate.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get -y -q install logrotate

# Persistent journal (survives reboots: the boot that failed is the one worth reading), capped
# so that it never fills the root volume.
install -d -m 0755 /etc/systemd/journald.conf.d
cat >/etc/systemd/journald.conf.d/50-taupage.conf <<'JOURNALD'
# taupage AMI (ami/62-logging.sh)
[Journal]
Storage=persistent
SystemMaxUse=1G
SystemKeepFree=2G
MaxRetentionSec=30day
# Protects against a crash-looping service flooding the journal, without losing normal bursts.
RateLimitIntervalSec=30s
RateLimitBurst=10000
JOURNALD

# Compress rotated files and rotate early when one grows fast, for every file logrotate knows.
cat >/etc/logrotate.d/00-taupage <<'LOGROTATE'
# taupage AMI (ami/62-logging.sh): defaults for every logrotate rule (files sort after this one).
compress
delaycompress
maxsize 100M
LOGROTATE
chmod 0644 /etc/logrotate.d/00-taupage
logrotate --debug /etc/logrotate.conf >/dev/null 2>&1

systemctl enable logrotate.timer
