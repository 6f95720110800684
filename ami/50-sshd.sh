#!/usr/bin/env bash
# sshd hardening: key-only logins, no root, no forwarding, modern algorithms only. SSH is for
# operators' temporary access (granted per person by the granting service), not for automation.
set -euo pipefail

cat >/etc/ssh/sshd_config.d/50-taupage.conf <<'SSHD'
# taupage AMI (ami/50-sshd.sh). sshd uses the first value it reads for most keywords, and
# Debian's sshd_config includes sshd_config.d/*.conf at its top, so these win.
# Keys only; passwords and keyboard-interactive can be brute-forced.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
# Operators log in as themselves and use sudo (audited); root never logs in directly.
PermitRootLogin no
# One key per login attempt budget; slow clients are dropped early.
MaxAuthTries 3
LoginGraceTime 30
MaxStartups 10:30:60
# Dead sessions are closed after 10 minutes without an answer.
ClientAliveInterval 300
ClientAliveCountMax 2
# Nothing is tunnelled through the instance.
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
GatewayPorts no
PermitTunnel no
PermitUserEnvironment no
# One key file per user (not the legacy authorized_keys2 as well).
AuthorizedKeysFile .ssh/authorized_keys
# Key fingerprints of every login in the journal (audit trail).
LogLevel VERBOSE
# Only modern algorithms (no SHA-1, no CBC, no small DH groups).
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com
HostKeyAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256
SSHD
chmod 0644 /etc/ssh/sshd_config.d/50-taupage.conf

# The host keys exist at this point (openssh-server's postinst made them; 90-cleanup.sh removes
# them and taupage-ssh-host-keys.service regenerates them per instance), so the whole
# configuration can be checked now, including the granting-service Match block.
# sshd refuses to parse its config without its privilege separation dir, which lives on /run
# (made by ssh.service at runtime; absent in a build container). Created only for the check.
made_run_sshd=0
if [[ ! -d /run/sshd ]]; then
  install -d -m 0755 /run/sshd
  made_run_sshd=1
fi
sshd -t
# sshd -T prints the effective settings for a connection (keywords in lower case); a normal
# user and the granting service must see different ones.
effective() { sshd -T -C "user=$1,host=build.invalid,addr=192.0.2.1"; }
normal="$(effective admin)"
granting="$(effective granting-service)"
grep -qx 'passwordauthentication no' <<<"$normal"
grep -qx 'permitrootlogin no' <<<"$normal"
grep -qx 'authorizedkeysfile .ssh/authorized_keys' <<<"$normal"
if ! grep -qx 'forcecommand none' <<<"$normal"; then
  echo "a normal user got a forced command: the Match block leaked" >&2
  exit 1
fi
grep -qx 'forcecommand sudo -n /usr/local/bin/taupage ssh-access' <<<"$granting"
grep -qx 'authorizedkeysfile /etc/ssh/authorized_keys.d/%u' <<<"$granting"
if ((made_run_sshd)); then rmdir /run/sshd; fi
echo "sshd configuration ok"
