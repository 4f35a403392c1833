#!/usr/bin/env bash
# bench.sh - performance of PGConnect and pgconnect-check against raw C libpq and psql, as
# ratios measured in one run on one machine (absolute times on shared machines drift).
#
#   scripts/bench.sh [--quick] [--reps N] [--strict] [--dynamic-stdlib]
#
# Builds in release mode with --static-swift-stdlib, the way README's Install section builds
# pgconnect-check (scratch path .build-bench, or $PGCONNECT_BENCH_SCRATCH), makes
# certificates (scripts/make-test-fixtures.sh), starts two throw-away cert-auth servers
# (scripts/cluster.sh: ECDSA P-256 and the RSA-4096 tutorial setup), measures, prints a table
# and machine-readable "name value" lines, and stops the servers and removes its temporary
# directory whatever happens. A and B alternate in every round.
#
#   --quick     a smoke run: few iterations, finishes in well under a minute once built
#   --reps N    rounds of each A/B pair (default 7; --quick 3)
#   --strict    exit 1 when a ratio misses its target (default: report only, exit 0)
#   --dynamic-stdlib
#               build against the shared Swift runtime instead (scratch path
#               .build-bench-dynamic): shows what static linking saves in pgconnect-check's
#               start-up time and memory
set -euo pipefail

readonly PROG=${0##*/}
quick=0
strict=0
static=1
reps=
usage() {
    sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}
while (($# > 0)); do
    case $1 in
    --quick) quick=1 ;;
    --strict) strict=1 ;;
    --dynamic-stdlib) static=0 ;;
    --reps)
        (($# >= 2)) || { echo "$PROG: --reps needs a number" >&2; exit 64; }
        reps=$2
        shift
        ;;
    --reps=*) reps=${1#*=} ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "$PROG: unknown argument: $1" >&2
        usage >&2
        exit 64
        ;;
    esac
    shift
done
if [[ -n $reps ]] && ! [[ $reps =~ ^[1-9][0-9]*$ ]]; then
    echo "$PROG: --reps must be a positive number, not '$reps'" >&2
    exit 64
fi

# Sizes per round and side. Connect and SELECT 1 use 4 short rounds per --reps round, so that
# a burst of noise from other work on the machine hits both sides alike: full run 28 rounds x
# 10 connects = 280 connects per side.
if ((quick)); then
    reps=${reps:-3}
    connects=5 select1=250 decode_rows=100000 decode_per_proc=1 proc_runs=2 key_connects=10
else
    reps=${reps:-7}
    connects=10 select1=1000 decode_rows=100000 decode_per_proc=2 proc_runs=4 key_connects=30
fi
fine=$((reps * 4))

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
pgconnect_setup

started=$SECONDS
work=$(mktemp -d /tmp/pgconnect-bench.XXXXXX)
cleaned=0
# shellcheck disable=SC2317  # run by the traps below
cleanup() {
    local status=$?
    local c
    ((cleaned == 0)) || return 0
    cleaned=1
    trap '' INT TERM
    for c in "$work/ecdsa" "$work/rsa"; do
        if [[ -d $c/data ]]; then scripts/cluster.sh stop "$c" >/dev/null 2>&1 || true; fi
    done
    if ((status != 0 && status != 130 && status != 143)); then
        for c in "$work/ecdsa" "$work/rsa"; do
            if [[ -f $c/server.log ]]; then
                echo "$PROG: last lines of $c/server.log:" >&2
                tail -n 10 "$c/server.log" >&2 || true
            fi
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

note() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- build
build_flags=(-c release)
if ((static)); then
    build_flags+=(--static-swift-stdlib)
    scratch=${PGCONNECT_BENCH_SCRATCH:-$root/.build-bench}
else
    scratch=${PGCONNECT_BENCH_SCRATCH:-$root/.build-bench-dynamic}
fi
build_flags+=(--scratch-path "$scratch")
note "building (${build_flags[*]})"
for product in pgconnect-bench-c pgconnect-bench pgconnect-check; do
    swift build "${build_flags[@]}" --product "$product" >&2
done
bin=$(swift build "${build_flags[@]}" --show-bin-path)
bench_c=$bin/pgconnect-bench-c
bench_swift=$bin/pgconnect-bench
check=$bin/pgconnect-check
for f in "$bench_c" "$bench_swift" "$check"; do
    [[ -x $f ]] || die "$f was not built"
done

# ---------------------------------------------------------------- servers
note "making certificates and starting two servers in $work"
scripts/make-test-fixtures.sh "$work/fixtures" >/dev/null
fx=$work/fixtures
scripts/cluster.sh start --pki "$fx/main" --user alice --user stranger "$work/ecdsa" >/dev/null
scripts/cluster.sh start --pki "$fx/tutorial" --user alice "$work/rsa" >/dev/null
port_of() { sed -n 's/^PGCONNECT_PORT=//p' "$1/cluster.env"; }
bindir=$(sed -n 's/^PGCONNECT_PG_BINDIR=//p' "$work/ecdsa/cluster.env")
# The psql binary itself: /usr/bin/psql on Debian is a Perl wrapper that would add ~20 ms.
psql=$bindir/psql
[[ -x $psql ]] || die "no psql in $bindir"

# host=localhost for the name check (the tutorial certificate has CN=localhost and no SAN),
# hostaddr so that neither side spends time on name resolution or on ::1 first.
conninfo() { # PORT ROOTDIR CERTDIR CN
    printf 'host=localhost hostaddr=127.0.0.1 port=%s dbname=pgconnect user=%s sslmode=verify-full sslrootcert=%s/root.crt sslcert=%s/%s.crt sslkey=%s/%s.key' \
        "$1" "$4" "$2" "$3" "$4" "$3" "$4"
}
ecdsa=$(conninfo "$(port_of "$work/ecdsa")" "$fx/main" "$fx/main" alice)
rsa=$(conninfo "$(port_of "$work/rsa")" "$fx/tutorial" "$fx/tutorial" alice)
# A client certificate from a CA the server does not trust: the server rejects it in the handshake.
stranger=$(conninfo "$(port_of "$work/ecdsa")" "$fx/main" "$fx/other" stranger)

# Clean environment for every measured client: no PG* variables, no ~/.psqlrc (-X).
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^PG' || true)

# Sanity: psql logs in with the certificates (the failing runs below check their exit status 2).
"$psql" -X -q -A -t -c 'select 1' "$ecdsa" >/dev/null || die "psql cannot log in with $ecdsa"
"$psql" -X -q -A -t -c 'select 1' "$rsa" >/dev/null || die "psql cannot log in with $rsa"

R=$work/results
mkdir -p "$R"

# ---------------------------------------------------------------- helpers
# values FILE: the numbers in FILE (one per line) -> "median min max n"
stats() {
    sort -g "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan nan nan 0"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.6g %.6g %.6g %d\n", m, v[1], v[NR], NR }'
}
median() { stats "$1" | cut -d' ' -f1; }
# ratio X Y -> X/Y with 3 decimals
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y == 0 || x != x || y != y) print "nan"; else printf "%.3f\n", x / y }'; }

# lines PREFIX FILE...: the values of "PREFIX value" lines; dies if there are none.
values_of() {
    local prefix=$1 out
    shift
    out=$(awk -v p="$prefix" '$1 == p { print $2 }' "$@")
    [[ -n $out ]] || die "no '$prefix' lines in $*"
    printf '%s\n' "$out"
}

# run_bench NAME SIDE MODE ARGS...: runs pgconnect-bench-c (SIDE c) or pgconnect-bench (SIDE
# swift) in MODE; appends its output lines to $R/NAME.out and keeps them in $R/last.
# (Measured commands write to files, never into $(...): a signal then waits for the command
# and runs the cleanup once, instead of interrupting a command substitution.)
run_bench() {
    local name=$1 side=$2 mode=$3 exe
    shift 3
    case $side in c) exe=$bench_c ;; swift) exe=$bench_swift ;; esac
    "$exe" "$mode" "$@" >"$R/last" || die "$exe $mode failed"
    cat "$R/last" >>"$R/$name.out"
}
round_median() { # PREFIX -> median of the last run's PREFIX values
    local tmp=$R/tmp
    values_of "$1" "$R/last" >"$tmp"
    median "$tmp"
}

# spawn NAME EXPECTED_STATUS CMD...: one timed run; appends wall ms and peak RSS KiB.
spawn() {
    local name=$1 expected=$2 wall rss status
    shift 2
    "$bench_c" spawn -- "$@" >"$R/spawn" || die "spawn failed: $*"
    read -r _ wall _ rss _ status <"$R/spawn"
    [[ $status == "$expected" ]] || die "$name: exit status $status, expected $expected: $*"
    awk -v w="$wall" 'BEGIN { printf "%.3f\n", w / 1000 }' >>"$R/$name.wall"
    printf '%s\n' "$rss" >>"$R/$name.rss"
}

# ---------------------------------------------------------------- measurements
# busy_ms: CPU time spent by the whole machine so far (all processes, all cores: user, nice,
# system, irq, softirq), in ms. Around the C connects it gives the CPU one certificate login
# costs on both sides (libpq and the server's backend), the floor under --targets below.
hz=$(getconf CLK_TCK)
busy_ms() { awk -v hz="$hz" '$1 == "cpu" { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8) * 1000 / hz }' /proc/stat; }
cores=$(getconf _NPROCESSORS_ONLN)

note "connect + certificate login: $fine rounds x $connects connects per side"
login_cpu_ms=0
for ((r = 1; r <= fine; r++)); do
    before=$(busy_ms)
    run_bench c.connect c connect "$connects" "$ecdsa"
    login_cpu_ms=$((login_cpu_ms + $(busy_ms) - before))
    round_median connect_us >>"$R/c.connect.rounds"
    run_bench swift.connect swift connect "$connects" "$ecdsa"
    round_median connect_us >>"$R/swift.connect.rounds"
done

note "sequential SELECT 1: $fine rounds x $select1 queries per side"
for ((r = 1; r <= fine; r++)); do
    run_bench c.select1 c select1 "$select1" "$ecdsa"
    run_bench swift.select1 swift select1 "$select1" "$ecdsa"
done

note "fetch + decode $decode_rows rows: $reps rounds x $decode_per_proc per side"
for ((r = 1; r <= reps; r++)); do
    run_bench c.decode c decode "$decode_per_proc" "$decode_rows" "$ecdsa"
    run_bench swift.decode swift decode "$decode_per_proc" "$decode_rows" "$ecdsa"
done
sums=$(awk '$1 == "decode_checksum" { print $2 }' "$R/c.decode.out" "$R/swift.decode.out" | sort -u)
[[ $(wc -l <<<"$sums") -eq 1 ]] || die "C and PGConnect decoded different values (checksums: ${sums//$'\n'/ })"

proc_total=$((reps * proc_runs))
note "pgconnect-check vs psql (success and failure): $proc_total runs each"
# One untimed run of each first (page cache, dynamic loader caches).
spawn warmup 0 "$check" "$ecdsa"
spawn warmup 0 "$psql" -X -c 'select 1' "$ecdsa"
for ((i = 1; i <= proc_total; i++)); do
    spawn check 0 "$check" "$ecdsa"
    spawn psql 0 "$psql" -X -c 'select 1' "$ecdsa"
done
for ((i = 1; i <= proc_total; i++)); do
    spawn check_fail 2 "$check" "$stranger"
    spawn psql_fail 2 "$psql" -X -c 'select 1' "$stranger"
done

note "connect latency ECDSA P-256 vs RSA-4096 (tutorial): $reps rounds x $key_connects connects"
for ((r = 1; r <= reps; r++)); do
    run_bench key_ecdsa swift connect "$key_connects" "$ecdsa"
    values_of connect_us "$R/last" >>"$R/key_ecdsa.us"
    round_median connect_us >>"$R/key_ecdsa.rounds"
    run_bench key_rsa swift connect "$key_connects" "$rsa"
    values_of connect_us "$R/last" >>"$R/key_rsa.us"
    round_median connect_us >>"$R/key_rsa.rounds"
done

targets_supported=0
if "$check" check --help 2>&1 | grep -q -- --targets; then
    targets_supported=1
    note "--targets: 50 targets vs 1, $reps rounds"
    printf '%s\n' "$ecdsa" >"$work/targets1.txt"
    for ((i = 0; i < 50; i++)); do printf '%s\n' "$ecdsa"; done >"$work/targets50.txt"
    spawn warmup 0 "$check" --targets "$work/targets50.txt"
    for ((r = 1; r <= reps; r++)); do
        spawn targets1 0 "$check" --targets "$work/targets1.txt"
        spawn targets50 0 "$check" --targets "$work/targets50.txt"
    done
fi

# ---------------------------------------------------------------- report
values_of connect_us "$R/c.connect.out" >"$R/c.connect.us"
values_of connect_us "$R/swift.connect.out" >"$R/swift.connect.us"
values_of select1_per_s "$R/c.select1.out" >"$R/c.select1.rate"
values_of select1_per_s "$R/swift.select1.out" >"$R/swift.select1.rate"
# Client CPU (user + sys of the benchmark process, getrusage around the measured loop): one
# value per run, per connect (connect + close) and per query.
values_of connect_cpu_us "$R/c.connect.out" >"$R/c.connect.cpu"
values_of connect_cpu_us "$R/swift.connect.out" >"$R/swift.connect.cpu"
values_of select1_cpu_us "$R/c.select1.out" >"$R/c.select1.cpu"
values_of select1_cpu_us "$R/swift.select1.out" >"$R/swift.select1.cpu"
values_of decode_ms "$R/c.decode.out" >"$R/c.decode.ms"
values_of decode_ms "$R/swift.decode.out" >"$R/swift.decode.ms"

# num X: a number for the table (no exponents; fewer decimals for larger numbers)
num() { awk -v x="$1" 'BEGIN { a = x < 0 ? -x : x; if (a >= 1000) printf "%.0f", x; else if (a >= 10) printf "%.1f", x; else printf "%.2f", x }'; }

# row LABEL A_FILE B_FILE RATIO TARGET_OP TARGET [A_RANGE_FILE B_RANGE_FILE]
# The median of all samples, and min–max of the range files (default: the samples themselves).
verdicts=()
row() {
    local label=$1 a=$2 b=$3 ratio=$4 op=$5 target=$6 ar=${7:-$2} br=${8:-$3} verdict='' cell_a cell_b
    local _m amin amax bmin bmax
    read -r _m amin amax _ <<<"$(stats "$ar")"
    read -r _m bmin bmax _ <<<"$(stats "$br")"
    cell_a="$(num "$(median "$a")") [$(num "$amin")–$(num "$amax")] n=$(wc -l <"$a")"
    cell_b="$(num "$(median "$b")") [$(num "$bmin")–$(num "$bmax")] n=$(wc -l <"$b")"
    if [[ -n $target ]]; then
        if awk -v r="$ratio" -v t="$target" -v op="$op" 'BEGIN { exit !((op == "<=" && r <= t) || (op == ">=" && r >= t)) }'; then
            verdict=pass
        else
            verdict=MISS
            verdicts+=("${label%%:*}")
        fi
    fi
    printf '%-40s %-29s %-29s %7s  %-7s %s\n' "$label" "$cell_a" "$cell_b" "$ratio" "${target:+$op $target}" "$verdict"
}

connect_ratio=$(ratio "$(median "$R/swift.connect.us")" "$(median "$R/c.connect.us")")
select1_ratio=$(ratio "$(median "$R/swift.select1.rate")" "$(median "$R/c.select1.rate")")
connect_cpu_ratio=$(ratio "$(median "$R/swift.connect.cpu")" "$(median "$R/c.connect.cpu")")
select1_cpu_ratio=$(ratio "$(median "$R/swift.select1.cpu")" "$(median "$R/c.select1.cpu")")
decode_ratio=$(ratio "$(median "$R/c.decode.ms")" "$(median "$R/swift.decode.ms")")
check_vs_psql=$(ratio "$(median "$R/check.wall")" "$(median "$R/psql.wall")")
check_fail_vs_psql=$(ratio "$(median "$R/check_fail.wall")" "$(median "$R/psql_fail.wall")")
check_rss_vs_psql=$(ratio "$(median "$R/check.rss")" "$(median "$R/psql.rss")")
ecdsa_vs_rsa=$(ratio "$(median "$R/key_ecdsa.us")" "$(median "$R/key_rsa.us")")
targets50_vs_1=skipped
targets50_floor=skipped
if ((targets_supported)); then
    targets50_vs_1=$(ratio "$(median "$R/targets50.wall")" "$(median "$R/targets1.wall")")
    # The least 50 logins can take here however little pgconnect-check adds per target: each
    # costs the CPU of one C libpq login on both sides ((1 + connects) per C run: warm-up included),
    # spread over all cores; divided by one check's wall time.
    per_login=$(awk -v ms="$login_cpu_ms" -v n="$((fine * (connects + 1)))" 'BEGIN { printf "%.3f", ms / n }')
    targets50_floor=$(awk -v p="$per_login" -v c="$cores" -v t="$(median "$R/targets1.wall")" 'BEGIN { printf "%.3f", 50 * p / c / t }')
fi

echo
printf 'pgconnect benchmark (%s run%s; A and B alternate: %d rounds, %d for connect and SELECT 1)\n' \
    "$( ((quick)) && echo quick || echo full)" "$( ((static)) && echo ', --static-swift-stdlib' || echo ', shared Swift runtime')" "$reps" "$fine"
printf '%-40s %-29s %-29s %7s  %-7s\n' "measurement: A / B" "A: median [min–max] n" "B: median [min–max] n" "ratio" "target"
row "connect+login µs: PGConnect / libpq" "$R/swift.connect.us" "$R/c.connect.us" "$connect_ratio" "<=" 1.05 \
    "$R/swift.connect.rounds" "$R/c.connect.rounds"
row "  CPU µs/connect: PGConnect / libpq" "$R/swift.connect.cpu" "$R/c.connect.cpu" "$connect_cpu_ratio" "" ""
row "SELECT 1 per s: PGConnect / libpq" "$R/swift.select1.rate" "$R/c.select1.rate" "$select1_ratio" ">=" 0.95
row "  CPU µs/query: PGConnect / libpq" "$R/swift.select1.cpu" "$R/c.select1.cpu" "$select1_cpu_ratio" "" ""
row "decode 100k rows ms: libpq / PGConnect" "$R/c.decode.ms" "$R/swift.decode.ms" "$decode_ratio" ">=" 0.8
row "check ok ms: pgconnect-check / psql" "$R/check.wall" "$R/psql.wall" "$check_vs_psql" "<=" 1.5
row "check fail ms: pgconnect-check / psql" "$R/check_fail.wall" "$R/psql_fail.wall" "$check_fail_vs_psql" "<=" 1.5
row "peak RSS KiB: pgconnect-check / psql" "$R/check.rss" "$R/psql.rss" "$check_rss_vs_psql" "<=" 2.0
row "connect µs: ECDSA P-256 / RSA-4096" "$R/key_ecdsa.us" "$R/key_rsa.us" "$ecdsa_vs_rsa" "" "" \
    "$R/key_ecdsa.rounds" "$R/key_rsa.rounds"
if ((targets_supported)); then
    row "--targets ms: 50 targets / 1" "$R/targets50.wall" "$R/targets1.wall" "$targets50_vs_1" "<=" 6
    printf '%-40s %-59s %7s\n' "  floor: 50 logins' CPU / $cores cores / 1" "(one login: $per_login ms CPU, client + server)" "$targets50_floor"
fi
echo "(ratio: of the medians; connect rows: [min–max] of the per-round medians, other rows: of all samples;"
echo " client CPU: user + sys of the benchmark process (all its threads) from getrusage around the measured loop, one value per run)"
echo
echo "connect_ratio $connect_ratio"
echo "connect_cpu_ratio $connect_cpu_ratio"
echo "select1_ratio $select1_ratio"
echo "select1_cpu_ratio $select1_cpu_ratio"
echo "decode_ratio $decode_ratio"
echo "check_vs_psql $check_vs_psql"
echo "check_fail_vs_psql $check_fail_vs_psql"
echo "check_rss_vs_psql $check_rss_vs_psql"
echo "ecdsa_vs_rsa4096_connect $ecdsa_vs_rsa"
if ((targets_supported)); then
    echo "targets50_vs_1 $targets50_vs_1"
    echo "targets50_floor $targets50_floor"
    echo "login_cpu_ms $per_login"
else
    echo "targets50_vs_1 skipped (no --targets)"
fi
note "done in $((SECONDS - started)) s"
if ((${#verdicts[@]})); then
    note "missed: ${verdicts[*]}"
    ((strict == 0)) || exit 1
fi
exit 0
