#!/usr/bin/env bash
# make-pki.sh - make a small, correct PKI for PostgreSQL client-certificate login.
#
# Layout written into DIR:
#   root.crt root.key                  self-signed root CA (trust anchor for both sides)
#   intermediate.crt intermediate.key  with --intermediate: CA:TRUE pathlen:0, signed by the root
#   server.crt server.key              server leaf (+ intermediate appended when there is one)
#   <CN>.crt <CN>.key                  client leaf for each CN (+ intermediate appended)
#   <CN>.enc.key                       with --encrypt-key CN:PASSWORD: same key, AES-256 encrypted
#   crl.pem                            CRL of the CA that signs the leaves (lists --revoke'd certs)
#   root.crl.pem                       CRL of the root (the same as crl.pem without an intermediate)
#   server-expired.crt/.key            with --expired-server: an expired server certificate
#   server-other.crt/.key              with --server-name-only NAME: server cert for DNS:NAME only
#   ca-db/root/ ca-db/intermediate/    minimal `openssl ca` databases (index.txt, crlnumber) that
#                                      keep revocations across runs
#
# Why a separate CA instead of a self-signed server.crt used as ssl_ca_file: if the server's own
# self-signed certificate were the trust anchor, whoever can read server.key (the server host,
# its backups, its admins) could sign client certificates for any user name and log in as that
# user. With a dedicated CA only the holder of root.key (or intermediate.key) can mint client
# certificates, and the server only ever needs the public root.crt.
set -euo pipefail

readonly PROG=${0##*/}
readonly EX_USAGE=64

usage() {
    cat <<EOF
Usage: $PROG [options] DIR [CN ...]

Make a PKI for PostgreSQL certificate login in DIR (created if missing): a root CA,
optionally an intermediate CA, a server certificate and one client certificate per CN.

Options:
  --intermediate          also make an intermediate CA (pathlen:0) signed by the root; all
                          leaves are then signed by it and server.crt / <CN>.crt hold the
                          leaf followed by the intermediate
  --server-cn NAME        server certificate CN (default: localhost)
  --server-san SAN        server subjectAltName, openssl syntax
                          (default: DNS:localhost,IP:127.0.0.1)
  --rsa BITS              RSA keys of BITS bits (1024..16384) instead of ECDSA P-256
  --days N                leaf validity in days (default: 825); CAs get max(N, 3650)
  --encrypt-key CN:PASS   also write <CN>.enc.key, CN's key encrypted with AES-256 under PASS
                          (repeatable; CN must be made in this run or have <CN>.key in DIR)
  --expired CN            make a client certificate for CN that expired in the past
                          (valid 2020-01-01 .. 2021-01-01; repeatable)
  --not-yet-valid CN      make a client certificate for CN whose validity starts in the
                          future (valid from now+10 years to now+11 years; repeatable)
  --server-only-usage CN  make a client certificate for CN whose extendedKeyUsage is
                          serverAuth only, no clientAuth ("wrong usage"; repeatable)
  --revoke CN             make the client certificate for CN as usual, then revoke it
                          (repeatable; CN need not be listed again as a positional CN)
  --expired-server        also write server-expired.crt/.key: like server.crt (same CN and
                          SAN) but expired (valid 2020-01-01 .. 2021-01-01)
  --server-name-only NAME also write server-other.crt/.key: a server certificate with
                          CN=NAME and subjectAltName DNS:NAME only (no IP address)
  --force                 make a new root (and intermediate) CA even if DIR already has one
  -h, --help              show this help

Re-running into a DIR that already holds root.crt/root.key reuses that root CA (and
intermediate.crt/intermediate.key if present), so client certificates can be added later.
The server certificate is made anew on every run. Keys are unencrypted PKCS#8 PEM, mode 0600.
Client CNs must match [A-Za-z0-9_@][A-Za-z0-9._@-]* (they are used as file names).

Revocation: every run writes crl.pem (issued by the CA that signs the leaves: the
intermediate when there is one, else the root) and root.crl.pem (issued by the root), both
valid for --days. Revocations are recorded in DIR/ca-db/ and accumulate across runs; that
database is reset when its CA is made anew. Verify a revoked leaf with e.g.
  openssl verify -crl_check_all -CRLfile <(cat DIR/crl.pem DIR/root.crl.pem) \
      -CAfile DIR/root.crt DIR/CN.crt          ->  "certificate revoked"

Examples:
  $PROG --encrypt-key alice:secret --expired old /tmp/pki alice bob
  $PROG --revoke carol --not-yet-valid future --server-only-usage wrongusage \
      --expired-server --server-name-only db.example.test /tmp/pki alice
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

# ---------------------------------------------------------------- arguments
intermediate=0
force=0
server_cn=localhost
server_san='DNS:localhost,IP:127.0.0.1'
rsa_bits=
days=825
dir=
cns=()
expired_cns=()
not_yet_valid_cns=()
server_only_cns=()
revoke_cns=()
encrypt_specs=()
expired_server=0
server_other=0
server_other_name=

need_value() {
    # $1 option name, $2 number of remaining args (including the option itself)
    if (($2 < 2)); then
        usage_error "option $1 needs a value"
    fi
}

while (($# > 0)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --intermediate) intermediate=1 ;;
    --force) force=1 ;;
    --server-cn)
        need_value "$1" $#
        server_cn=$2
        shift
        ;;
    --server-cn=*) server_cn=${1#*=} ;;
    --server-san)
        need_value "$1" $#
        server_san=$2
        shift
        ;;
    --server-san=*) server_san=${1#*=} ;;
    --rsa)
        need_value "$1" $#
        rsa_bits=$2
        shift
        ;;
    --rsa=*) rsa_bits=${1#*=} ;;
    --days)
        need_value "$1" $#
        days=$2
        shift
        ;;
    --days=*) days=${1#*=} ;;
    --encrypt-key)
        need_value "$1" $#
        encrypt_specs+=("$2")
        shift
        ;;
    --encrypt-key=*) encrypt_specs+=("${1#*=}") ;;
    --expired)
        need_value "$1" $#
        expired_cns+=("$2")
        shift
        ;;
    --expired=*) expired_cns+=("${1#*=}") ;;
    --not-yet-valid)
        need_value "$1" $#
        not_yet_valid_cns+=("$2")
        shift
        ;;
    --not-yet-valid=*) not_yet_valid_cns+=("${1#*=}") ;;
    --server-only-usage)
        need_value "$1" $#
        server_only_cns+=("$2")
        shift
        ;;
    --server-only-usage=*) server_only_cns+=("${1#*=}") ;;
    --revoke)
        need_value "$1" $#
        revoke_cns+=("$2")
        shift
        ;;
    --revoke=*) revoke_cns+=("${1#*=}") ;;
    --expired-server) expired_server=1 ;;
    --server-name-only)
        need_value "$1" $#
        server_other=1
        server_other_name=$2
        shift
        ;;
    --server-name-only=*)
        server_other=1
        server_other_name=${1#*=}
        ;;
    --)
        shift
        break
        ;;
    -?*) usage_error "unknown option: $1" ;;
    *)
        if [[ -z $dir ]]; then
            dir=$1
        else
            cns+=("$1")
        fi
        ;;
    esac
    shift
done
for arg in "$@"; do
    if [[ -z $dir ]]; then
        dir=$arg
    else
        cns+=("$arg")
    fi
done

[[ -n $dir ]] || usage_error "missing DIR"

# ---------------------------------------------------------------- validation
if [[ -n $rsa_bits ]]; then
    [[ $rsa_bits =~ ^[0-9]+$ ]] || usage_error "--rsa: BITS must be a number, got '$rsa_bits'"
    ((10#$rsa_bits >= 1024 && 10#$rsa_bits <= 16384)) ||
        usage_error "--rsa: BITS must be between 1024 and 16384, got '$rsa_bits'"
    rsa_bits=$((10#$rsa_bits))
fi
if ! [[ $days =~ ^[0-9]+$ ]] || ((10#$days < 1 || 10#$days > 36500)); then
    usage_error "--days: N must be a whole number of days between 1 and 36500, got '$days'"
fi
days=$((10#$days))
ca_days=$((days > 3650 ? days : 3650))

[[ $server_cn =~ ^[A-Za-z0-9_*][A-Za-z0-9._*@\ -]*$ ]] ||
    usage_error "--server-cn: invalid name '$server_cn' (allowed: letters, digits, . _ * @ - and space)"

valid_san() {
    local entry entries
    [[ -n $1 ]] || return 1
    IFS=, read -r -a entries <<<"$1"
    ((${#entries[@]} > 0)) || return 1
    for entry in "${entries[@]}"; do
        entry=${entry# }
        [[ $entry =~ ^(DNS|IP|email|URI|RID|dirName|otherName):[^[:space:]]+$ ]] || return 1
    done
}
valid_san "$server_san" ||
    usage_error "--server-san: invalid subjectAltName '$server_san' (expected e.g. DNS:host.example,IP:127.0.0.1)"

valid_cn() {
    [[ $1 =~ ^[A-Za-z0-9_@][A-Za-z0-9._@-]*$ ]] || return 1
    case $1 in
    root | intermediate | server | server-expired | server-other | openssl | *.enc) return 1 ;;
    *) ;;
    esac
    ((${#1} <= 64)) || return 1
}
# seen[CN]: how CN is made in this run ("plain" for a positional CN, else the option's name).
declare -A seen=()
# add_cn CN HOW: validate CN and record it; every CN may be made only once per run.
add_cn() {
    local what=client
    [[ $2 == plain ]] || what="$2"
    valid_cn "$1" ||
        usage_error "invalid $what CN '$1' (allowed: [A-Za-z0-9_@][A-Za-z0-9._@-]*, at most 64 characters, not root/intermediate/server/server-expired/server-other/openssl, not ending in .enc)"
    [[ -z ${seen[$1]:-} ]] || usage_error "client CN '$1' given more than once"
    seen[$1]=$2
}
for cn in ${cns[@]+"${cns[@]}"}; do add_cn "$cn" plain; done
for cn in ${expired_cns[@]+"${expired_cns[@]}"}; do add_cn "$cn" --expired; done
for cn in ${not_yet_valid_cns[@]+"${not_yet_valid_cns[@]}"}; do add_cn "$cn" --not-yet-valid; done
for cn in ${server_only_cns[@]+"${server_only_cns[@]}"}; do add_cn "$cn" --server-only-usage; done
# --revoke CN makes an ordinary client certificate for CN (also when CN is not a positional CN)
# and then revokes it.
declare -A revoked=()
for cn in ${revoke_cns[@]+"${revoke_cns[@]}"}; do
    [[ -z ${revoked[$cn]:-} ]] || usage_error "--revoke: '$cn' given more than once"
    case ${seen[$cn]:-} in
    '') add_cn "$cn" --revoke && cns+=("$cn") ;;
    plain) ;;
    *) usage_error "--revoke: '$cn' is also given to ${seen[$cn]}; only ordinary client certificates can be revoked" ;;
    esac
    revoked[$cn]=1
done

if ((server_other)); then
    dns_re='^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$'
    [[ $server_other_name =~ $dns_re && ${#server_other_name} -le 64 ]] ||
        usage_error "--server-name-only: '$server_other_name' is not a DNS name (letters, digits and -, dot-separated labels, optionally *. first, at most 64 characters)"
fi

declare -A enc_pass=()
for spec in ${encrypt_specs[@]+"${encrypt_specs[@]}"}; do
    [[ $spec == *:* ]] || usage_error "--encrypt-key: expected CN:PASSWORD, got '$spec'"
    cn=${spec%%:*}
    pw=${spec#*:}
    valid_cn "$cn" || usage_error "--encrypt-key: invalid CN '$cn'"
    [[ -n $pw ]] || usage_error "--encrypt-key: empty password for '$cn'"
    if [[ -z ${seen[$cn]:-} && ! -f $dir/$cn.key ]]; then
        usage_error "--encrypt-key: '$cn' is neither a CN made in this run nor has an existing $dir/$cn.key"
    fi
    enc_pass[$cn]=$pw
done

command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH"

# ---------------------------------------------------------------- workspace
if [[ -e $dir && ! -d $dir ]]; then
    die "DIR '$dir' exists and is not a directory"
fi
mkdir -p -- "$dir" || die "cannot create DIR '$dir'"
dir=$(cd -- "$dir" && pwd -P) || die "cannot enter DIR '$dir'"
[[ -w $dir ]] || die "DIR '$dir' is not writable"

work=$(mktemp -d "${TMPDIR:-/tmp}/make-pki.XXXXXX") || die "cannot create a temporary directory"
cleanup() { rm -rf -- "$work"; }
trap cleanup EXIT

# Run openssl quietly; on failure show its output and what we were doing.
ossl() {
    local what=$1
    shift
    if ! openssl "$@" >"$work/ossl.out" 2>&1; then
        printf '%s: error: openssl failed while %s:\n' "$PROG" "$what" >&2
        sed 's/^/    /' "$work/ossl.out" >&2
        exit 1
    fi
}

serial() {
    # Random positive 127-bit serial (top bit cleared so it never needs a sign byte).
    local hex
    hex=$(openssl rand -hex 16) || die "openssl rand failed"
    printf '0x%x%s\n' $((0x${hex:0:1} & 7)) "${hex:1}"
}

if [[ -n $rsa_bits ]]; then
    key_desc="RSA $rsa_bits"
    server_ku='critical, digitalSignature, keyEncipherment'
else
    key_desc="EC P-256"
    # keyEncipherment (RSA key transport) has no meaning for an EC key (RFC 5480); ECDHE
    # suites only need digitalSignature.
    server_ku='critical, digitalSignature'
fi

cnf=$work/openssl.cnf
cat >"$cnf" <<EOF
[ req ]
distinguished_name = req_dn
prompt = no
utf8 = yes
string_mask = utf8only

[ req_dn ]
CN = unused

[ v3_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = $server_ku
extendedKeyUsage = serverAuth
subjectAltName = $server_san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# --server-only-usage: a "client" certificate that may only authenticate servers.
[ v3_client_serveronly ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# --server-name-only NAME: a server certificate for DNS:NAME alone.
[ v3_server_other ]
basicConstraints = critical, CA:FALSE
keyUsage = $server_ku
extendedKeyUsage = serverAuth
subjectAltName = DNS:${server_other_name:-unused.invalid}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# Only used for certificates with chosen validity dates (--expired, --not-yet-valid,
# --expired-server): openssl ca can set both dates; openssl x509 -req in 3.0 cannot.
[ ca ]
default_ca = expired_ca

[ expired_ca ]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
preserve = yes

[ policy_any ]
organizationName = optional
commonName = supplied
EOF

# Revocation and CRLs use the persistent database of one CA in DIR/ca-db/NAME, named through
# the environment (so that no path has to be quoted for openssl's config syntax).
crl_cnf=$work/crl.cnf
cat >"$crl_cnf" <<EOF
[ ca ]
default_ca = crl_ca

[ crl_ca ]
dir = \$ENV::PGCONNECT_CA_DB
database = \$dir/index.txt
crlnumber = \$dir/crlnumber
default_md = sha256
default_crl_days = $days
unique_subject = no
crl_extensions = crl_ext

[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF

# new_key FILE: write a fresh unencrypted private key with mode 0600.
new_key() {
    local out=$1
    rm -f -- "$out"
    if [[ -n $rsa_bits ]]; then
        (umask 077 && ossl "generating $out" genpkey -quiet -algorithm RSA \
            -pkeyopt "rsa_keygen_bits:$rsa_bits" -out "$out")
    else
        (umask 077 && ossl "generating $out" genpkey -quiet -algorithm EC \
            -pkeyopt ec_paramgen_curve:P-256 -out "$out")
    fi
    chmod 0600 -- "$out"
}

# key_matches CERT KEY: the certificate's public key is the key's public key.
key_matches() {
    local a b
    a=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) || return 1
    b=$(openssl pkey -in "$2" -pubout 2>/dev/null) || return 1
    [[ -n $a && $a == "$b" ]]
}

made=()   # files to list at the end: "made FILE" / "kept FILE"
leaves=() # leaf certificates to verify: "purpose FILE"

# ---------------------------------------------------------------- root CA
if ((force)); then
    rm -f -- "$dir/root.crt" "$dir/root.key" "$dir/intermediate.crt" "$dir/intermediate.key"
fi

if [[ -f $dir/root.crt || -f $dir/root.key ]]; then
    [[ -f $dir/root.crt ]] || die "$dir/root.key exists without root.crt (use --force to make a new CA)"
    [[ -f $dir/root.key ]] || die "$dir/root.crt exists without root.key (use --force to make a new CA)"
    key_matches "$dir/root.crt" "$dir/root.key" ||
        die "$dir/root.key does not belong to $dir/root.crt (use --force to make a new CA)"
    made+=("kept root.crt" "kept root.key")
else
    ca_id=$(openssl rand -hex 4)
    new_key "$dir/root.key"
    ossl "making root.crt" req -config "$cnf" -new -x509 -sha256 -key "$dir/root.key" \
        -subj "/O=pgconnect/CN=pgconnect Root CA $ca_id" -days "$ca_days" \
        -set_serial "$(serial)" -extensions v3_root -out "$dir/root.crt"
    chmod 0644 -- "$dir/root.crt"
    made+=("made root.crt" "made root.key")
fi

# ---------------------------------------------------------------- intermediate CA
# sign_cert CSR OUT EXT_SECTION ISSUER_CRT ISSUER_KEY [DAYS]
sign_cert() {
    ossl "signing $2" x509 -req -in "$1" -out "$2" -sha256 -days "${6:-$days}" \
        -CA "$4" -CAkey "$5" -set_serial "$(serial)" -extfile "$cnf" -extensions "$3"
}

if [[ -f $dir/intermediate.crt || -f $dir/intermediate.key ]]; then
    [[ -f $dir/intermediate.crt && -f $dir/intermediate.key ]] ||
        die "$dir has only one of intermediate.crt / intermediate.key (use --force to make new CAs)"
    key_matches "$dir/intermediate.crt" "$dir/intermediate.key" ||
        die "$dir/intermediate.key does not belong to $dir/intermediate.crt (use --force)"
    openssl verify -CAfile "$dir/root.crt" "$dir/intermediate.crt" >/dev/null 2>&1 ||
        die "$dir/intermediate.crt is not signed by $dir/root.crt (use --force to make new CAs)"
    ((intermediate)) || note "reusing the existing intermediate CA in $dir (leaves are signed by it)"
    intermediate=1
    made+=("kept intermediate.crt" "kept intermediate.key")
elif ((intermediate)); then
    new_key "$dir/intermediate.key"
    ca_id=$(openssl rand -hex 4)
    ossl "making the intermediate CSR" req -config "$cnf" -new -sha256 \
        -key "$dir/intermediate.key" -subj "/O=pgconnect/CN=pgconnect Intermediate CA $ca_id" \
        -out "$work/intermediate.csr"
    sign_cert "$work/intermediate.csr" "$dir/intermediate.crt" v3_intermediate \
        "$dir/root.crt" "$dir/root.key" "$ca_days"
    chmod 0644 -- "$dir/intermediate.crt"
    made+=("made intermediate.crt" "made intermediate.key")
fi

if ((intermediate)); then
    issuer_crt=$dir/intermediate.crt
    issuer_key=$dir/intermediate.key
else
    issuer_crt=$dir/root.crt
    issuer_key=$dir/root.key
fi

# finish_leaf NAME: append the intermediate (the chain the peer needs) and fix modes.
finish_leaf() {
    local crt=$dir/$1.crt
    if ((intermediate)); then
        cat -- "$dir/intermediate.crt" >>"$crt"
    fi
    chmod 0644 -- "$crt"
}

# client_csr CN: a fresh key DIR/CN.key and a CSR for /O=pgconnect/CN=CN in the workspace.
client_csr() {
    new_key "$dir/$1.key"
    ossl "making the CSR for $1" req -config "$cnf" -new -sha256 -key "$dir/$1.key" \
        -subj "/O=pgconnect/CN=$1" -out "$work/$1.csr"
}

# sign_dated CSR OUT EXT_SECTION STARTDATE ENDDATE: sign with the leaf issuer, valid exactly
# from STARTDATE to ENDDATE (YYYYMMDDHHMMSSZ), through the throw-away openssl ca in $work/ca.
sign_dated() {
    if [[ ! -d $work/ca ]]; then
        mkdir -p -- "$work/ca/newcerts"
        : >"$work/ca/index.txt"
        local s
        s=$(serial)
        printf '%s\n' "${s#0x}" >"$work/ca/serial"
    fi
    rm -f -- "$2"
    ossl "signing ${2##*/}" ca -config "$cnf" -batch -notext -preserveDN \
        -in "$1" -out "$2" -cert "$issuer_crt" -keyfile "$issuer_key" \
        -startdate "$4" -enddate "$5" -extfile "$cnf" -extensions "$3"
}

readonly PAST_START=20200101000000Z PAST_END=20210101000000Z

# leaves: "PURPOSE|NAME|EXPECT" - verify NAME.crt for PURPOSE; EXPECT is "ok" or the text that
# openssl verify must report. tag[FILE]: a note for the listing.
declare -A tag=()

# ---------------------------------------------------------------- server
new_key "$dir/server.key"
ossl "making the server CSR" req -config "$cnf" -new -sha256 -key "$dir/server.key" \
    -subj "/CN=$server_cn" -out "$work/server.csr"
sign_cert "$work/server.csr" "$dir/server.crt" v3_server "$issuer_crt" "$issuer_key"
finish_leaf server
made+=("made server.crt" "made server.key")
leaves+=("sslserver|server|ok")

if ((expired_server)); then
    new_key "$dir/server-expired.key"
    ossl "making the expired server CSR" req -config "$cnf" -new -sha256 \
        -key "$dir/server-expired.key" -subj "/CN=$server_cn" -out "$work/server-expired.csr"
    sign_dated "$work/server-expired.csr" "$dir/server-expired.crt" v3_server "$PAST_START" "$PAST_END"
    finish_leaf server-expired
    made+=("made server-expired.crt" "made server-expired.key")
    leaves+=("sslserver|server-expired|certificate has expired")
    tag[server-expired.crt]=expired
fi

if ((server_other)); then
    new_key "$dir/server-other.key"
    ossl "making the server-other CSR" req -config "$cnf" -new -sha256 \
        -key "$dir/server-other.key" -subj "/CN=$server_other_name" -out "$work/server-other.csr"
    sign_cert "$work/server-other.csr" "$dir/server-other.crt" v3_server_other "$issuer_crt" "$issuer_key"
    finish_leaf server-other
    made+=("made server-other.crt" "made server-other.key")
    leaves+=("sslserver|server-other|ok")
    tag[server-other.crt]="SAN DNS:$server_other_name only"
fi

# ---------------------------------------------------------------- clients
for cn in ${cns[@]+"${cns[@]}"}; do
    client_csr "$cn"
    sign_cert "$work/$cn.csr" "$dir/$cn.crt" v3_client "$issuer_crt" "$issuer_key"
    finish_leaf "$cn"
    made+=("made $cn.crt" "made $cn.key")
    if [[ -n ${revoked[$cn]:-} ]]; then
        leaves+=("sslclient|$cn|certificate revoked")
        tag[$cn.crt]=revoked
    else
        leaves+=("sslclient|$cn|ok")
    fi
done

# ---------------------------------------------------------------- expired clients
for cn in ${expired_cns[@]+"${expired_cns[@]}"}; do
    client_csr "$cn"
    sign_dated "$work/$cn.csr" "$dir/$cn.crt" v3_client "$PAST_START" "$PAST_END"
    if openssl x509 -in "$dir/$cn.crt" -noout -checkend 0 >/dev/null 2>&1; then
        die "$dir/$cn.crt should be expired but is not"
    fi
    finish_leaf "$cn"
    made+=("made $cn.crt" "made $cn.key")
    leaves+=("sslclient|$cn|certificate has expired")
    tag[$cn.crt]=expired
done

# ---------------------------------------------------------------- not-yet-valid clients
if ((${#not_yet_valid_cns[@]} > 0)); then
    future_start=$(date -u -d '+10 years' +%Y%m%d%H%M%SZ 2>/dev/null) ||
        die "cannot compute a date 10 years from now (needs GNU date)"
    future_end=$(date -u -d '+11 years' +%Y%m%d%H%M%SZ 2>/dev/null) ||
        die "cannot compute a date 11 years from now (needs GNU date)"
fi
for cn in ${not_yet_valid_cns[@]+"${not_yet_valid_cns[@]}"}; do
    client_csr "$cn"
    sign_dated "$work/$cn.csr" "$dir/$cn.crt" v3_client "$future_start" "$future_end"
    finish_leaf "$cn"
    made+=("made $cn.crt" "made $cn.key")
    leaves+=("sslclient|$cn|certificate is not yet valid")
    tag[$cn.crt]="not yet valid"
done

# ---------------------------------------------------------------- wrong-usage clients
for cn in ${server_only_cns[@]+"${server_only_cns[@]}"}; do
    client_csr "$cn"
    sign_cert "$work/$cn.csr" "$dir/$cn.crt" v3_client_serveronly "$issuer_crt" "$issuer_key"
    finish_leaf "$cn"
    made+=("made $cn.crt" "made $cn.key")
    leaves+=("sslclient|$cn|unsuitable certificate purpose")
    tag[$cn.crt]="serverAuth only"
done

# ---------------------------------------------------------------- CA databases, revocation, CRLs
# init_ca_db NAME CRT: the openssl ca database DIR/ca-db/NAME of the CA CRT, kept across runs;
# made anew when missing or when it belongs to another CA (e.g. after --force).
init_ca_db() {
    local db=$dir/ca-db/$1 fp
    fp=$(openssl x509 -in "$2" -noout -fingerprint -sha256 2>/dev/null) || die "cannot read $2"
    if [[ -d $db ]]; then
        if [[ -f $db/ca.fingerprint && -f $db/index.txt && -f $db/crlnumber &&
            $(<"$db/ca.fingerprint") == "$fp" ]]; then
            return 0
        fi
        note "resetting $db: it does not belong to the current ${2##*/} (revocations of the old CA are dropped)"
        rm -rf -- "$db"
    fi
    mkdir -p -- "$db" || die "cannot create $db"
    : >"$db/index.txt"
    printf 'unique_subject = no\n' >"$db/index.txt.attr"
    printf '01\n' >"$db/crlnumber"
    printf '%s\n' "$fp" >"$db/ca.fingerprint"
}

# gen_crl NAME CRT KEY OUT: write DIR/OUT, the CRL of CA NAME, valid for --days.
gen_crl() {
    PGCONNECT_CA_DB=$dir/ca-db/$1 ossl "making ${4}" ca -config "$crl_cnf" -gencrl \
        -cert "$2" -keyfile "$3" -crldays "$days" -out "$work/$4"
    cp -- "$work/$4" "$dir/$4"
    chmod 0644 -- "$dir/$4"
    made+=("made $4")
}

mkdir -p -- "$dir/ca-db" || die "cannot create $dir/ca-db"
chmod 0700 -- "$dir/ca-db"
init_ca_db root "$dir/root.crt"
leaf_db=root
if ((intermediate)); then
    init_ca_db intermediate "$dir/intermediate.crt"
    leaf_db=intermediate
fi

for cn in ${revoke_cns[@]+"${revoke_cns[@]}"}; do
    PGCONNECT_CA_DB=$dir/ca-db/$leaf_db ossl "revoking $cn.crt" ca -config "$crl_cnf" \
        -revoke "$dir/$cn.crt" -cert "$issuer_crt" -keyfile "$issuer_key" -crl_reason keyCompromise
done

gen_crl "$leaf_db" "$issuer_crt" "$issuer_key" crl.pem
if ((intermediate)); then
    gen_crl root "$dir/root.crt" "$dir/root.key" root.crl.pem
else
    # The root signs the leaves: its CRL is crl.pem.
    cp -- "$dir/crl.pem" "$dir/root.crl.pem"
    chmod 0644 -- "$dir/root.crl.pem"
    made+=("made root.crl.pem")
fi

# ---------------------------------------------------------------- encrypted keys
for cn in "${!enc_pass[@]}"; do
    out=$dir/$cn.enc.key
    rm -f -- "$out"
    (umask 077 && PGCONNECT_KEY_PASS=${enc_pass[$cn]} ossl "encrypting $cn.key" pkey \
        -in "$dir/$cn.key" -aes256 -passout env:PGCONNECT_KEY_PASS -out "$out")
    chmod 0600 -- "$out"
    PGCONNECT_KEY_PASS=${enc_pass[$cn]} ossl "checking $cn.enc.key" pkey -in "$out" \
        -passin env:PGCONNECT_KEY_PASS -noout
    made+=("made $cn.enc.key")
done

# ---------------------------------------------------------------- verify
# Every leaf made in this run, checked against the CRLs of every CA in the chain.
chain_args=(-CAfile "$dir/root.crt")
if ((intermediate)); then
    chain_args+=(-untrusted "$dir/intermediate.crt")
    cat -- "$dir/crl.pem" "$dir/root.crl.pem" >"$work/crls.pem"
else
    cp -- "$dir/crl.pem" "$work/crls.pem"
fi
verify_args=("${chain_args[@]}" -crl_check_all -CRLfile "$work/crls.pem")
failed=0
for entry in "${leaves[@]}"; do
    IFS='|' read -r purpose name expect <<<"$entry"
    rc=0
    out=$(openssl verify "${verify_args[@]}" -purpose "$purpose" "$dir/$name.crt" 2>&1) || rc=$?
    if [[ $expect == ok ]] && ((rc != 0)); then
        printf '%s: error: %s.crt does not verify:\n%s\n' "$PROG" "$name" "$out" >&2
        failed=1
    elif [[ $expect != ok ]] && ((rc == 0)); then
        printf '%s: error: %s.crt verifies, but it should fail with "%s"\n' "$PROG" "$name" "$expect" >&2
        failed=1
    elif [[ $expect != ok && $out != *"$expect"* ]]; then
        printf '%s: error: %s.crt should fail verification with "%s", but openssl said:\n%s\n' \
            "$PROG" "$name" "$expect" "$out" >&2
        failed=1
    elif ! key_matches "$dir/$name.crt" "$dir/$name.key"; then
        printf '%s: error: %s.key does not match %s.crt\n' "$PROG" "$name" "$name" >&2
        failed=1
    fi
done
((failed == 0)) || die "verification failed"

# Leaves left over from earlier runs that no longer chain to the (possibly new) CA (validity
# dates, revocation and purposes are not the question here).
declare -A listed=()
for entry in "${made[@]}"; do
    listed[${entry#* }]=1
done
for crt in "$dir"/*.crt; do
    [[ -e $crt ]] || continue
    base=${crt##*/}
    [[ -z ${listed[$base]:-} ]] || continue
    if ! openssl verify "${chain_args[@]}" -no_check_time "$crt" >/dev/null 2>&1; then
        if openssl x509 -in "$crt" -noout -checkend 0 >/dev/null 2>&1; then
            note "warning: $base (from an earlier run) does not verify against the current CA"
        fi
    fi
done

# ---------------------------------------------------------------- listing
for entry in "${made[@]}"; do
    verb=${entry%% *}
    file=${entry#* }
    path=$dir/$file
    case $file in
    *.crt)
        info=$(openssl x509 -in "$path" -noout -subject -issuer -enddate \
            -nameopt sep_comma_plus,utf8,esc_ctrl,esc_2253) || die "cannot read $path"
        subject=$(sed -n 's/^subject=//p' <<<"$info")
        issuer=$(sed -n 's/^issuer=//p' <<<"$info")
        expires=$(sed -n 's/^notAfter=//p' <<<"$info")
        extra=
        if ((intermediate)) && [[ $file != root.crt && $file != intermediate.crt ]]; then
            extra="  (+ intermediate)"
        fi
        [[ -z ${tag[$file]:-} ]] || extra+="  (${tag[$file]})"
        printf '%s  %s  subject=%s  issuer=%s  expires %s%s\n' \
            "$verb" "$file" "$subject" "$issuer" "$expires" "$extra"
        ;;
    *.pem)
        info=$(openssl crl -in "$path" -noout -issuer -nextupdate \
            -nameopt sep_comma_plus,utf8,esc_ctrl,esc_2253) || die "cannot read $path"
        issuer=$(sed -n 's/^issuer=//p' <<<"$info")
        next=$(sed -n 's/^nextUpdate=//p' <<<"$info")
        count=$(openssl crl -in "$path" -noout -text | grep -c 'Serial Number:' || true)
        printf '%s  %s  CRL  issuer=%s  revoked=%s  next update %s\n' \
            "$verb" "$file" "$issuer" "$count" "$next"
        ;;
    *.enc.key)
        mode=$(stat -c %a -- "$path")
        printf '%s  %s  mode=0%s  AES-256 encrypted\n' "$verb" "$file" "$mode"
        ;;
    *.key)
        mode=$(stat -c %a -- "$path")
        printf '%s  %s  mode=0%s\n' "$verb" "$file" "$mode"
        ;;
    *) ;;
    esac
done
printf 'pki   %s  keys=%s  leaves signed by %s\n' "$dir" "$key_desc" "${issuer_crt##*/}"
