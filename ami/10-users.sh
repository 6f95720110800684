#!/usr/bin/env bash
# The `application` user: containers run as 999:999 unless the config says root: true (the
# agent's --application-user default). The uid/gid is fixed so that files on volumes, EFS
# mounts and the /meta group keep meaning the same user on every instance and every release.
# Runs before any package that creates system users (docker.io creates group `docker`): Debian
# allocates system ids downwards from 999.
set -euo pipefail

readonly APP_ID=999

# free_system_id: the highest id below 999 that is neither a uid nor a gid.
free_system_id() {
  local id
  for ((id = APP_ID - 1; id >= 100; id--)); do
    if ! getent passwd "$id" >/dev/null && ! getent group "$id" >/dev/null; then
      printf '%s\n' "$id"
      return 0
    fi
  done
  return 1
}

# Debian 12's base system already hands out 999 (systemd-journal's gid on many images). The
# contract is 999, so whatever holds it moves to a free system id and its files follow.
relocate() {
  local kind="$1" name new
  if [[ "$kind" == group ]]; then
    name="$(getent group "$APP_ID" | cut -d: -f1 || true)"
  else
    name="$(getent passwd "$APP_ID" | cut -d: -f1 || true)"
  fi
  [[ -n "$name" && "$name" != application ]] || return 0
  new="$(free_system_id)"
  echo "moving $kind $name from $APP_ID to $new (999 is reserved for application)"
  if [[ "$kind" == group ]]; then
    groupmod -g "$new" "$name"
    find / -xdev -gid "$APP_ID" -exec chgrp -h "$new" {} +
  else
    usermod -u "$new" "$name"
    find / -xdev -uid "$APP_ID" -exec chown -h "$new" {} +
  fi
}

relocate group
relocate user
getent group application >/dev/null || groupadd --system --gid "$APP_ID" application
# No home, no shell: the user exists for file ownership and `docker run --user`, not for logins.
getent passwd application >/dev/null ||
  useradd --system --uid "$APP_ID" --gid "$APP_ID" --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin --comment 'taupage application containers' application

[[ "$(id -u application):$(id -g application)" == "$APP_ID:$APP_ID" ]]
