#!/usr/bin/env bash
# check-all.sh - everything beyond the test command: the test suite under AddressSanitizer (with
# LeakSanitizer), the concurrency tests under ThreadSanitizer, valgrind memcheck over
# pgconnect-check scenarios, and the fuzz loop. Each part reports; the script fails if any does.
#
#   scripts/check-all.sh [--quick]     --quick: 20000 fuzz inputs instead of 1000000
#
# Takes long on 2 cores (each sanitizer is a full build): run it before a release, not in CI.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
pgconnect_setup || exit 1
fuzz_iterations=1000000
[[ ${1:-} == --quick ]] && fuzz_iterations=20000
if ! command -v valgrind >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -qq valgrind >/dev/null 2>&1 || true
fi

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
if ! ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=1" \
    swift test --disable-swift-testing --sanitize=address --scratch-path .build-asan; then
    failed+=(asan)
fi

part "ThreadSanitizer: concurrency, cancellation, pool"
if ! swift test --disable-swift-testing --sanitize=thread --scratch-path .build-tsan \
    --filter 'ConnectionTests|QueryTests|ServiceTests|FaultTests'; then
    failed+=(tsan)
fi

part "valgrind memcheck: pgconnect-check scenarios"
swift build --product pgconnect-check >&2
check=$(swift build --show-bin-path)/pgconnect-check
F=$PGCONNECT_TEST_FIXTURES
base="host=127.0.0.1 port=$PGCONNECT_PORT dbname=postgres sslmode=verify-full sslrootcert=$F/main/root.crt"
scenarios=(
    "$base user=alice sslcert=$F/main/alice.crt sslkey=$F/main/alice.key"
    "$base user=bob sslcert=$F/main/alice.crt sslkey=$F/main/alice.key"
    "$base user=stranger sslcert=$F/other/stranger.crt sslkey=$F/other/stranger.key"
    "$base user=alice sslcert=$F/main/alice.crt sslkey=$F/main/alice.enc.key"
    "$base user=ivan sslcert=$F/inter/ivan.leaf.crt sslkey=$F/inter/ivan.key"
)
if command -v valgrind >/dev/null 2>&1; then
    for scenario in "${scenarios[@]}"; do
        if ! valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "$check" --format json "$scenario" >/dev/null; then
            [[ $? -eq 99 ]] && failed+=("valgrind: $scenario")
        fi
    done
else
    echo "valgrind not installed; skipped" >&2
fi

part "fuzz: $fuzz_iterations inputs per target"
bash scripts/fuzz.sh "$fuzz_iterations" || failed+=(fuzz)

if ((${#failed[@]})); then
    printf '\ncheck-all: FAILED: %s\n' "${failed[*]}" >&2
    exit 1
fi
printf '\ncheck-all: all parts passed\n' >&2
