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
# Every certificate, key and CRL the tests use (see the top of make-test-fixtures.sh). The
# server trusts the main and inter roots (ca-bundle.crt); a test that reconfigures it with
# ALTER SYSTEM + pg_reload_conf() must undo that (ALTER SYSTEM RESET ALL + reload) afterwards.
scripts/make-test-fixtures.sh "$work/fixtures" >/dev/null
scripts/cluster.sh start --pki "$work/fixtures/main" --ca-file "$work/fixtures/ca-bundle.crt" \
    --user alice --user bob --user carol --user ivan --user old --user future \
    --user wrongusage --user stranger "$work/cluster" >/dev/null

export PGCONNECT_TEST_ENV=$work/cluster/cluster.env
export PGCONNECT_TEST_FIXTURES=$work/fixtures
export PGCONNECT_TEST_OTHER_PKI=$work/fixtures/other
# XCTest only: the closing "Executed N tests" line is the summary CI reads.
swift test --disable-swift-testing "$@"
