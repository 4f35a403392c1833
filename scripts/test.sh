#!/usr/bin/env bash
# test.sh - the test command: install what is missing, build, start a throwaway PostgreSQL with
# certificate login (real certificates made by openssl), run `swift test`, stop the server even
# when a test fails. Arguments go to `swift test` (e.g. --filter QueryTests).
#
#   scripts/test.sh --serve   start the test server and fixtures only, leave them running, and
#                             print the exports that let a bare `swift test` use them
set -euo pipefail
serve=0
if [[ ${1:-} == --serve ]]; then
    serve=1
    shift
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
pgconnect_setup
# The other libpq versions LibPQVersionRulesTests proves the rules against (.versions/, fetched
# once); a download that is impossible only makes those versions skip. Its lines go to stderr:
# --serve's stdout is for eval.
scripts/versions.sh >&2 || echo "test.sh: scripts/versions.sh failed; LibPQVersionRulesTests skips libpq 17 and 18" >&2

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
((serve)) || trap cleanup EXIT INT TERM

echo "test.sh: making certificates and starting the test server in $work" >&2
# Every certificate, key and CRL the tests use (see the top of make-test-fixtures.sh). The
# server trusts the main and inter roots (ca-bundle.crt); a test that reconfigures it with
# ALTER SYSTEM + pg_reload_conf() must undo that (ALTER SYSTEM RESET ALL + reload) afterwards.
scripts/make-test-fixtures.sh "$work/fixtures" >/dev/null
scripts/cluster.sh start --pki "$work/fixtures/main" --ca-file "$work/fixtures/ca-bundle.crt" \
    --user alice --user bob --user carol --user ivan --user old --user future \
    --user wrongusage --user stranger \
    --hba-line 'hostssl pwdb     all          127.0.0.1/32  scram-sha-256 clientcert=verify-full' \
    --hba-line 'hostssl trustdb  all          127.0.0.1/32  trust clientcert=verify-full' \
    --hba-line 'hostssl rejectdb all          127.0.0.1/32  reject' \
    --hba-line 'hostssl mapdb    all          127.0.0.1/32  cert map=certmap' \
    --hba-line 'hostssl dndb     all          127.0.0.1/32  cert clientname=DN map=dnmap' \
    --hba-line 'hostssl all      ghost,locked 127.0.0.1/32  trust' \
    --ident-line 'certmap alice bob' \
    --ident-line 'dnmap "CN=alice,O=pgconnect" alice' \
    "$work/cluster" >/dev/null
# shellcheck source=/dev/null
source "$work/cluster/cluster.env"
"$PGCONNECT_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGCONNECT_SOCKET_DIR" -p "$PGCONNECT_PORT" \
    -U postgres -d postgres -f scripts/test-server.sql >/dev/null

export PGCONNECT_TEST_ENV=$work/cluster/cluster.env
export PGCONNECT_TEST_FIXTURES=$work/fixtures
export PGCONNECT_TEST_OTHER_PKI=$work/fixtures/other
if ((serve)); then
    printf 'export PGCONNECT_TEST_ENV=%s PGCONNECT_TEST_FIXTURES=%s PGCONNECT_TEST_OTHER_PKI=%s\n' \
        "$PGCONNECT_TEST_ENV" "$PGCONNECT_TEST_FIXTURES" "$PGCONNECT_TEST_OTHER_PKI"
    echo "test.sh: server left running; stop it with: scripts/cluster.sh stop $work/cluster && rm -rf $work" >&2
    exit 0
fi
# Lint first, it takes two seconds: the shell scripts (shellcheck) and the Swift sources
# (swift format lint, .swift-format). The lint checks swift-format's rules only, not its
# pretty-printer's layout (--debug-disable-pretty-print): the code's hand-made line breaks and
# aligned continuation lines are not a layout the pretty-printer can produce, and the tree is not
# reformatted to one. So never run `swift format --in-place` over the tree.
echo "test.sh: shellcheck scripts/*.sh .ci/run; swift format lint" >&2
shellcheck scripts/*.sh .ci/run >&2
swift format lint --strict --recursive --parallel --debug-disable-pretty-print Package.swift Sources Tests Benchmarks Fuzz Snippets >&2
echo "test.sh: building" >&2
swift build --build-tests
# XCTest only: the closing "Executed N tests" line is the summary CI reads.
swift test --disable-swift-testing "$@"
