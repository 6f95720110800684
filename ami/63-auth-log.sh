#!/usr/bin/env bash
# sshd's log as a file: the agent turns every SSH login and logout into an audit event by
# tailing /var/log/auth.log (`taupage agent --ssh-auth-log`, docs/ssh-access.md). The image logs
# to journald only, so rsyslog is added for exactly this: it reads the journal (imjournal, with a
# cursor, so a restart neither loses nor repeats lines) and writes the auth and authpriv
# facilities, nothing else, to /var/log/auth.log. Everything else stays in the journal only.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get -y -q install rsyslog

# Replaces Debian's rsyslog.conf (which copies every facility into /var/log/syslog & co. and
# doubles the disk use of the journal).
cat >/etc/rsyslog.conf <<'RSYSLOG'
# taupage AMI (ami/63-auth-log.sh): only sshd & co. (auth, authpriv) to /var/log/auth.log.
global(workDirectory="/var/spool/rsyslog")
# The journal is the source of truth; imjournal keeps its position in the work directory.
module(load="imjournal" StateFile="imjournal.state" IgnorePreviousMessages="off")
# Traditional lines ("Nov 21 23:14:12 host sshd[123]: Accepted publickey for …"), the format
# the agent's parser reads; files root:adm 0640.
module(load="builtin:omfile" Template="RSYSLOG_TraditionalFileFormat" fileOwner="root"
       fileGroup="adm" fileCreateMode="0640" dirCreateMode="0755")
auth,authpriv.* action(type="omfile" file="/var/log/auth.log")
RSYSLOG
chmod 0644 /etc/rsyslog.conf
# Drop-ins of other packages would bring the other files back.
rm -f /etc/rsyslog.d/*.conf
rsyslogd -N1 -f /etc/rsyslog.conf

# Rotated like the other plain files (62-logging.sh's defaults: compress, 100M max), daily,
# a week kept; rsyslog reopens the file after rotation.
cat >/etc/logrotate.d/rsyslog <<'LOGROTATE'
# taupage AMI (ami/63-auth-log.sh)
/var/log/auth.log {
    daily
    rotate 7
    missingok
    notifempty
    sharedscripts
    postrotate
        /usr/lib/rsyslog/rsyslog-rotate
    endscript
}
LOGROTATE
chmod 0644 /etc/logrotate.d/rsyslog

systemctl enable rsyslog.service
