#!/usr/bin/env bash
# auditd: a tamper-evident record of who changed what on the host (identities, sudo, SSH and
# Docker configuration, the agent's own files) and every command run by a logged-in person. The
# original Taupage audited every execve; that floods the log with the app's own processes, so
# here only commands of login sessions (auid set) are recorded.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get -y -q install auditd

cat >/etc/audit/rules.d/50-taupage.rules <<'RULES'
## taupage AMI (ami/61-auditd.sh)
# Identities and privileges.
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
-w /etc/shadow -p wa -k identity
-w /etc/gshadow -p wa -k identity
-w /etc/sudoers -p wa -k privileges
-w /etc/sudoers.d/ -p wa -k privileges
# Remote access.
-w /etc/ssh/sshd_config -p wa -k sshd
-w /etc/ssh/sshd_config.d/ -p wa -k sshd
-w /etc/ssh/authorized_keys.d/ -p wa -k sshd
# The container engine: whoever talks to it is root.
-w /etc/docker/ -p wa -k docker
-w /usr/bin/dockerd -p x -k docker
-w /run/docker.sock -p rwa -k docker
# The agent: its code, its unit, its defaults.
-w /opt/taupage/ -p wa -k taupage
-w /etc/taupage/ -p wa -k taupage
-w /etc/systemd/system/taupage.service -p wa -k taupage
# Kernel modules and time.
-a always,exit -F arch=b64 -S init_module,finit_module,delete_module -k modules
-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -k time
# Every command a person runs (login sessions have an auid; daemons and containers do not).
-a always,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=unset -k exec
-a always,exit -F arch=b64 -S execve -F auid=0 -k exec
RULES
chmod 0600 /etc/audit/rules.d/50-taupage.rules

# auditd rotates its own log (logrotate must not: auditd keeps the file open and signs it off);
# 8 x 50 MB caps it on the root volume.
sed -i -E \
  -e 's/^max_log_file = .*/max_log_file = 50/' \
  -e 's/^num_logs = .*/num_logs = 8/' \
  -e 's/^max_log_file_action = .*/max_log_file_action = ROTATE/' \
  /etc/audit/auditd.conf
grep -qx 'max_log_file_action = ROTATE' /etc/audit/auditd.conf

systemctl enable auditd.service
