#!/usr/bin/env bash
# fuzz.sh - run the generated-input fuzz loop (Fuzz/PGConnectFuzz) over the conninfo round trip,
# the URI round trip, the pg_hba/pg_ident parsers and simulator, and the certificate inspector.
#
#   scripts/fuzz.sh [ITERATIONS] [SEED]     default 1000000 inputs per target, seed 1
#
# Deterministic for a seed; a failure prints the input and exits 1. The test suite runs a short
# version of each (ConninfoRoundTripTests, HBAFuzzTests, InspectorFuzzTests).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
pgconnect_setup
iterations=${1:-1000000}
seed=${2:-1}
swift build -c release --product pgconnect-fuzz >&2
fuzz=$(swift build -c release --show-bin-path)/pgconnect-fuzz

work=$(mktemp -d /tmp/pgconnect-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
scripts/make-pki.sh --intermediate "$work/pki" alice >/dev/null
for target in conninfo uri hba ident; do
    "$fuzz" "$target" "$iterations" "$seed"
done
"$fuzz" certificate "$iterations" "$seed" "$work/pki/alice.crt" "$work/pki/alice.key" "$work/pki/root.crt" "$work/pki/intermediate.crt"
