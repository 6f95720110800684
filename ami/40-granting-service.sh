#!/usr/bin/env bash
# The `granting-service` user: the SSH access granting service logs in as this user to grant or
# revoke a person's temporary SSH access. Whatever it sends, sshd runs only the forced command
# `taupage ssh-access` (implemented by the agent; see the SSH access issue), as root through one
# exact sudo rule, because granting access writes other users' authorized_keys.
#
# Its key is part of the image (Packer variable granting_service_public_key) and lives outside
# any home directory (/etc/ssh/authorized_keys.d/, root-owned), so the cleanup step, which removes
# every ~/.ssh/authorized_keys, leaves it alone and the user cannot change it.
set -euo pipefail

readonly USER_NAME=granting-service
readonly KEYS_DIR=/etc/ssh/authorized_keys.d
readonly FORCED='sudo -n /usr/local/bin/taupage ssh-access'

# A real shell: sshd runs ForceCommand through the user's shell. No password (locked account).
getent passwd "$USER_NAME" >/dev/null ||
  useradd --system --create-home --home-dir /var/lib/granting-service --shell /bin/sh \
    --comment 'SSH access granting service (forced command)' "$USER_NAME"
passwd --lock "$USER_NAME" >/dev/null

install -d -o root -g root -m 0755 "$KEYS_DIR"
if [[ -n "${TAUPAGE_GRANTING_SERVICE_KEY:-}" ]]; then
  # restrict: no forwarding, no pty, no agent, no X11; command=: the forced command again, so the
  # key is useless for anything else even if the sshd Match block were lost.
  printf 'restrict,command="%s" %s\n' "$FORCED" "$TAUPAGE_GRANTING_SERVICE_KEY" >"$KEYS_DIR/$USER_NAME"
else
  # No key configured: the user exists (so the wiring is testable) but nobody can log in.
  : >"$KEYS_DIR/$USER_NAME"
fi
chown root:root "$KEYS_DIR/$USER_NAME"
chmod 0644 "$KEYS_DIR/$USER_NAME"

# Exactly one command as root, with any arguments the forced command passes on.
cat >/etc/sudoers.d/granting-service <<SUDOERS
# taupage AMI (ami/40-granting-service.sh): the forced command of the granting service.
Defaults:$USER_NAME !requiretty
# sudo's env_reset would drop the one input the forced command reads: even's request.
Defaults:$USER_NAME env_keep += "SSH_ORIGINAL_COMMAND"
$USER_NAME ALL=(root) NOPASSWD: /usr/local/bin/taupage ssh-access, /usr/local/bin/taupage ssh-access *
SUDOERS
chmod 0440 /etc/sudoers.d/granting-service
visudo -c -q -f /etc/sudoers.d/granting-service

# sshd side: its own Match block, in the last drop-in so that it cannot swallow other settings.
cat >/etc/ssh/sshd_config.d/99-granting-service.conf <<SSHD
# taupage AMI (ami/40-granting-service.sh). Keep this the last file: a Match block lasts to the
# end of its file.
Match User $USER_NAME
    AuthorizedKeysFile $KEYS_DIR/%u
    ForceCommand $FORCED
    PermitTTY no
    AllowTcpForwarding no
    AllowAgentForwarding no
    X11Forwarding no
    PermitTunnel no
SSHD
chmod 0644 /etc/ssh/sshd_config.d/99-granting-service.conf
