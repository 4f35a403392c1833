#!/usr/bin/env bash
# check-all.sh - everything beyond the test command: the test suite under AddressSanitizer (with
# LeakSanitizer), the concurrency tests under ThreadSanitizer, pgconnect-check scenarios under
# ASan+LSan (valgrind 3.19 cannot run Swift 6 binaries), and the fuzz loop. Each part reports; the script fails if any does.
#
#   scripts/check-all.sh [--quick]     --quick: 20000 fuzz inputs instead of 1000000
#
# Takes long on 2 cores (each sanitizer is a full build): run it before a release, not in CI.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
pgconnect_setup || exit 1
fuzz_iterations=1000000
[[ ${1:-} == --quick ]] && fuzz_iterations=20000

# One test server for every part.
eval "$(bash scripts/test.sh --serve)"
# shellcheck source=/dev/null
source "$PGCONNECT_TEST_ENV"
cleanup() {
    scripts/cluster.sh stop "$PGCONNECT_CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$(dirname "$PGCONNECT_CLUSTER")"
}
trap cleanup EXIT
failed=()
part() { printf '\n== %s\n' "$1" >&2; }

part "AddressSanitizer + LeakSanitizer: the whole suite"
# The log lives in the scratch folder, which a fresh clone does not have yet.
mkdir -p "$root/.build-asan"
# Memory errors fail at once; for leaks only direct ones count: the indirect ones LSan lists are
# reachable only from the suppressed Foundation/XCTest leaks (scripts/lsan.supp).
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp" \
    swift test --disable-swift-testing --sanitize=address --scratch-path .build-asan >"$root/.build-asan/test.log" 2>&1
if grep -q "ERROR: AddressSanitizer" "$root/.build-asan/test.log" || grep -q "^Direct leak" "$root/.build-asan/test.log" \
    || ! grep -q "with 0 failures" "$root/.build-asan/test.log"; then
    failed+=(asan)
    grep -E "ERROR: AddressSanitizer|^Direct leak|error:" "$root/.build-asan/test.log" | head -20 >&2
else
    grep -E "Executed [0-9]+ tests" "$root/.build-asan/test.log" | tail -1 >&2
fi

part "ThreadSanitizer: concurrency, cancellation, pool"
# scripts/tsan.supp: Synchronization.Mutex is invisible to TSan on Linux (see there). When TSan
# reports anything, the llvm-symbolizer it starts can outlive the test process and keep
# `swift test` waiting on its output: the timeout turns that hang into a failure.
if ! TSAN_OPTIONS="suppressions=$root/scripts/tsan.supp" timeout 900 swift test --disable-swift-testing --sanitize=thread --scratch-path .build-tsan \
    --filter 'ConnectionTests|QueryTests|ServiceTests|FaultTests'; then
    failed+=(tsan)
fi

part "pgconnect-check scenarios under AddressSanitizer + LeakSanitizer"
# valgrind 3.19 (Debian 12) aborts on Swift 6 binaries at start-up (libdispatch's threads), so
# the command's scenarios run in the ASan build instead: any memory error or leak fails them.
check=$root/.build-asan/debug/pgconnect-check
F=$PGCONNECT_TEST_FIXTURES
base="host=127.0.0.1 port=$PGCONNECT_PORT dbname=postgres sslmode=verify-full sslrootcert=$F/main/root.crt"
# These logins are also scenarios of Tests/pgconnect-checkTests/CLIScenarios.swift, whose
# LibpqVerdictTests compares pgconnect-check's verdict on each with psql's.
scenarios=(
    "$base user=alice sslcert=$F/main/alice.crt sslkey=$F/main/alice.key"
    "$base user=bob sslcert=$F/main/alice.crt sslkey=$F/main/alice.key"
    "$base user=stranger sslcert=$F/other/stranger.crt sslkey=$F/other/stranger.key"
    "$base user=alice sslcert=$F/main/alice.crt sslkey=$F/main/alice.enc.key"
    "$base user=ivan sslcert=$F/inter/ivan.leaf.crt sslkey=$F/inter/ivan.key"
    "$base user=alice sslcert=$F/main/alice.crt sslkey=$F/main/alice.key sslrootcert=$F/other/root.crt"
)
for scenario in "${scenarios[@]}"; do
    ASAN_OPTIONS=detect_leaks=1:exitcode=97 LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:exitcode=98" \
        "$check" --format json "$scenario" >/dev/null 2>"$root/.build-asan/scenario.log"
    status=$?
    if ((status == 97 || status == 98)) || grep -q "Sanitizer" "$root/.build-asan/scenario.log"; then
        failed+=("asan: $scenario")
        head -20 "$root/.build-asan/scenario.log" >&2
    fi
done

part "fuzz: $fuzz_iterations inputs per target"
bash scripts/fuzz.sh "$fuzz_iterations" || failed+=(fuzz)

if ((${#failed[@]})); then
    printf '\ncheck-all: FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\ncheck-all: all parts passed\n' >&2
