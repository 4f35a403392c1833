#!/usr/bin/env bash
# cluster.sh - a throw-away local PostgreSQL cluster with client-certificate login, for tests.
#
#   cluster.sh start --pki PKIDIR [options] DIR
#   cluster.sh stop DIR
#   cluster.sh status DIR
#
# PostgreSQL refuses to run as root. When this script runs as root, initdb/pg_ctl/postgres run
# as the `postgres` OS user (runuser -u postgres --) and DIR is chowned to it; otherwise they run
# as the current user. psql (role and database setup) runs as the invoking user over the
# unix socket in DIR.
set -euo pipefail

readonly PROG=${0##*/}
readonly EX_USAGE=64
readonly PG_OS_USER=postgres

usage() {
    cat <<EOF
Usage: $PROG start --pki PKIDIR [options] DIR
       $PROG stop DIR
       $PROG status DIR

start   create DIR, initdb DIR/data, start PostgreSQL on 127.0.0.1 with TLS from PKIDIR
        (a make-pki.sh output dir) and "cert" authentication, create the login roles and the
        database "pgconnect", write DIR/cluster.env. Prints on stdout the conninfo for the
        first client user and an "admin:" line for the superuser over the unix socket.
stop    stop the cluster in DIR (fast shutdown); exit 0 also if it was not running
status  print running/stopped and the port; exit 0 if running, 3 if not, 4 if DIR is
        not a cluster directory

start options:
  --pki PKIDIR        PKI directory with root.crt, server.crt, server.key (required;
                      root.crt only without --ca-file)
  --ca-file FILE      trust the CA certificate(s) in FILE for client certificates instead of
                      PKIDIR/root.crt (copied into the data directory as root.crt, the
                      ssl_ca_file); e.g. a bundle of several roots
  --conf 'NAME = VALUE'
                      append this line to postgresql.conf (repeatable; after the settings
                      this script writes, so it overrides them), e.g. --conf 'ssl_crl_file = x'
  --no-ssl            ssl = off: the server still starts (TLS files are installed, so
                      ALTER SYSTEM SET ssl = on can enable it later), but every TCP login
                      fails, since the only TCP pg_hba lines are hostssl
  --user NAME         login role to create (repeatable); default: the CN of every client
                      certificate in PKIDIR (every *.crt except root/intermediate/server/
                      server-expired/server-other)
  --port N            TCP port (default: a free port chosen by the kernel)
  --bindir DIR        the PostgreSQL binaries to run (initdb, pg_ctl, postgres, psql), e.g. a
                      PostgreSQL 17 build unpacked by scripts/versions.sh; overrides
                      PGCONNECT_PG_BINDIR. When the server's OS user cannot read or run them
                      where they are, the installation (DIR/..) is copied into the cluster
                      directory first; when they do not find their libraries, DIR/../lib goes
                      on LD_LIBRARY_PATH
  --map               use "cert map=certmap" and write pg_ident.conf with the identity map
                      "certmap /^(.*)\$ \\1"
  --ident-line LINE   extra pg_ident.conf line "MAP SYSTEM-USERNAME PG-USERNAME" (repeatable)
  --hba-line LINE     extra pg_hba.conf line inserted before the default hostssl cert line
                      (repeatable), e.g. "hostssl pwdb all 127.0.0.1/32 scram-sha-256"
  -h, --help          show this help

Files in DIR: data/ (the data directory), server.log, initdb.log, cluster.env (sourceable:
PGCONNECT_HOST PGCONNECT_PORT PGCONNECT_PKI PGCONNECT_CLUSTER PGCONNECT_SOCKET_DIR
PGCONNECT_USERS PGCONNECT_DATA PGCONNECT_PG_BINDIR PGCONNECT_PG_LIBRARY_PATH
PGCONNECT_PG_VERSION PGCONNECT_CA_FILE PGCONNECT_SSL), and the socket .s.PGSQL.<port>.
PGCONNECT_CA_FILE is the file whose copy is the ssl_ca_file; PGCONNECT_PG_VERSION the server's
major version; PGCONNECT_PG_LIBRARY_PATH the LD_LIBRARY_PATH its binaries need (usually empty).
DIR must not contain whitespace or quotes. --bindir or PGCONNECT_PG_BINDIR chooses the
PostgreSQL binaries (default: pg_config --bindir, else newest /usr/lib/postgresql/*/bin); stop
and status use the binaries the cluster was started with (cluster.env).

Reconfiguring a running cluster: as superuser over the socket (the "admin:" line),
  ALTER SYSTEM SET ssl_cert_file = '/abs/server.crt';  -- also ssl_key_file, ssl_ca_file,
  SELECT pg_reload_conf();                             -- ssl_crl_file, ssl, ...
and ALTER SYSTEM RESET ALL; SELECT pg_reload_conf(); to go back. Files named that way are
read by the server process, which runs as the OS user '$PG_OS_USER' when this script runs
as root: every directory on their path must be searchable (x) by that user, certificates
and CRLs readable by it, and a private key must be OWNED by it with mode 0600 (or owned by
root with mode 0640 and readable through its group); otherwise the reload is refused
("could not load server certificate file" etc. in server.log) and the old TLS settings
stay in force. New settings apply to connections opened after the reload is processed.

Example:
  d=\$(mktemp -d)
  scripts/make-pki.sh \$d/pki alice bob
  scripts/cluster.sh start --pki \$d/pki \$d/c
  scripts/cluster.sh stop \$d/c
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

need_value() {
    if (($2 < 2)); then
        usage_error "option $1 needs a value"
    fi
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# ---------------------------------------------------------------- PostgreSQL binaries
find_bindir() {
    local d candidates=()
    if [[ -n $BINDIR_OPTION ]]; then
        [[ -x $BINDIR_OPTION/pg_ctl && -x $BINDIR_OPTION/initdb && -x $BINDIR_OPTION/postgres ]] ||
            die "--bindir '$BINDIR_OPTION' has no pg_ctl, initdb and postgres"
        printf '%s\n' "$BINDIR_OPTION"
        return
    fi
    if [[ -n ${PGCONNECT_PG_BINDIR:-} ]]; then
        [[ -x $PGCONNECT_PG_BINDIR/pg_ctl && -x $PGCONNECT_PG_BINDIR/initdb ]] ||
            die "PGCONNECT_PG_BINDIR='$PGCONNECT_PG_BINDIR' has no pg_ctl/initdb"
        printf '%s\n' "$PGCONNECT_PG_BINDIR"
        return
    fi
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n $d && -x $d/pg_ctl && -x $d/initdb ]]; then
            printf '%s\n' "$d"
            return
        fi
    fi
    # Newest version first.
    while IFS= read -r d; do
        candidates+=("$d")
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -t/ -k5,5 -V -r)
    for d in ${candidates[@]+"${candidates[@]}"}; do
        if [[ -x $d/pg_ctl && -x $d/initdb ]]; then
            printf '%s\n' "$d"
            return
        fi
    done
    d=$(command -v pg_ctl 2>/dev/null || true)
    if [[ -n $d && -x ${d%/*}/initdb ]]; then
        printf '%s\n' "${d%/*}"
        return
    fi
    die "cannot find the PostgreSQL server binaries (pg_ctl, initdb); set PGCONNECT_PG_BINDIR"
}

# --bindir (start only), and the library path the chosen binaries need ('' when none).
BINDIR_OPTION=
PG_LIBRARY_PATH=

# use_cluster_bindir DIR: sets BINDIR (and PG_LIBRARY_PATH) to the binaries the cluster in DIR
# was started with (its cluster.env; for a start still under way, the ones it chose), else to
# find_bindir's.
STARTING_BINDIR=
STARTING_LIBRARY_PATH=
BINDIR=
use_cluster_bindir() {
    local dir=$1 recorded=
    if [[ -n $STARTING_BINDIR ]]; then
        BINDIR=$STARTING_BINDIR
        PG_LIBRARY_PATH=$STARTING_LIBRARY_PATH
        return
    fi
    if [[ -r $dir/cluster.env ]]; then
        recorded=$(sed -n 's/^PGCONNECT_PG_BINDIR=//p' "$dir/cluster.env" | tr -d '"')
        PG_LIBRARY_PATH=$(sed -n 's/^PGCONNECT_PG_LIBRARY_PATH=//p' "$dir/cluster.env" | tr -d '"')
    fi
    if [[ -n $recorded && -x $recorded/pg_ctl ]]; then
        BINDIR=$recorded
        return
    fi
    PG_LIBRARY_PATH=
    BINDIR=$(find_bindir)
}

# pg_exec USER BIN ARGS...: a PostgreSQL binary as USER, with PG_LIBRARY_PATH when set.
pg_exec() {
    local user=$1
    shift
    if [[ -n $PG_LIBRARY_PATH ]]; then
        run_as "$user" env "LD_LIBRARY_PATH=$PG_LIBRARY_PATH" "$@"
    else
        run_as "$user" "$@"
    fi
}

# usable_bindir BINDIR USER: USER can run this installation where it is: the binaries execute
# (their libraries load) and initdb finds its share files. Sets PG_LIBRARY_PATH to BINDIR/../lib
# when the binaries need it to find their libraries.
usable_bindir() {
    local bindir=$1 user=$2 prefix share=
    prefix=${bindir%/*}
    PG_LIBRARY_PATH=
    local tool
    for tool in postgres initdb pg_ctl; do
        run_as "$user" test -x "$bindir/$tool" || return 1
    done
    if ! run_as "$user" "$bindir/postgres" --version >/dev/null 2>&1; then
        [[ -d $prefix/lib ]] || return 1
        PG_LIBRARY_PATH=$prefix/lib
        if ! run_as "$user" env "LD_LIBRARY_PATH=$PG_LIBRARY_PATH" "$bindir/postgres" --version >/dev/null 2>&1; then
            PG_LIBRARY_PATH=
            return 1
        fi
    fi
    # initdb reads postgres.bki from the share directory (pg_config --sharedir; relocated
    # installations resolve it relative to the binaries).
    if [[ -x $bindir/pg_config ]]; then
        share=$(pg_exec "$user" "$bindir/pg_config" --sharedir 2>/dev/null || true)
    fi
    [[ -n $share ]] || share=$prefix/share
    run_as "$user" test -r "$share/postgres.bki"
}

# server_bindir BINDIR USER DIR: BINDIR when USER can run it there, else a copy of its
# installation (BINDIR/..) in DIR/pginstall owned by USER; prints the bin directory to use.
server_bindir() {
    local bindir=$1 user=$2 dir=$3 prefix
    bindir=$(abs_dir "$bindir") || die "cannot enter the bin directory '$1'"
    if usable_bindir "$bindir" "$user"; then
        printf '%s\n' "$bindir"
        return
    fi
    prefix=${bindir%/*}
    [[ -d $prefix/bin && -d $prefix/lib ]] ||
        die "OS user '$user' cannot run the PostgreSQL binaries in '$bindir', and '$prefix' is not an installation (bin/ and lib/) to copy; make them readable by '$user'"
    note "OS user '$user' cannot run $bindir where it is; copying $prefix into $dir/pginstall"
    cp -a -L -- "$prefix" "$dir/pginstall" || die "cannot copy '$prefix' to '$dir/pginstall'"
    if is_root; then
        chown -R "$user:" -- "$dir/pginstall"
    fi
    chmod -R u+rwX,go+rX -- "$dir/pginstall"
    usable_bindir "$dir/pginstall/bin" "$user" ||
        die "OS user '$user' cannot run the copy of the PostgreSQL binaries in '$dir/pginstall/bin' either (postgres --version fails as '$user'; missing libraries?)"
    printf '%s\n' "$dir/pginstall/bin"
}

# ---------------------------------------------------------------- running as the server user
# run_as USER CMD...: run CMD as USER (via runuser when we are root and USER differs), from /
# so that a cwd the server user cannot read does not matter.
run_as() {
    local user=$1
    shift
    if is_root && [[ $user != root ]]; then
        (cd / && runuser -u "$user" -- "$@")
    else
        (cd / && "$@")
    fi
}

# The OS user owning an existing data directory (used for stop/status).
data_owner() {
    stat -c %U -- "$1"
}

# ---------------------------------------------------------------- cluster dir helpers
abs_dir() {
    (cd -- "$1" 2>/dev/null && pwd -P)
}

# is_cluster DIR: DIR/data looks like an initdb'ed data directory.
is_cluster() {
    [[ -f $1/data/PG_VERSION ]]
}

# The port: from postmaster.pid (line 4) when running, else cluster.env.
cluster_port() {
    local dir=$1 port=
    if [[ -r $dir/data/postmaster.pid ]]; then
        port=$(sed -n 4p "$dir/data/postmaster.pid" 2>/dev/null || true)
    fi
    if [[ -z $port && -r $dir/cluster.env ]]; then
        port=$(sed -n 's/^PGCONNECT_PORT=//p' "$dir/cluster.env" | tr -d '"')
    fi
    printf '%s\n' "${port:-unknown}"
}

# pg_status DIR: 0 running, 3 not running (pg_ctl status semantics).
pg_status() {
    local dir=$1 bindir owner rc=0
    use_cluster_bindir "$dir"
    bindir=$BINDIR
    owner=$(data_owner "$dir/data")
    pg_exec "$owner" "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || rc=$?
    return "$rc"
}

# ---------------------------------------------------------------- free port
port_in_use() {
    # Something accepts connections on 127.0.0.1:$1.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local p i
    if command -v python3 >/dev/null 2>&1; then
        p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || true)
        if [[ $p =~ ^[0-9]+$ ]] && ! port_in_use "$p"; then
            printf '%s\n' "$p"
            return
        fi
    fi
    # Fallback without python: random ports in a range outside the usual ephemeral range
    # (32768-60999), skipping any that accept connections or are bound as listeners.
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM % 12000)))
        if port_in_use "$p"; then
            continue
        fi
        if [[ -r /proc/net/tcp ]] &&
            grep -qiE "^ *[0-9]+: [0-9A-F]+:$(printf '%04X' "$p") [0-9A-F]+:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
            continue
        fi
        printf '%s\n' "$p"
        return
    done
    die "could not find a free TCP port; pass --port"
}

# ---------------------------------------------------------------- start
cmd_start() {
    local pki='' dir='' port='' map=0 port_given=0 arg ca_file='' ssl=on
    local users=() hba_lines=() ident_lines=() conf_lines=()
    while (($# > 0)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --pki)
            need_value "$1" $#
            pki=$2
            shift
            ;;
        --pki=*) pki=${1#*=} ;;
        --ca-file)
            need_value "$1" $#
            ca_file=$2
            [[ -n $ca_file ]] || usage_error "start: --ca-file needs a file name"
            shift
            ;;
        --ca-file=*)
            ca_file=${1#*=}
            [[ -n $ca_file ]] || usage_error "start: --ca-file needs a file name"
            ;;
        --conf)
            need_value "$1" $#
            conf_lines+=("$2")
            shift
            ;;
        --conf=*) conf_lines+=("${1#*=}") ;;
        --no-ssl) ssl=off ;;
        --user)
            need_value "$1" $#
            users+=("$2")
            shift
            ;;
        --user=*) users+=("${1#*=}") ;;
        --port)
            need_value "$1" $#
            port=$2
            port_given=1
            shift
            ;;
        --port=*)
            port=${1#*=}
            port_given=1
            ;;
        --bindir)
            need_value "$1" $#
            BINDIR_OPTION=$2
            [[ -n $BINDIR_OPTION ]] || usage_error "start: --bindir needs a directory"
            shift
            ;;
        --bindir=*)
            BINDIR_OPTION=${1#*=}
            [[ -n $BINDIR_OPTION ]] || usage_error "start: --bindir needs a directory"
            ;;
        --map) map=1 ;;
        --ident-line)
            need_value "$1" $#
            ident_lines+=("$2")
            shift
            ;;
        --ident-line=*) ident_lines+=("${1#*=}") ;;
        --hba-line)
            need_value "$1" $#
            hba_lines+=("$2")
            shift
            ;;
        --hba-line=*) hba_lines+=("${1#*=}") ;;
        --)
            shift
            for arg in "$@"; do
                [[ -z $dir ]] || usage_error "start: unexpected argument: $arg (DIR already given as $dir)"
                dir=$arg
            done
            break
            ;;
        -?*) usage_error "start: unknown option: $1" ;;
        *)
            [[ -z $dir ]] || usage_error "start: unexpected argument: $1 (DIR already given as $dir)"
            dir=$1
            ;;
        esac
        shift
    done
    [[ -n $dir ]] || usage_error "start: missing DIR"
    [[ -n $pki ]] || usage_error "start: --pki PKIDIR is required"

    # ---- validate inputs
    if ((port_given)); then
        if ! [[ $port =~ ^[0-9]+$ ]] || ((10#$port < 1024 || 10#$port > 65535)); then
            usage_error "start: --port must be a number between 1024 and 65535, got '$port'"
        fi
        port=$((10#$port))
    fi
    [[ -d $pki ]] || die "PKI directory '$pki' does not exist (make it with scripts/make-pki.sh)"
    pki=$(abs_dir "$pki") || die "cannot enter PKI directory '$pki'"
    local f needed=(server.crt server.key)
    [[ -n $ca_file ]] || needed+=(root.crt)
    for f in "${needed[@]}"; do
        [[ -r $pki/$f ]] || die "PKI directory '$pki' has no readable $f (make it with scripts/make-pki.sh)"
    done
    if [[ -n $ca_file ]]; then
        [[ -f $ca_file && -r $ca_file ]] || die "--ca-file '$ca_file' is not a readable file"
        if command -v openssl >/dev/null 2>&1; then
            openssl x509 -in "$ca_file" -noout >/dev/null 2>&1 ||
                die "--ca-file '$ca_file' holds no PEM certificate"
        fi
        ca_file=$(abs_dir "$(dirname -- "$ca_file")")/${ca_file##*/}
    fi

    for line in ${conf_lines[@]+"${conf_lines[@]}"}; do
        [[ $line != *$'\n'* && $line != *$'\r'* ]] ||
            usage_error "start: --conf must be a single line, got '$line'"
        [[ $line =~ ^[[:space:]]*[A-Za-z_][A-Za-z0-9_.]*[[:space:]]*=[[:space:]]*[^[:space:]] ]] ||
            usage_error "start: --conf expects 'name = value', got '$line'"
    done

    local line fields
    for line in ${hba_lines[@]+"${hba_lines[@]}"}; do
        [[ $line != *$'\n'* ]] || usage_error "start: --hba-line must be a single line, got '$line'"
        read -r -a fields <<<"$line"
        ((${#fields[@]} >= 4)) ||
            usage_error "start: --hba-line needs at least TYPE DATABASE USER [ADDRESS] METHOD, got '$line'"
    done
    for line in ${ident_lines[@]+"${ident_lines[@]}"}; do
        [[ $line != *$'\n'* ]] || usage_error "start: --ident-line must be a single line, got '$line'"
        read -r -a fields <<<"$line"
        ((${#fields[@]} == 3)) ||
            usage_error "start: --ident-line needs exactly MAP SYSTEM-USERNAME PG-USERNAME, got '$line'"
    done

    if ((${#users[@]} == 0)); then
        local crt base
        for crt in "$pki"/*.crt; do
            [[ -e $crt ]] || continue
            base=${crt##*/}
            base=${base%.crt}
            case $base in
            root | intermediate | server | server-expired | server-other) continue ;;
            *) users+=("$base") ;;
            esac
        done
        ((${#users[@]} > 0)) || note "no client certificates in $pki; creating no login roles"
    fi
    local u
    declare -A seen=()
    local uniq_users=()
    for u in ${users[@]+"${users[@]}"}; do
        [[ $u =~ ^[A-Za-z0-9_@][A-Za-z0-9._@-]*$ && ${#u} -le 63 ]] ||
            usage_error "start: invalid user name '$u' (allowed: [A-Za-z0-9_@][A-Za-z0-9._@-]*, at most 63 characters)"
        if [[ -z ${seen[$u]:-} ]]; then
            seen[$u]=1
            uniq_users+=("$u")
        fi
    done
    users=(${uniq_users[@]+"${uniq_users[@]}"})

    if [[ -n $BINDIR_OPTION ]]; then
        [[ -d $BINDIR_OPTION ]] || die "--bindir '$BINDIR_OPTION' is not a directory"
    fi
    local bindir psql
    bindir=$(find_bindir)

    # ---- the cluster directory
    [[ $dir =~ ^[A-Za-z0-9_./@+:,=-]+$ ]] ||
        die "DIR '$dir' contains whitespace, quotes or other characters that cannot be used in postgresql.conf / pg_ctl -o; choose a plainer path"
    [[ ! -e $dir || -d $dir ]] || die "DIR '$dir' exists and is not a directory"
    if [[ -d $dir ]] && is_cluster "$dir"; then
        die "DIR '$dir' already holds a cluster (data/PG_VERSION exists); stop it and remove DIR, or choose a new DIR"
    fi
    if [[ -e $dir/data ]]; then
        die "DIR '$dir' already has a 'data' entry; choose a new or empty DIR"
    fi
    if [[ ! -d $dir ]]; then
        mkdir -p -- "$dir" || die "cannot create DIR '$dir'"
        CREATED_DIR=$(abs_dir "$dir") || die "cannot enter DIR '$dir'"
    fi
    trap 'on_start_exit' EXIT
    dir=$(abs_dir "$dir") || die "cannot enter DIR '$dir'"
    [[ $dir =~ ^[A-Za-z0-9_./@+:,=-]+$ ]] ||
        die "DIR '$dir' contains whitespace, quotes or other characters that cannot be used in postgresql.conf / pg_ctl -o; choose a plainer path"
    # A unix socket path is limited to 107 bytes: DIR/.s.PGSQL.NNNNN
    ((${#dir} + 18 <= 107)) ||
        die "DIR '$dir' is too long for a unix socket path (${#dir} characters, at most 89); choose a shorter path"

    local server_user
    if is_root; then
        server_user=$PG_OS_USER
        id -u "$server_user" >/dev/null 2>&1 ||
            die "running as root but there is no '$server_user' OS user to run PostgreSQL as"
        ensure_reachable "$dir" "$server_user"
        chown "$server_user:" -- "$dir"
    else
        server_user=$(id -un)
    fi
    chmod 0755 -- "$dir"
    if ! run_as "$server_user" test -w "$dir" -a -x "$dir"; then
        die "OS user '$server_user' cannot write to DIR '$dir'"
    fi

    # ---- the binaries, as the server user runs them (a copy when it cannot read them there)
    bindir=$(server_bindir "$bindir" "$server_user" "$dir")
    usable_bindir "$bindir" "$server_user" || die "OS user '$server_user' cannot run the binaries in '$bindir'"
    STARTING_BINDIR=$bindir
    STARTING_LIBRARY_PATH=$PG_LIBRARY_PATH
    if [[ -x $bindir/psql ]]; then
        psql=$bindir/psql
    else
        psql=$(command -v psql) || die "psql not found"
    fi

    # ---- initdb
    note "initdb $dir/data (as OS user $server_user)"
    if ! pg_exec "$server_user" "$bindir/initdb" -D "$dir/data" -U postgres \
        --auth-local=trust --auth-host=reject --encoding=UTF8 --locale=C -N \
        >"$dir/initdb.log" 2>&1; then
        printf '%s: error: initdb failed; last lines of %s:\n' "$PROG" "$dir/initdb.log" >&2
        tail -n 30 -- "$dir/initdb.log" >&2
        exit 1
    fi

    if is_root; then
        chown "$server_user:" -- "$dir/initdb.log"
    fi

    # ---- TLS material (the key must be owned by the server user with mode 0600)
    local data=$dir/data
    install -m 0644 -- "$pki/server.crt" "$data/server.crt"
    install -m 0644 -- "${ca_file:-$pki/root.crt}" "$data/root.crt"
    install -m 0600 -- "$pki/server.key" "$data/server.key"
    if is_root; then
        chown "$server_user:" -- "$data/server.crt" "$data/root.crt" "$data/server.key"
    fi

    # ---- pg_hba.conf / pg_ident.conf (replace initdb's completely)
    local cert_method=cert
    ((map == 0)) || cert_method='cert map=certmap'
    {
        printf '# Written by scripts/cluster.sh\n'
        printf '# TYPE  DATABASE  USER  ADDRESS         METHOD\n'
        printf 'local   all       all                   trust\n'
        for line in ${hba_lines[@]+"${hba_lines[@]}"}; do
            printf '%s\n' "$line"
        done
        printf 'hostssl all       all   127.0.0.1/32    %s\n' "$cert_method"
    } >"$data/pg_hba.conf"
    {
        printf '# Written by scripts/cluster.sh\n'
        printf '# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n'
        if ((map)); then
            printf '%s\n' 'certmap  /^(.*)$  \1'
        fi
        for line in ${ident_lines[@]+"${ident_lines[@]}"}; do
            printf '%s\n' "$line"
        done
    } >"$data/pg_ident.conf"

    # ---- port, postgresql.conf, start (retry with another port if ours was taken meanwhile)
    local attempt log=$dir/server.log started=0 pg_ctl_out=''
    for attempt in 1 2 3 4 5; do
        if ((!port_given)); then
            port=$(free_port)
        fi
        write_conf "$data" "$dir" "$port" "$ssl" ${conf_lines[@]+"${conf_lines[@]}"}
        if is_root; then
            chown "$server_user:" -- "$data/pg_hba.conf" "$data/pg_ident.conf" "$data/postgresql.conf"
        fi
        note "starting PostgreSQL on 127.0.0.1:$port (attempt $attempt)"
        local before=0
        [[ ! -f $log ]] || before=$(wc -l <"$log")
        if pg_ctl_out=$(pg_exec "$server_user" "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 30 \
            -o "-p $port -k $dir" start 2>&1); then
            started=1
            break
        fi
        if ((!port_given)) && tail -n +"$((before + 1))" -- "$log" 2>/dev/null |
            grep -q 'Address already in use'; then
            note "port $port was taken meanwhile; trying another"
            continue
        fi
        break
    done
    if ((!started)); then
        printf '%s: error: PostgreSQL failed to start; pg_ctl said:\n' "$PROG" >&2
        printf '    %s\n' "${pg_ctl_out//$'\n'/$'\n'    }" >&2
        printf '%s: last 30 lines of %s:\n' "$PROG" "$log" >&2
        tail -n 30 -- "$log" >&2 || true
        exit 1
    fi

    # From here on, stop the server again if anything fails.
    STARTED_DIR=$dir

    # ---- roles and database
    local sql='' i=0 vars=()
    for u in ${users[@]+"${users[@]}"}; do
        i=$((i + 1))
        vars+=(-v "u$i=$u")
        sql+="SELECT format('CREATE ROLE %I LOGIN', :'u$i') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u$i') \\gexec"$'\n'
    done
    sql+="SELECT 'CREATE DATABASE pgconnect OWNER postgres' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'pgconnect') \\gexec"$'\n'
    sql+="GRANT CONNECT ON DATABASE pgconnect TO PUBLIC;"$'\n'
    local out
    if ! out=$(PGOPTIONS='' PGCONNECT_TIMEOUT=10 LD_LIBRARY_PATH=${PG_LIBRARY_PATH:-${LD_LIBRARY_PATH:-}} "$psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 ${vars[@]+"${vars[@]}"} -f - <<<"$sql" 2>&1); then
        printf '%s: error: creating roles / database failed:\n%s\n' "$PROG" "$out" >&2
        exit 1
    fi

    # ---- cluster.env
    {
        printf '# Written by scripts/cluster.sh; source it from a shell.\n'
        printf 'PGCONNECT_HOST=127.0.0.1\n'
        printf 'PGCONNECT_PORT=%s\n' "$port"
        printf 'PGCONNECT_PKI=%s\n' "$pki"
        printf 'PGCONNECT_CLUSTER=%s\n' "$dir"
        printf 'PGCONNECT_SOCKET_DIR=%s\n' "$dir"
        printf 'PGCONNECT_USERS="%s"\n' "${users[*]+"${users[*]}"}"
        printf 'PGCONNECT_DATA=%s\n' "$data"
        printf 'PGCONNECT_PG_BINDIR=%s\n' "$bindir"
        printf 'PGCONNECT_PG_LIBRARY_PATH=%s\n' "$PG_LIBRARY_PATH"
        printf 'PGCONNECT_PG_VERSION=%s\n' "$(cat "$data/PG_VERSION")"
        printf 'PGCONNECT_CA_FILE=%s\n' "${ca_file:-$pki/root.crt}"
        printf 'PGCONNECT_SSL=%s\n' "$ssl"
    } >"$dir/cluster.env"
    chmod 0644 -- "$dir/cluster.env"

    trap - EXIT

    # ---- report
    local first=
    for u in ${users[@]+"${users[@]}"}; do
        if [[ -f $pki/$u.crt && -f $pki/$u.key ]]; then
            first=$u
            break
        fi
    done
    note "running: data $data, log $log, env $dir/cluster.env"
    [[ $ssl == on ]] || note "ssl = off: TCP logins fail until ALTER SYSTEM SET ssl = on; SELECT pg_reload_conf();"
    if [[ -n $first ]]; then
        printf 'host=127.0.0.1 port=%s dbname=postgres user=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s\n' \
            "$port" "$first" "$pki/root.crt" "$pki/$first.crt" "$pki/$first.key"
    else
        note "no user has a certificate and key in $pki; no client conninfo to print"
    fi
    printf 'admin: host=%s port=%s user=postgres dbname=postgres\n' "$dir" "$port"
}

# Cleanup when start fails: stop a server we started; remove DIR if we created it and it is
# still empty (a DIR with initdb.log/server.log is kept for diagnosis).
STARTED_DIR=
CREATED_DIR=
on_start_exit() {
    local rc=$?
    if ((rc != 0)); then
        if [[ -n $STARTED_DIR ]]; then
            note "stopping the server again after the failure"
            (cmd_stop "$STARTED_DIR") >&2 || true
        fi
        if [[ -n $CREATED_DIR ]]; then
            rmdir -- "$CREATED_DIR" 2>/dev/null || true
        fi
    fi
    exit "$rc"
}

# write_conf DATA DIR PORT SSL [LINE...]: initdb's postgresql.conf plus our settings and the
# --conf lines (redone on a retry).
write_conf() {
    local data=$1 dir=$2 port=$3 ssl=$4 conf=$1/postgresql.conf line
    shift 4
    if [[ ! -f $data/postgresql.conf.initdb ]]; then
        cp -p -- "$conf" "$data/postgresql.conf.initdb"
    fi
    cp -p -- "$data/postgresql.conf.initdb" "$conf"
    cat >>"$conf" <<EOF

# ---- settings written by scripts/cluster.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
ssl = $ssl
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
ssl_min_protocol_version = 'TLSv1.2'
fsync = off
synchronous_commit = off
full_page_writes = off
log_connections = on
log_line_prefix = '%m [%p] '
logging_collector = off
EOF
    if (($# > 0)); then
        printf '\n# ---- --conf lines\n' >>"$conf"
        for line in "$@"; do
            printf '%s\n' "$line" >>"$conf"
        done
    fi
}

# ensure_reachable DIR USER: USER must be able to search every ancestor of DIR. Ancestors under
# the temporary directory (e.g. a root-owned 0700 dir made by mktemp -d) get o+x (search only,
# no listing); anywhere else we stop with a clear message rather than loosen permissions.
ensure_reachable() {
    local dir=$1 user=$2 p tmp
    tmp=$(abs_dir "${TMPDIR:-/tmp}" || printf '/tmp')
    p=$dir
    local ancestors=()
    while [[ $p != / && -n $p ]]; do
        p=${p%/*}
        [[ -n $p ]] || p=/
        ancestors+=("$p")
    done
    local i a
    for ((i = ${#ancestors[@]} - 1; i >= 0; i--)); do
        a=${ancestors[i]}
        if run_as "$user" test -x "$a"; then
            continue
        fi
        if [[ $a == "$tmp"/* ]]; then
            chmod o+x -- "$a" || die "cannot chmod o+x '$a' so that OS user '$user' can reach '$dir'"
            note "granted search permission (o+x) on $a so that OS user '$user' can reach $dir"
            run_as "$user" test -x "$a" ||
                die "OS user '$user' still cannot search '$a' (ACLs or group settings?)"
        else
            die "OS user '$user' cannot reach DIR '$dir': no search permission on '$a' ($(stat -c '%A %U:%G' -- "$a")). Use a directory under $tmp, or chmod o+x '$a'"
        fi
    done
}

# ---------------------------------------------------------------- stop / status
parse_dir_only() {
    # $1 command name, rest: arguments; sets REPLY to the absolute DIR.
    local cmd=$1 dir=
    shift
    while (($# > 0)); do
        case $1 in
        -h | --help)
            usage
            exit 0
            ;;
        --)
            shift
            { (($# == 1)) && [[ -z $dir ]]; } || usage_error "$cmd: expected exactly one DIR"
            dir=$1
            break
            ;;
        -?*) usage_error "$cmd: unknown option: $1" ;;
        *)
            [[ -z $dir ]] || usage_error "$cmd: unexpected argument: $1"
            dir=$1
            ;;
        esac
        shift
    done
    [[ -n $dir ]] || usage_error "$cmd: missing DIR"
    REPLY=$dir
}

cmd_stop() {
    local dir bindir owner out pid i rc=0
    parse_dir_only stop "$@"
    dir=$REPLY
    if [[ ! -d $dir ]] || ! is_cluster "$dir"; then
        die "stop: '$dir' is not a cluster directory (no $dir/data/PG_VERSION)"
    fi
    dir=$(abs_dir "$dir")
    pg_status "$dir" || rc=$?
    if ((rc != 0)); then
        printf 'not running: %s\n' "$dir"
        return 0
    fi
    use_cluster_bindir "$dir"
    bindir=$BINDIR
    owner=$(data_owner "$dir/data")
    pid=$(sed -n 1p "$dir/data/postmaster.pid" 2>/dev/null || true)
    if ! out=$(pg_exec "$owner" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop 2>&1); then
        rc=0
        pg_status "$dir" || rc=$?
        if ((rc != 0)); then
            printf 'not running: %s\n' "$dir"
            return 0
        fi
        die "stop: pg_ctl stop failed for '$dir': $out"
    fi
    # pg_ctl returns once postmaster.pid is gone; also wait (up to 5 s) for the postmaster
    # process itself to be reaped, so that a pgrep right after this sees nothing.
    if [[ $pid =~ ^[0-9]+$ ]]; then
        for ((i = 0; i < 50; i++)); do
            [[ -e /proc/$pid ]] || break
            sleep 0.1
        done
    fi
    printf 'stopped: %s\n' "$dir"
}

cmd_status() {
    local dir rc=0 port pid=
    parse_dir_only status "$@"
    dir=$REPLY
    if [[ ! -d $dir ]] || ! is_cluster "$dir"; then
        printf '%s: error: status: %s is not a cluster directory (no %s/data/PG_VERSION)\n' \
            "$PROG" "$dir" "$dir" >&2
        exit 4
    fi
    dir=$(abs_dir "$dir")
    pg_status "$dir" || rc=$?
    port=$(cluster_port "$dir")
    if ((rc == 0)); then
        pid=$(sed -n 1p "$dir/data/postmaster.pid" 2>/dev/null || true)
        printf 'running  pid=%s  port=%s  dir=%s\n' "${pid:-?}" "$port" "$dir"
        return 0
    fi
    printf 'stopped  port=%s  dir=%s\n' "$port" "$dir"
    exit 3
}

# ---------------------------------------------------------------- main
(($# > 0)) || usage_error "missing command (start, stop or status)"
command=$1
shift
case $command in
-h | --help | help)
    usage
    exit 0
    ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
status) cmd_status "$@" ;;
*) usage_error "unknown command: $command (expected start, stop or status)" ;;
esac
