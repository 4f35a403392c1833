#!/usr/bin/env bash
# test.sh - the test command: install what is missing, build, start a throwaway PostgreSQL with
# certificate login (real certificates made by openssl), run `swift test`, stop the server even
# when a test fails. Arguments go to `swift test` (e.g. --filter QueryTests).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
pgconnect_setup

echo "test.sh: building" >&2
swift build --build-tests

work=$(mktemp -d /tmp/pgconnect-test.XXXXXX)
cleanup() {
    local status=$?
    scripts/cluster.sh stop "$work/cluster" >/dev/null 2>&1 || true
    if ((status != 0)) && [[ -f $work/cluster/server.log ]]; then
        echo "test.sh: last lines of the server log:" >&2
        tail -n 20 "$work/cluster/server.log" >&2 || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT INT TERM

echo "test.sh: making certificates and starting the test server in $work" >&2
scripts/make-pki.sh --encrypt-key alice:secret --expired old "$work/pki" alice bob >/dev/null
scripts/make-pki.sh "$work/other" stranger >/dev/null
scripts/cluster.sh start --pki "$work/pki" "$work/cluster" >/dev/null

export PGCONNECT_TEST_ENV=$work/cluster/cluster.env
export PGCONNECT_TEST_OTHER_PKI=$work/other
# XCTest only: the closing "Executed N tests" line is the summary CI reads.
swift test --disable-swift-testing "$@"
