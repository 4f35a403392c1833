#!/usr/bin/env bash
# make-test-fixtures.sh - every certificate, key and CRL the integration tests need, in DIR.
#
# Layout (all made with scripts/make-pki.sh except tutorial/):
#   main/       root CA; server.crt/.key (DNS:localhost, IP:127.0.0.1); clients alice, bob,
#               carol (revoked), old (expired), future (not yet valid), wrongusage (serverAuth
#               only); alice.enc.key (password "secret"); crl.pem (lists carol);
#               server-expired.crt/.key; server-other.crt/.key (CN and SAN DNS:db.example.test)
#   inter/      root CA + intermediate CA; server.crt and ivan.crt hold leaf + intermediate;
#               ivan.leaf.crt (the leaf alone); crl.pem (the intermediate's CRL) and
#               root.crl.pem (the root's CRL)
#   other/      an unrelated CA the server does not trust; client stranger
#   tutorial/   the popular tutorial setup: a self-signed RSA-4096 server.crt (CN=localhost, no
#               subjectAltName, CA:TRUE) that directly signs the client alice.crt (RSA 2048);
#               root.crt is a copy of server.crt
#   ca-bundle.crt      main/root.crt + inter/root.crt (the test server's ssl_ca_file)
#   crl-bundle.pem     main/crl.pem + inter/root.crl.pem + inter/crl.pem (a CRL for every CA)
#   crl-root-only.pem  main/crl.pem + inter/root.crl.pem (the intermediate's CRL missing)
#   <dir>/<name>.server-owned.key  copies of the server keys for ALTER SYSTEM SET ssl_key_file,
#               owned by the server's OS user with mode 0600 (main/server, main/server-expired,
#               main/server-other, inter/server, tutorial/server)
#
# As root, the PostgreSQL server runs as the OS user `postgres`: it must be able to read every
# *.crt and CRL here and to search every directory on the way (an ancestor under $TMPDIR that
# it cannot search, e.g. the 0700 directory made by mktemp -d, gets o+x). The original keys stay
# with the invoking user (mode 0600) for the client side.
set -euo pipefail

readonly PROG=${0##*/}
readonly EX_USAGE=64
readonly PG_OS_USER=postgres

usage() {
    cat <<EOF
Usage: $PROG DIR

Make every certificate, key and CRL the pgconnect integration tests need under DIR
(created if missing; usually a fresh \`mktemp -d\` directory). Prints a summary on stdout;
make-pki.sh's output goes to DIR/fixtures.log.

Files: main/ inter/ other/ tutorial/ ca-bundle.crt crl-bundle.pem crl-root-only.pem and
*.server-owned.key copies of the server keys (see the comment at the top of this script).
When run as root, the OS user '$PG_OS_USER' (the server's) can read every certificate and CRL
and owns the *.server-owned.key copies (mode 0600).

Example:
  d=\$(mktemp -d)
  $PROG "\$d/fixtures"
EOF
}

die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage_error() {
    printf '%s: %s\n\n' "$PROG" "$*" >&2
    usage >&2
    exit "$EX_USAGE"
}

note() {
    printf '%s: %s\n' "$PROG" "$*" >&2
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# ---------------------------------------------------------------- arguments
dir=
while (($# > 0)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        { (($# == 1)) && [[ -z $dir ]]; } || usage_error "expected exactly one DIR"
        dir=$1
        break
        ;;
    -?*) usage_error "unknown option: $1" ;;
    *)
        [[ -z $dir ]] || usage_error "unexpected argument: $1 (DIR already given as $dir)"
        dir=$1
        ;;
    esac
    shift
done
[[ -n $dir ]] || usage_error "missing DIR"

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P) || die "cannot find the scripts directory"
make_pki=$here/make-pki.sh
[[ -x $make_pki ]] || die "$make_pki is missing or not executable"
command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH"

server_user=
if is_root; then
    server_user=$PG_OS_USER
    id -u "$server_user" >/dev/null 2>&1 ||
        die "running as root but there is no '$server_user' OS user to own the server keys (install PostgreSQL first)"
fi

# run_as_server CMD...: run CMD as the server's OS user (the current user when not root).
run_as_server() {
    if [[ -n $server_user ]]; then
        (cd / && runuser -u "$server_user" -- "$@")
    else
        (cd / && "$@")
    fi
}

[[ ! -e $dir || -d $dir ]] || die "DIR '$dir' exists and is not a directory"
mkdir -p -- "$dir" || die "cannot create DIR '$dir'"
dir=$(cd -- "$dir" && pwd -P) || die "cannot enter DIR '$dir'"
[[ -w $dir ]] || die "DIR '$dir' is not writable"
log=$dir/fixtures.log
: >"$log"

# ---------------------------------------------------------------- make-pki.sh runs
# pki WHAT ARGS...: run make-pki.sh, its output into the log; on failure show it and stop.
pki() {
    local what=$1 before
    shift
    printf '\n$ make-pki.sh %s\n' "$*" >>"$log"
    before=$(wc -l <"$log")
    if ! "$make_pki" "$@" </dev/null >>"$log" 2>&1; then
        printf '%s: error: make-pki.sh failed while making %s; its output:\n' "$PROG" "$what" >&2
        tail -n +"$((before + 1))" -- "$log" | sed 's/^/    /' >&2
        exit 1
    fi
}

# ossl WHAT ARGS...: openssl quietly, never prompting; on failure show its output.
ossl() {
    local what=$1 out
    shift
    if ! out=$(openssl "$@" </dev/null 2>&1); then
        printf '%s: error: openssl failed while %s:\n' "$PROG" "$what" >&2
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        exit 1
    fi
}

pki "main/" --encrypt-key alice:secret --expired old --not-yet-valid future --revoke carol \
    --server-only-usage wrongusage --expired-server --server-name-only db.example.test \
    "$dir/main" alice bob carol
pki "inter/" --intermediate "$dir/inter" ivan
pki "other/" "$dir/other" stranger

# The leaf alone, without the intermediate that make-pki.sh appends.
ossl "extracting inter/ivan.leaf.crt" x509 -in "$dir/inter/ivan.crt" -out "$dir/inter/ivan.leaf.crt"

# ---------------------------------------------------------------- tutorial/
# As the PostgreSQL docs make a quick server certificate (with a 4096-bit key): self-signed,
# CN=localhost, no subjectAltName. OpenSSL 3's `req -x509` marks it CA:TRUE, which is what lets
# the tutorial use it to sign client certificates directly.
tut=$dir/tutorial
mkdir -p -- "$tut"
rm -f -- "$tut/server.crt" "$tut/server.key" "$tut/alice.crt" "$tut/alice.key" "$tut/root.crt"
(
    umask 077
    cd -- "$tut"
    ossl "making tutorial/server.crt" req -new -x509 -days 365 -nodes -text -newkey rsa:4096 \
        -out server.crt -keyout server.key -subj "/CN=localhost"
    ossl "making the CSR for tutorial/alice.crt" req -new -nodes -newkey rsa:2048 \
        -keyout alice.key -out alice.csr -subj "/CN=alice"
    ossl "signing tutorial/alice.crt with tutorial/server.key" x509 -req -in alice.csr -days 365 \
        -CA server.crt -CAkey server.key -set_serial "0x$(openssl rand -hex 8)" -out alice.crt
    rm -f -- alice.csr
)
chmod 0600 -- "$tut/server.key" "$tut/alice.key"
cp -- "$tut/server.crt" "$tut/root.crt"
bc=$(openssl x509 -in "$tut/server.crt" -noout -ext basicConstraints 2>/dev/null || true)
[[ $bc == *CA:TRUE* ]] ||
    die "tutorial/server.crt is not marked CA:TRUE (does OPENSSL_CONF or openssl.cnf change req -x509's extensions?)"
san=$(openssl x509 -in "$tut/server.crt" -noout -ext subjectAltName 2>/dev/null || true)
[[ -z $san ]] || die "tutorial/server.crt unexpectedly has a subjectAltName: $san"
out=$(openssl verify -CAfile "$tut/root.crt" -purpose sslclient "$tut/alice.crt" 2>&1) ||
    die "tutorial/alice.crt does not verify against tutorial/server.crt: $out"

# ---------------------------------------------------------------- bundles
cat -- "$dir/main/root.crt" "$dir/inter/root.crt" >"$dir/ca-bundle.crt"
cat -- "$dir/main/crl.pem" "$dir/inter/root.crl.pem" "$dir/inter/crl.pem" >"$dir/crl-bundle.pem"
cat -- "$dir/main/crl.pem" "$dir/inter/root.crl.pem" >"$dir/crl-root-only.pem"

# ---------------------------------------------------------------- server-owned key copies
server_keys=(main/server main/server-expired main/server-other inter/server tutorial/server)
for k in "${server_keys[@]}"; do
    src=$dir/$k.key
    dst=$dir/$k.server-owned.key
    rm -f -- "$dst"
    (umask 077 && cp -- "$src" "$dst")
    chmod 0600 -- "$dst"
    if [[ -n $server_user ]]; then
        chown "$server_user:" -- "$dst"
    fi
done

# ---------------------------------------------------------------- permissions
# Directories searchable and certificates/CRLs readable by everyone (a caller's umask 077
# must not matter); private keys stay 0600; make-pki.sh's ca-db/ stays private.
for d in "$dir" "$dir/main" "$dir/inter" "$dir/other" "$dir/tutorial"; do
    chmod 0755 -- "$d"
done
find "$dir" -path "$dir/*/ca-db" -prune -o -type f \( -name '*.crt' -o -name '*.pem' \) \
    -exec chmod 0644 -- {} +
chmod 0644 -- "$log"

# ensure_reachable DIR: the server user can search every ancestor of DIR. Ancestors under the
# temporary directory get o+x (search only, no listing); elsewhere stop with a clear message.
ensure_reachable() {
    local target=$1 p tmp a i ancestors=()
    tmp=$(cd -- "${TMPDIR:-/tmp}" 2>/dev/null && pwd -P || printf '/tmp')
    p=$target
    while [[ $p != / && -n $p ]]; do
        p=${p%/*}
        [[ -n $p ]] || p=/
        ancestors+=("$p")
    done
    for ((i = ${#ancestors[@]} - 1; i >= 0; i--)); do
        a=${ancestors[i]}
        run_as_server test -x "$a" && continue
        if [[ $a == "$tmp"/* ]]; then
            chmod o+x -- "$a" || die "cannot chmod o+x '$a' so that OS user '$server_user' can reach '$target'"
            note "granted search permission (o+x) on $a so that OS user '$server_user' can reach $target"
            run_as_server test -x "$a" ||
                die "OS user '$server_user' still cannot search '$a' (ACLs or group settings?)"
        else
            die "OS user '$server_user' cannot reach '$target': no search permission on '$a' ($(stat -c '%A %U:%G' -- "$a")). Use a directory under $tmp, or chmod o+x '$a'"
        fi
    done
}
if [[ -n $server_user ]]; then
    ensure_reachable "$dir"
fi

# Check what the server will be asked to read.
unreadable=()
while IFS= read -r -d '' f; do
    run_as_server test -r "$f" || unreadable+=("$f")
done < <(find "$dir" -path "$dir/*/ca-db" -prune -o -type f \
    \( -name '*.crt' -o -name '*.pem' -o -name '*.server-owned.key' \) -print0)
((${#unreadable[@]} == 0)) ||
    die "the server's OS user '${server_user:-$(id -un)}' cannot read: ${unreadable[*]}"

# ---------------------------------------------------------------- summary
owner=${server_user:-$(id -un)}
cat <<EOF
fixtures        $dir  (make-pki.sh output: fixtures.log)
main/           root CA; server (localhost, 127.0.0.1); clients alice bob carol(revoked) old(expired) future(not yet valid) wrongusage(serverAuth only); alice.enc.key (secret); crl.pem; server-expired; server-other (DNS:db.example.test only)
inter/          root + intermediate CA; ivan.crt (leaf + intermediate), ivan.leaf.crt (leaf only); crl.pem (intermediate's), root.crl.pem (root's)
other/          untrusted CA; client stranger
tutorial/       self-signed server.crt (CN=localhost, no SAN, RSA 4096) = root.crt; alice.crt signed by it
ca-bundle.crt   main + inter roots
crl-bundle.pem  main/crl.pem + inter/root.crl.pem + inter/crl.pem
crl-root-only.pem  main/crl.pem + inter/root.crl.pem (no intermediate CRL)
server-owned    ${server_keys[*]/%/.server-owned.key}  (owner $owner, mode 0600)
EOF
