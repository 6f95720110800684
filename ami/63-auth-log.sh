#!/usr/bin/env bash
# The host's logs as files: the agent turns every SSH login and logout into an audit event by
# tailing /var/log/auth.log (`taupage agent --ssh-auth-log`, docs/ssh-access.md), and ships
# /var/log/syslog and /var/log/auth.log when `logging:` asks for them (syslog_destination,
# authlog_destination; docs/logs.md) — the agent's own log reaches syslog through journald. The
# image logs to journald only, so rsyslog is added for exactly this: it reads the journal
# (imjournal, with a cursor, so a restart neither loses nor repeats lines) and writes the auth and
# authpriv facilities to /var/log/auth.log and everything else to /var/log/syslog.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

apt-get -y -q install rsyslog

# Replaces Debian's rsyslog.conf (which also copies facilities into daemon.log, kern.log,
# messages & co.: several copies of each line besides the journal's).
cat >/etc/rsyslog.conf <<'RSYSLOG'
# taupage AMI (ami/63-auth-log.sh): sshd & co. (auth, authpriv) to /var/log/auth.log, the
# rest to /var/log/syslog; no other files.
global(workDirectory="/var/spool/rsyslog")
# The journal is the source of truth; imjournal keeps its position in the work directory.
module(load="imjournal" StateFile="imjournal.state" IgnorePreviousMessages="off")
# Traditional lines ("Nov 21 23:14:12 host sshd[123]: Accepted publickey for …"), the format
# the agent's parser reads; files root:adm 0640.
module(load="builtin:omfile" Template="RSYSLOG_TraditionalFileFormat" fileOwner="root"
       fileGroup="adm" fileCreateMode="0640" dirCreateMode="0755")
auth,authpriv.* action(type="omfile" file="/var/log/auth.log")
*.*;auth,authpriv.none action(type="omfile" file="/var/log/syslog")
RSYSLOG
chmod 0644 /etc/rsyslog.conf
# Drop-ins of other packages would bring the other files back.
rm -f /etc/rsyslog.d/*.conf
rsyslogd -N1 -f /etc/rsyslog.conf

# Rotated like the other plain files (62-logging.sh's defaults: compress, 100M max), daily,
# a week kept; rsyslog reopens the files after rotation.
cat >/etc/logrotate.d/rsyslog <<'LOGROTATE'
# taupage AMI (ami/63-auth-log.sh)
/var/log/auth.log
/var/log/syslog {
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
