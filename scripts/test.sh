#!/usr/bin/env bash
# Runs all checks and tests; what CI runs (.ci/run) and the README's "run all tests" command.
#
#   scripts/test.sh [VITEST_ARGS...]     e.g. scripts/test.sh test/unit   or   --project unit
#
# 1. `npm ci` when node_modules is missing or older than package-lock.json.
# 2. scripts/test-env.sh up (private dockerd, registries, test images; needs root) and sources
#    its env.sh; if this run started it, it is taken down again on exit unless
#    TAUPAGE_TEST_KEEP_ENV=1 (an environment that was already up stays up).
# 3. format:check, lint, typecheck, build, then vitest (all projects; VITEST_ARGS are passed on),
#    failing fast. The last line is always "N passed, N failed" (the vitest JSON report's
#    numPassedTests / numFailedTests; test files that failed without a failing test, e.g. an
#    import error, count as failed, and a vitest run that fails without any counted failure,
#    e.g. a crash with no JSON report, counts as 1 failed). Exit status is non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# --- 1. dependencies -----------------------------------------------------------------------------
# npm writes node_modules/.package-lock.json on every install: it dates the installed tree.
installed_stamp=node_modules/.package-lock.json
if [[ ! -d node_modules || ! -e "$installed_stamp" || package-lock.json -nt "$installed_stamp" ]]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

# --- 2. test environment -------------------------------------------------------------------------
work_dir="$(mktemp -d -t taupage-test.XXXXXX)"
results="$work_dir/vitest.json"
env_requested=0
env_file=""

teardown() {
  rm -rf "$work_dir"
  if ((env_requested)); then
    env_requested=0
    if [[ "${TAUPAGE_TEST_KEEP_ENV:-0}" == 1 ]]; then
      printf '\ntest environment left up (TAUPAGE_TEST_KEEP_ENV=1): source %s\n' "${env_file:-its env.sh}"
    else
      step "scripts/test-env.sh down"
      bash scripts/test-env.sh down 2>&1 || true
    fi
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  teardown
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "scripts/test-env.sh up"
# Stop afterwards only what this run started: an environment that was already up belongs to
# someone else (a developer's shell, a parallel run) and is left alone.
if bash scripts/test-env.sh status >/dev/null 2>&1; then
  printf 'test environment already up: it stays up afterwards\n'
else
  env_requested=1
fi
env_file="$(bash scripts/test-env.sh up)"
# shellcheck source=/dev/null
source "$env_file"

# --- 3. checks and tests -------------------------------------------------------------------------
for script in format:check lint typecheck build; do
  step "npm run $script"
  npm run --silent "$script"
done

step "vitest run $*"
vitest_rc=0
npx --no -- vitest run --reporter=default --reporter=json --outputFile="$results" "$@" || vitest_rc=$?

# Prints "passed failed" from the JSON report; fails when there is no usable report.
counts="$(
  node - "$results" "$vitest_rc" <<'EOF' 2>/dev/null
const fs = require('node:fs');
const [file, rcArg] = process.argv.slice(2);
const report = JSON.parse(fs.readFileSync(file, 'utf8'));
const passed = report.numPassedTests;
let failed = report.numFailedTests;
if (!Number.isInteger(passed) || !Number.isInteger(failed)) process.exit(1);
// A file that cannot be collected (syntax/import error) fails without a failing test.
for (const file of report.testResults ?? []) {
  const failedTests = (file.assertionResults ?? []).filter((t) => t.status === 'failed').length;
  if (file.status === 'failed' && failedTests === 0) failed += 1;
}
if (failed === 0 && (Number(rcArg) !== 0 || report.success === false)) failed = 1;
console.log(`${passed} ${failed}`);
EOF
)" || counts="0 1"
read -r passed failed <<<"$counts"

# Tear down first so that the summary is the very last line of the output.
teardown
echo
echo "$passed passed, $failed failed"
if ((vitest_rc != 0 || failed != 0)); then
  exit 1
fi
