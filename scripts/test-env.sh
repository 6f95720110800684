#!/usr/bin/env bash
# The test environment for taupage's integration and e2e tests, on one Debian 12 host (root):
#
#   scripts/test-env.sh up             packages, private dockerd, two registries, test images
#   scripts/test-env.sh ensure-docker  packages and the private dockerd only (no registries)
#   scripts/test-env.sh down           stop what `up` started (keeps packages, images, registry data)
#   scripts/test-env.sh status         one line per component; exit 0 when all are up, else 3
#
# Everything lives in ENV_DIR (TAUPAGE_TEST_ENV_DIR, default /var/tmp/taupage-test-env, must be
# on ext4/xfs for overlay2). `up` and `ensure-docker` print the path of ENV_DIR/env.sh on stdout
# (all progress goes to stderr), so `source "$(scripts/test-env.sh up)"` works. env.sh exports:
#   DOCKER_HOST                      unix://ENV_DIR/docker.sock (our dockerd, never the system one)
#   TAUPAGE_TEST_ENV_DIR             ENV_DIR
#   and, when the registries run (after `up`):
#   TAUPAGE_TEST_REGISTRY            127.0.0.1:5000, no auth
#   TAUPAGE_TEST_AUTH_REGISTRY       127.0.0.1:5001, htpasswd (basic) auth
#   TAUPAGE_TEST_REGISTRY_USER       user for the auth registry
#   TAUPAGE_TEST_REGISTRY_PASSWORD   its password (random, generated once, kept in ENV_DIR)
#   TAUPAGE_TEST_IMAGE               127.0.0.1:5000/taupage-test/httpd:1.0 (also tag 1.1, same image)
#   TAUPAGE_TEST_AUTH_IMAGE          127.0.0.1:5001/taupage-test/httpd:1.0
#   TAUPAGE_TEST_EXIT_IMAGE          127.0.0.1:5000/taupage-test/exit:1.0 (prints "started", exits 3)
# The httpd image serves /www on port 8080 (GET /health -> "ok"), runs as any uid (e.g. 999).
#
# Design notes:
# - The dockerd gets its own socket, data/exec roots, pidfile, an empty --config-file (ignores
#   /etc/docker/daemon.json), its own containerd namespace and its own bridge (taupage0), so it
#   never fights a system docker.service over docker0. It runs with --iptables=false: dockerd
#   flushes the shared DOCKER iptables chains at start-up, so two daemons with iptables on break
#   each other's DNAT rules; published ports work through docker-proxy (userland proxy) instead
#   and the host's firewall rules are left untouched (dockerd does set net.ipv4.ip_forward=1,
#   as any dockerd; without it every container create warns "IPv4 forwarding is disabled").
# - Daemons are started with setsid, stdin/stdout/stderr redirected (logs in ENV_DIR/*.log), no
#   inherited lock or stdout fds, and tracked by pidfile + command line, so `down` stops exactly
#   what `up` started.
set -Eeuo pipefail
trap 'printf "test-env: ERROR: command failed (line %s, status %s): %s\n" "$LINENO" "$?" "$BASH_COMMAND" >&2' ERR

readonly ENV_DIR="${TAUPAGE_TEST_ENV_DIR:-/var/tmp/taupage-test-env}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly SOCK="$ENV_DIR/docker.sock"
readonly DOCKER_PIDFILE="$ENV_DIR/dockerd.pid"
readonly DOCKER_EXEC_ROOT="$ENV_DIR/docker-exec"
readonly BRIDGE="${TAUPAGE_TEST_BRIDGE:-taupage0}"
readonly BRIDGE_CIDR="${TAUPAGE_TEST_BRIDGE_CIDR:-172.31.250.1/24}"
readonly BRIDGE_MARKER="$ENV_DIR/bridge.created"
readonly STORAGE_DRIVER="${TAUPAGE_TEST_STORAGE_DRIVER:-overlay2}"
readonly ENV_FILE="$ENV_DIR/env.sh"
readonly CLI_CONFIG="$ENV_DIR/docker-config" # throwaway DOCKER_CONFIG, never ~/.docker
readonly OPEN_ADDR=127.0.0.1:5000
readonly AUTH_ADDR=127.0.0.1:5001
readonly REGISTRY_USER=taupage-test
readonly AUTH_DIR="$ENV_DIR/registry-auth"
readonly PASSWORD_FILE="$AUTH_DIR/password"
readonly HTPASSWD_FILE="$AUTH_DIR/htpasswd"
readonly BUSYBOX="${TAUPAGE_TEST_BUSYBOX:-/bin/busybox}"
readonly IMAGE_STAMP="$ENV_DIR/images.stamp"
readonly HTTPD_CMD='CMD ["/bin/httpd","-f","-v","-p","8080","-h","/www"]'
readonly EXIT_CMD='CMD ["/bin/sh","-c","echo started; exit 3"]'
readonly HTTPD_IMAGE="$OPEN_ADDR/taupage-test/httpd:1.0"
readonly HTTPD_IMAGE_NEXT="$OPEN_ADDR/taupage-test/httpd:1.1"
readonly AUTH_HTTPD_IMAGE="$AUTH_ADDR/taupage-test/httpd:1.0"
readonly EXIT_IMAGE="$OPEN_ADDR/taupage-test/exit:1.0"
readonly ALL_IMAGES=("$HTTPD_IMAGE" "$HTTPD_IMAGE_NEXT" "$AUTH_HTTPD_IMAGE" "$EXIT_IMAGE")
readonly SMOKE_CONTAINER=taupage-test-env-smoke

# The docker CLI must only ever talk to our daemon, with our throwaway config.
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export DOCKER_HOST="unix://$SOCK"
export DOCKER_CONFIG="$CLI_CONFIG"

log() { printf 'test-env: %s\n' "$*" >&2; }
die() {
  printf 'test-env: ERROR: %s\n' "$*" >&2
  exit 1
}
d() { docker -H "unix://$SOCK" "$@"; }
now() { date +%s; }

# --- generic process helpers -------------------------------------------------------------------

# proc_alive PID: the process exists and is not a zombie (a daemon whose parent died can stay a
# zombie for a while when PID 1 is slow to reap, as in some VMs and containers).
proc_alive() {
  local stat
  kill -0 "$1" 2>/dev/null || return 1
  { stat="$(<"/proc/$1/stat")"; } 2>/dev/null || return 1
  stat="${stat##*) }"
  [[ "${stat%% *}" != Z ]]
}

# pid_matching PIDFILE NEEDLE: prints the pid when PIDFILE names a live process whose command
# line contains NEEDLE (so a recycled pid is never mistaken for ours).
pid_matching() {
  local pidfile="$1" needle="$2" pid cmdline
  [[ -r "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  proc_alive "$pid" || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$needle"* ]] || return 1
  printf '%s\n' "$pid"
}

# stop_pids TIMEOUT_SECONDS NAME=PID...: SIGTERM to all at once, wait with a deadline, then
# SIGKILL whatever is left.
stop_pids() {
  local timeout="$1" deadline entry alive
  shift
  for entry in "$@"; do
    log "stopping ${entry%=*} (pid ${entry##*=})"
    kill -TERM "${entry##*=}" 2>/dev/null || true
  done
  deadline=$(($(now) + timeout))
  while :; do
    alive=()
    for entry in "$@"; do
      if proc_alive "${entry##*=}"; then alive+=("$entry"); fi
    done
    ((${#alive[@]} > 0)) || return 0
    (($(now) < deadline)) || break
    sleep 0.1
  done
  for entry in "${alive[@]}"; do
    log "${entry%=*} (pid ${entry##*=}) did not stop within ${timeout}s, sending SIGKILL"
    kill -KILL "${entry##*=}" 2>/dev/null || true
  done
  sleep 0.2
}

# port_owner ADDR: prints the listener on ADDR (host:port), if any.
port_owner() {
  ss -Hltnp "sport = :${1##*:}" 2>/dev/null || true
}

# --- 1. packages -------------------------------------------------------------------------------

missing_packages() {
  local missing=()
  { command -v dockerd && command -v docker; } >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
  [[ "$(dpkg-query -W -f='${db:Status-Status}' busybox-static 2>/dev/null || true)" == installed ]] ||
    missing+=(busybox-static)
  command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  { command -v ip && command -v ss; } >/dev/null 2>&1 || missing+=(iproute2)
  # The metrics tests compare /metrics with node_exporter's on the same host; the status page
  # is rendered in headless Chromium.
  [[ -x /usr/bin/prometheus-node-exporter ]] || missing+=(prometheus-node-exporter)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  # The SSH access tests run their own sshd (loopback, high port) and the real ssh client.
  [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
  command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
  # Host preparation (issue 9) formats and mounts loop devices; RAID needs mdadm (and the md
  # kernel module, which some kernels lack: those tests say so and skip).
  command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
  command -v mkfs.xfs >/dev/null 2>&1 || missing+=(xfsprogs)
  command -v mdadm >/dev/null 2>&1 || missing+=(mdadm)
  # The remote syslog destination is tested against Debian's rsyslog (TCP and TLS).
  command -v rsyslogd >/dev/null 2>&1 || missing+=(rsyslog)
  # The image booted as a virtual machine (test/vm/, bench/instance-boot): QEMU, its disk tools,
  # socat for IMDS at 169.254.169.254 (QEMU guestfwd); packer and debootstrap build the image.
  command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
  command -v qemu-img >/dev/null 2>&1 || missing+=(qemu-utils)
  command -v socat >/dev/null 2>&1 || missing+=(socat)
  command -v packer >/dev/null 2>&1 || missing+=(packer)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  [[ "$(dpkg-query -W -f='${db:Status-Status}' rsyslog-gnutls 2>/dev/null || true)" == installed ]] ||
    missing+=(rsyslog-gnutls)
  # etcd registration (etcd_discovery_domain) is tested against Debian's etcd (3.4, v2 API with
  # --enable-v2); each test starts its own instance on free ports.
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  if ((${#missing[@]} > 0)); then printf '%s\n' "${missing[@]}"; fi
}

ensure_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} > 0)) || return 0
  [[ $EUID -eq 0 ]] || die "must run as root to install: ${missing[*]}"
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # fd 3 (our real stdout) and fd 9 (the lock) are closed for apt: services it may start must
  # not hold them open.
  apt-get update -q </dev/null >&2 3>&- 9>&-
  apt-get install -y -q "${missing[@]}" </dev/null >&2 3>&- 9>&-
  # Debian starts the packaged registry on :5000 (all interfaces), which would take our port;
  # it was installed only for this environment, so switch it off (the system dockerd is left
  # alone: ours does not share anything with it).
  if [[ " ${missing[*]} " == *" docker-registry "* && -d /run/systemd/system ]]; then
    log "disabling the packaged docker-registry.service (it listens on :5000)"
    systemctl disable --now docker-registry.service >&2 3>&- 9>&- || true
  fi
  # Same for node_exporter (:9100, the agent's metrics port): the tests start their own.
  if [[ " ${missing[*]} " == *" prometheus-node-exporter "* && -d /run/systemd/system ]]; then
    log "disabling the packaged prometheus-node-exporter.service (it listens on :9100)"
    systemctl disable --now prometheus-node-exporter.service >&2 3>&- 9>&- || true
  fi
  # Same for etcd (:2379/:2380): the tests start their own instances on free ports.
  if [[ " ${missing[*]} " == *" etcd-server "* && -d /run/systemd/system ]]; then
    log "disabling the packaged etcd.service (it listens on :2379)"
    systemctl disable --now etcd.service >&2 3>&- 9>&- || true
  fi
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]} == 0)) || die "still missing after apt-get install: ${missing[*]}"
}

# --- 2./3. bridge and private dockerd ------------------------------------------------------------

ensure_bridge() {
  if ! ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    log "creating bridge $BRIDGE ($BRIDGE_CIDR)"
    ip link add name "$BRIDGE" type bridge
    : >"$BRIDGE_MARKER"
  fi
  if ! ip -4 -o addr show dev "$BRIDGE" | grep -qF " inet $BRIDGE_CIDR "; then
    ip addr replace "$BRIDGE_CIDR" dev "$BRIDGE"
  fi
  ip link set dev "$BRIDGE" up
}

dockerd_pid() { pid_matching "$DOCKER_PIDFILE" "unix://$SOCK"; }
docker_answers() { [[ "$(curl -s -m 5 --unix-socket "$SOCK" http://d/_ping 2>/dev/null)" == OK ]]; }

DOCKERD_STARTED=0

ensure_dockerd() {
  local pid deadline
  if pid="$(dockerd_pid)"; then
    deadline=$(($(now) + 30))
    until docker_answers; do
      (($(now) < deadline)) || die "dockerd (pid $pid) runs but $SOCK does not answer; see $ENV_DIR/dockerd.log, try '$0 down'"
      sleep 0.2
    done
    return 0
  fi
  if docker_answers; then
    die "something answers on $SOCK but it is not the dockerd from $DOCKER_PIDFILE"
  fi

  mkdir -p "$ENV_DIR/docker-data" "$DOCKER_EXEC_ROOT"
  rm -f "$DOCKER_PIDFILE"
  # A dockerd that died hard leaves its managed containerd (or a zombie of it, which dockerd
  # would wait for until "timeout waiting for containerd to start") behind.
  if pid="$(pid_matching "$DOCKER_EXEC_ROOT/containerd/containerd.pid" "$DOCKER_EXEC_ROOT")"; then
    stop_pids 10 "orphaned-containerd=$pid"
  fi
  rm -f "$DOCKER_EXEC_ROOT/containerd/containerd.pid"
  printf '{}\n' >"$ENV_DIR/daemon.json"
  log "starting dockerd ($SOCK, bridge $BRIDGE, storage $STORAGE_DRIVER)"
  printf '\n==== %s dockerd start\n' "$(date -Is)" >>"$ENV_DIR/dockerd.log"
  setsid dockerd \
    --host "unix://$SOCK" \
    --data-root "$ENV_DIR/docker-data" \
    --exec-root "$DOCKER_EXEC_ROOT" \
    --pidfile "$DOCKER_PIDFILE" \
    --config-file "$ENV_DIR/daemon.json" \
    --storage-driver "$STORAGE_DRIVER" \
    --bridge "$BRIDGE" \
    --iptables=false \
    --ip-masq=false \
    --userland-proxy=true \
    --containerd-namespace taupage-test \
    --containerd-plugins-namespace taupage-test-plugins \
    </dev/null >>"$ENV_DIR/dockerd.log" 2>&1 3>&- 9>&- &
  local launched=$!
  deadline=$(($(now) + 60))
  until docker_answers; do
    if ! proc_alive "$launched"; then
      tail -n 30 "$ENV_DIR/dockerd.log" >&2 || true
      die "dockerd exited during start-up; see $ENV_DIR/dockerd.log"
    fi
    if (($(now) >= deadline)); then
      tail -n 30 "$ENV_DIR/dockerd.log" >&2 || true
      die "dockerd did not answer on $SOCK within 60s; see $ENV_DIR/dockerd.log"
    fi
    sleep 0.1
  done
  dockerd_pid >/dev/null || die "dockerd answers but $DOCKER_PIDFILE does not name it"
  DOCKERD_STARTED=1
}

# --- 4. registries -------------------------------------------------------------------------------

registry_dir() { printf '%s/registry-%s\n' "$ENV_DIR" "$1"; }
registry_pid() { pid_matching "$ENV_DIR/registry-$1.pid" "$(registry_dir "$1")/config.yml"; }
registry_http_code() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$1/v2/" 2>/dev/null || true; }

ensure_credentials() {
  mkdir -p "$AUTH_DIR"
  chmod 0700 "$AUTH_DIR"
  if [[ ! -s "$PASSWORD_FILE" ]]; then
    log "generating the password for registry user $REGISTRY_USER"
    local hex
    hex="$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    (umask 077 && printf '%s' "$hex" >"$PASSWORD_FILE")
  fi
  if [[ ! -s "$HTPASSWD_FILE" || "$PASSWORD_FILE" -nt "$HTPASSWD_FILE" ]]; then
    (umask 077 && htpasswd -Bbn "$REGISTRY_USER" "$(<"$PASSWORD_FILE")" >"$HTPASSWD_FILE")
  fi
}

write_registry_config() {
  local name="$1" addr="$2" dir
  dir="$(registry_dir "$name")"
  mkdir -p "$dir/data"
  {
    cat <<EOF
# Generated by scripts/test-env.sh: taupage test registry "$name".
version: 0.1
log:
  level: info
  fields:
    service: taupage-test-registry-$name
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
EOF
    if [[ "$name" == auth ]]; then
      cat <<EOF
auth:
  htpasswd:
    realm: taupage-test
    path: $HTPASSWD_FILE
EOF
    fi
  } >"$dir/config.yml.new"
  mv -f "$dir/config.yml.new" "$dir/config.yml"
}

# ensure_registry NAME ADDR EXPECTED_V2_STATUS
ensure_registry() {
  local name="$1" addr="$2" want="$3" pid deadline code
  if pid="$(registry_pid "$name")"; then
    [[ "$(registry_http_code "$addr")" == "$want" ]] ||
      die "registry $name (pid $pid) does not answer on $addr; see $ENV_DIR/registry-$name.log"
    return 0
  fi
  if [[ -n "$(port_owner "$addr")" ]]; then
    die "port ${addr##*:} is taken by another process, not our registry $name:
$(port_owner "$addr")
(the Debian docker-registry.service listens on :5000: systemctl disable --now docker-registry)"
  fi
  write_registry_config "$name" "$addr"
  log "starting registry $name on $addr"
  printf '\n==== %s registry start\n' "$(date -Is)" >>"$ENV_DIR/registry-$name.log"
  setsid docker-registry serve "$(registry_dir "$name")/config.yml" \
    </dev/null >>"$ENV_DIR/registry-$name.log" 2>&1 3>&- 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$ENV_DIR/registry-$name.pid"
  deadline=$(($(now) + 20))
  while code="$(registry_http_code "$addr")" && [[ "$code" != "$want" ]]; do
    if ! proc_alive "$pid"; then
      tail -n 20 "$ENV_DIR/registry-$name.log" >&2 || true
      die "registry $name exited during start-up; see $ENV_DIR/registry-$name.log"
    fi
    (($(now) < deadline)) || die "registry $name: GET http://$addr/v2/ gave '$code', want $want"
    sleep 0.1
  done
  registry_pid "$name" >/dev/null || die "registry $name runs but is not the process we started"
}

# --- 5. test images ------------------------------------------------------------------------------

# manifest_present REF: HEAD the manifest (with credentials for the auth registry).
manifest_present() {
  local ref="$1" host repo tag auth=()
  host="${ref%%/*}"
  repo="${ref#*/}"
  tag="${repo##*:}"
  repo="${repo%:*}"
  [[ "$host" == "$AUTH_ADDR" ]] && auth=(-u "$REGISTRY_USER:$(<"$PASSWORD_FILE")")
  [[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -I "${auth[@]}" \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$host/v2/$repo/manifests/$tag" 2>/dev/null || true)" == 200 ]]
}

# What the images are built from; a change (www files, busybox update, CMD) triggers a rebuild.
image_inputs_digest() {
  {
    printf '%s\n%s\n' "$HTTPD_CMD" "$EXIT_CMD"
    sha256sum "$BUSYBOX" "$REPO_ROOT/test/images/build-rootfs.sh" | cut -d' ' -f1
    (cd "$REPO_ROOT/test/images" && find www -type f -print0 | sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -d' ' -f1
}

IMAGES_BUILT=0

ensure_images() {
  local digest missing=() ref build_dir tarball
  digest="$(image_inputs_digest)"
  for ref in "${ALL_IMAGES[@]}"; do
    manifest_present "$ref" || missing+=("$ref")
  done
  if ((${#missing[@]} == 0)) && [[ -r "$IMAGE_STAMP" && "$(<"$IMAGE_STAMP")" == "$digest" ]]; then
    return 0
  fi
  if ((${#missing[@]} > 0)); then
    log "building test images (missing from the registries: ${missing[*]})"
  else
    log "rebuilding test images (their inputs changed)"
  fi

  build_dir="$ENV_DIR/build"
  tarball="$build_dir/rootfs.tar"
  mkdir -p "$build_dir"
  bash "$REPO_ROOT/test/images/build-rootfs.sh" "$build_dir/rootfs" "$BUSYBOX"
  # Reproducible layer: sorted names, fixed mtime and owners.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$build_dir/rootfs" -cf "$tarball" .
  d import --change "$HTTPD_CMD" --change 'EXPOSE 8080' "$tarball" "$HTTPD_IMAGE" >/dev/null
  d import --change "$EXIT_CMD" "$tarball" "$EXIT_IMAGE" >/dev/null
  d tag "$HTTPD_IMAGE" "$HTTPD_IMAGE_NEXT"
  d tag "$HTTPD_IMAGE" "$AUTH_HTTPD_IMAGE"
  rm -rf "$build_dir"

  mkdir -p "$CLI_CONFIG"
  chmod 0700 "$CLI_CONFIG"
  local out
  # (its only stderr output on success is the "credentials are stored unencrypted" warning)
  if ! out="$(d login -u "$REGISTRY_USER" --password-stdin "$AUTH_ADDR" <"$PASSWORD_FILE" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "docker login $AUTH_ADDR failed"
  fi
  for ref in "${ALL_IMAGES[@]}"; do
    log "pushing $ref"
    d push "$ref" >/dev/null
  done
  d logout "$AUTH_ADDR" >/dev/null 2>&1 || true
  for ref in "${ALL_IMAGES[@]}"; do
    manifest_present "$ref" || die "pushed $ref but the registry does not have its manifest"
  done
  printf '%s\n' "$digest" >"$IMAGE_STAMP"
  IMAGES_BUILT=1
}

# Runs the httpd image as uid 999 with a published port and fetches /health through it.
smoke_test() {
  local hostport body="" deadline
  d rm -f "$SMOKE_CONTAINER" >/dev/null 2>&1 || true
  d run -d --name "$SMOKE_CONTAINER" --user 999:999 -p 127.0.0.1::8080 "$HTTPD_IMAGE" >/dev/null
  hostport="$(d port "$SMOKE_CONTAINER" 8080/tcp | head -n 1)"
  deadline=$(($(now) + 15))
  until body="$(curl -s -m 2 "http://$hostport/health" 2>/dev/null)" && [[ "$body" == ok ]]; do
    if (($(now) >= deadline)); then
      d logs "$SMOKE_CONTAINER" >&2 2>&1 || true
      d rm -f "$SMOKE_CONTAINER" >/dev/null 2>&1 || true
      die "smoke test failed: GET http://$hostport/health from the httpd image (uid 999) gave '$body'"
    fi
    sleep 0.1
  done
  d rm -f "$SMOKE_CONTAINER" >/dev/null
  log "smoke test ok: $HTTPD_IMAGE as uid 999, published on $hostport"
}

# --- 6. env file ---------------------------------------------------------------------------------

registries_up() { registry_pid open >/dev/null && registry_pid auth >/dev/null && [[ -s "$PASSWORD_FILE" ]]; }

write_env_file() {
  {
    printf '# Generated by scripts/test-env.sh (%s): source it to use the taupage test environment.\n' "$(date -Is)"
    printf 'export DOCKER_HOST=%q\n' "unix://$SOCK"
    printf 'export TAUPAGE_TEST_ENV_DIR=%q\n' "$ENV_DIR"
    if registries_up; then
      printf 'export TAUPAGE_TEST_REGISTRY=%q\n' "$OPEN_ADDR"
      printf 'export TAUPAGE_TEST_AUTH_REGISTRY=%q\n' "$AUTH_ADDR"
      printf 'export TAUPAGE_TEST_REGISTRY_USER=%q\n' "$REGISTRY_USER"
      printf 'export TAUPAGE_TEST_REGISTRY_PASSWORD=%q\n' "$(<"$PASSWORD_FILE")"
      printf 'export TAUPAGE_TEST_IMAGE=%q\n' "$HTTPD_IMAGE"
      printf 'export TAUPAGE_TEST_AUTH_IMAGE=%q\n' "$AUTH_HTTPD_IMAGE"
      printf 'export TAUPAGE_TEST_EXIT_IMAGE=%q\n' "$EXIT_IMAGE"
    fi
  } >"$ENV_FILE.new"
  chmod 0600 "$ENV_FILE.new"
  mv -f "$ENV_FILE.new" "$ENV_FILE"
}

# --- commands ------------------------------------------------------------------------------------

prepare_env_dir() {
  ((${#ENV_DIR} <= 60)) || die "TAUPAGE_TEST_ENV_DIR is too long for the unix sockets under it: $ENV_DIR"
  [[ $EUID -eq 0 ]] || die "must run as root (it runs dockerd and creates a bridge)"
  mkdir -p "$ENV_DIR"
  # One `up`/`down` at a time (e.g. a developer's shell and scripts/test.sh).
  exec 9>"$ENV_DIR/.lock"
  flock -w 300 9 || die "another test-env.sh holds $ENV_DIR/.lock"
}

cmd_ensure_docker() {
  prepare_env_dir
  ensure_packages
  ensure_bridge
  ensure_dockerd
  write_env_file
}

cmd_up() {
  cmd_ensure_docker
  ensure_credentials
  ensure_registry open "$OPEN_ADDR" 200
  ensure_registry auth "$AUTH_ADDR" 401
  ensure_images
  if ((DOCKERD_STARTED || IMAGES_BUILT)); then
    smoke_test
  fi
  write_env_file
}

cmd_down() {
  local pid ids name procs=()
  prepare_env_dir
  if pid="$(dockerd_pid)"; then
    if docker_answers; then
      ids="$(d ps -aq 2>/dev/null || true)"
      if [[ -n "$ids" ]]; then
        log "stopping and removing containers: $(tr '\n' ' ' <<<"$ids")"
        # shellcheck disable=SC2086 # one id per word
        timeout 40 docker -H "unix://$SOCK" stop --time 2 $ids >/dev/null 2>&1 || true
        # shellcheck disable=SC2086
        timeout 30 docker -H "unix://$SOCK" rm -f $ids >/dev/null 2>&1 || true
      fi
    fi
    procs+=("dockerd=$pid")
  fi
  for name in open auth; do
    if pid="$(registry_pid "$name")"; then procs+=("registry-$name=$pid"); fi
  done
  if ((${#procs[@]} > 0)); then
    stop_pids 30 "${procs[@]}"
  fi
  # A SIGKILLed dockerd leaves its managed containerd behind.
  if pid="$(pid_matching "$DOCKER_EXEC_ROOT/containerd/containerd.pid" "$DOCKER_EXEC_ROOT")"; then
    stop_pids 10 "containerd=$pid"
  fi
  rm -f "$DOCKER_PIDFILE" "$ENV_DIR/registry-open.pid" "$ENV_DIR/registry-auth.pid"
  if [[ -e "$BRIDGE_MARKER" ]]; then
    if ip link show dev "$BRIDGE" >/dev/null 2>&1; then
      log "removing bridge $BRIDGE"
      ip link delete dev "$BRIDGE" type bridge
    fi
    rm -f "$BRIDGE_MARKER"
  fi
  log "down (packages, images and registry data kept in $ENV_DIR)"
}

STATUS_RC=0

cmd_status() {
  local all_up=0 missing pid line ref present=() absent=() name addr
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    echo "packages:       ok"
  else
    echo "packages:       missing ${missing[*]}"
    all_up=1
  fi
  if line="$(ip -4 -o addr show dev "$BRIDGE" 2>/dev/null)" && [[ -n "$line" ]]; then
    echo "bridge:         $BRIDGE up, $(awk '{print $4}' <<<"$line")$([[ -e "$BRIDGE_MARKER" ]] && echo ' (created by test-env)')"
  elif ip link show dev "$BRIDGE" >/dev/null 2>&1; then
    echo "bridge:         $BRIDGE exists without an IPv4 address"
    all_up=1
  else
    echo "bridge:         $BRIDGE absent"
    all_up=1
  fi
  if pid="$(dockerd_pid)" && docker_answers; then
    echo "dockerd:        running, pid $pid, $DOCKER_HOST, $(d version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || echo 'version unknown')"
  elif pid="$(dockerd_pid)"; then
    echo "dockerd:        pid $pid alive but $SOCK does not answer"
    all_up=1
  else
    echo "dockerd:        stopped"
    all_up=1
  fi
  for name in open auth; do
    addr="$OPEN_ADDR"
    [[ "$name" == auth ]] && addr="$AUTH_ADDR"
    if pid="$(registry_pid "$name")"; then
      echo "registry $name:  running, pid $pid, http://$addr (GET /v2/ -> $(registry_http_code "$addr"))"
    else
      echo "registry $name:  stopped"
      all_up=1
    fi
  done
  if registries_up; then
    for ref in "${ALL_IMAGES[@]}"; do
      if manifest_present "$ref"; then present+=("$ref"); else absent+=("$ref"); fi
    done
    if ((${#absent[@]} == 0)); then
      echo "images:         ${#present[@]}/${#ALL_IMAGES[@]} in the registries"
    else
      echo "images:         missing ${absent[*]}"
      all_up=1
    fi
  else
    echo "images:         unknown (registries not running)"
    all_up=1
  fi
  if [[ -r "$ENV_FILE" ]]; then
    echo "env file:       $ENV_FILE"
  else
    echo "env file:       absent"
    all_up=1
  fi
  STATUS_RC=0
  ((all_up == 0)) || STATUS_RC=3
}

usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  (($# == 1)) || usage
  case "$1" in
    up | ensure-docker)
      # stdout carries only the env file path; fd 3 keeps it, everything else goes to stderr.
      exec 3>&1 1>&2
      if [[ "$1" == up ]]; then cmd_up; else cmd_ensure_docker; fi
      printf '%s\n' "$ENV_FILE" >&3
      ;;
    down) cmd_down ;;
    status)
      cmd_status
      exit "$STATUS_RC"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
