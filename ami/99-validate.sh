#!/usr/bin/env bash
# The last step of every build: asserts what the image promises, so a broken step fails the
# build instead of shipping. First that the cleanup really cleaned (each item of 90-cleanup.sh),
# then that what the earlier steps installed is in place. Prints every failure, then exits 1.
set -euo pipefail
shopt -s nullglob

failures=0
fail() {
  echo "VALIDATE FAILED: $*" >&2
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }
check() {
  local what="$1"
  shift
  if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
# none PATH...: none of the paths exists (globs that match nothing vanish under nullglob; plain
# paths stay and are tested).
none() {
  local path
  for path in "$@"; do
    if [[ -e "$path" || -L "$path" ]]; then return 1; fi
  done
  return 0
}

# --- cleanup guarantees --------------------------------------------------------------------------
{
  check "no SSH host keys" none /etc/ssh/ssh_host_*
  check "no authorized_keys in home directories" none /root/.ssh/authorized_keys /home/*/.ssh/authorized_keys
  check "no shell history" none /root/.bash_history /home/*/.bash_history
  check "no cloud-init state" none /var/lib/cloud/*
  check "no journal files" none /var/log/journal/*
}
check "machine-id exists and is empty" test -f /etc/machine-id -a ! -s /etc/machine-id
logs="$(find /var/log -type f | head -n 5)"
if [[ -z "$logs" ]]; then pass "no log files"; else fail "log files left: $logs"; fi
check "no policy-rc.d (services may start)" test ! -e /usr/sbin/policy-rc.d
check "no build uploads" test ! -e /tmp/taupage-build
check "no agent.env (test overrides never ship)" test ! -e /etc/taupage/agent.env

# --- what the image provides ---------------------------------------------------------------------
check "application is 999:999" test "$(id -u application):$(id -g application)" = 999:999
check "granting-service user exists" id granting-service
check "Node.js is the pinned v${TAUPAGE_NODE_VERSION:-?}" test "$(/usr/local/bin/node --version)" = "v${TAUPAGE_NODE_VERSION:-?}"
check "taupage runs" /usr/local/bin/taupage version
# Node names the cache's directory after its version, the architecture and V8's flags.
compile_cache_built() {
  local dir
  for dir in /opt/taupage/compile-cache/"v${TAUPAGE_NODE_VERSION:-?}"-x64-*/; do
    [[ -n "$(ls -A "$dir")" ]] && return 0
  done
  return 1
}
check "compile cache built for Node.js v${TAUPAGE_NODE_VERSION:-?}" compile_cache_built
check "taupage.service enabled" test -L /etc/systemd/system/multi-user.target.wants/taupage.service
check "docker.service enabled" test -L /etc/systemd/system/multi-user.target.wants/docker.service
check "etcd (etcd_discovery_domain) has the v2 API" sh -c '/usr/bin/etcd --help 2>&1 | grep -q -- --enable-v2'
check "etcd.service masked (the agent runs etcd when a config asks)" test "$(readlink /etc/systemd/system/etcd.service)" = /dev/null
check "rsyslog enabled (auth.log, syslog)" test -L /etc/systemd/system/multi-user.target.wants/rsyslog.service
check "SSH grant expiry timer enabled" test -L /etc/systemd/system/timers.target.wants/taupage-ssh-expiry.timer
check "unit files are valid" systemd-analyze verify --man=no /etc/systemd/system/taupage.service /etc/systemd/system/taupage-ssh-expiry.service /etc/systemd/system/taupage-ssh-expiry.timer
# Parsed and checked key by key as the agent reads it at boot (a typo such as `root: maybe` fails
# the build here, not every instance's boot); the output names the key and line.
if out="$(/usr/local/bin/taupage validate --defaults /etc/taupage/defaults.yaml 2>&1)"; then
  pass "defaults file is a valid TaupageConfig base"
else
  fail "defaults file is a valid TaupageConfig base: $out"
fi
for key in TAUPAGE_VERSION TAUPAGE_COMMIT TAUPAGE_BUILD_TIME; do
  check "/etc/taupage-release has $key" grep -q "^$key=." /etc/taupage-release
done
check "/etc/taupage-release version is ${TAUPAGE_VERSION:-?}" grep -qx "TAUPAGE_VERSION=${TAUPAGE_VERSION:-?}" /etc/taupage-release
check "mdadm installed (volumes.raid)" command -v mdadm
check "md RAID modules loaded at boot" grep -qx md_mod /etc/modules-load.d/taupage-raid.conf
check "no md auto-assembly at boot (the agent assembles volumes.raid)" grep -qx "AUTO -all" /etc/mdadm/mdadm.conf
check "mdmonitor has an address (it fails without)" grep -q "^MAILADDR " /etc/mdadm/mdadm.conf
check "sysctl baseline installed" test -s /etc/sysctl.d/60-taupage.conf
check "audit rules installed" test -s /etc/audit/rules.d/50-taupage.rules
check "sshd hardening installed" test -s /etc/ssh/sshd_config.d/50-taupage.conf

if ((failures > 0)); then
  echo "$failures validation(s) failed" >&2
  exit 1
fi
echo "image validated"
