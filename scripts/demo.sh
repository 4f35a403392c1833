#!/usr/bin/env bash
# demo.sh - the main job on a local default: make a throwaway PKI and a PostgreSQL server with
# certificate login, run pgconnect-check on a working certificate login and on a broken one,
# show both reports, then stop the server and clean up. Installs what is missing (as root).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
pgconnect_setup

echo "demo: building pgconnect-check" >&2
swift build --product pgconnect-check >&2
check=$(swift build --show-bin-path)/pgconnect-check

work=$(mktemp -d /tmp/pgconnect-demo.XXXXXX)
cleanup() {
    local status=$?
    scripts/cluster.sh stop "$work/cluster" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT INT TERM

echo "demo: making a CA, a server certificate and client certificates for alice and bob" >&2
scripts/make-pki.sh "$work/pki" alice bob >&2
echo "demo: starting PostgreSQL with hostssl ... cert" >&2
scripts/cluster.sh start --pki "$work/pki" "$work/cluster" >/dev/null
# shellcheck source=/dev/null
source "$work/cluster/cluster.env"

conninfo="host=127.0.0.1 port=$PGCONNECT_PORT dbname=postgres sslmode=verify-full sslrootcert=$work/pki/root.crt"
alice="$conninfo user=alice sslcert=$work/pki/alice.crt sslkey=$work/pki/alice.key"

if [[ -t 1 && -z ${NO_COLOR:-} ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
banner() { printf '\n%s━━ %s%s\n$ %s\n\n' "$bold" "$1" "$plain" "$2"; }

banner "1. A working certificate login" "pgconnect-check \"$alice\""
set +e
"$check" "$alice"
working=$?
banner "2. A broken one: alice's certificate, but logging in as bob" "pgconnect-check \"$alice\" --user bob"
"$check" "$alice" --user bob
broken=$?
admin="host=$PGCONNECT_SOCKET_DIR port=$PGCONNECT_PORT user=postgres dbname=postgres"
banner "3. The same, with the server's own pg_hba.conf read over an admin connection" \
    "pgconnect-check \"$alice\" --user bob --admin \"$admin\""
"$check" "$alice" --user bob --admin "$admin"
set -e

printf '\nexit statuses: working login %d (0 = connected), broken login %d (1 = refused by the server)\n' "$working" "$broken"
[[ $working -eq 0 && $broken -eq 1 ]]
