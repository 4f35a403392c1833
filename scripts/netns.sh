#!/usr/bin/env bash
# netns.sh - a small private network for tests: a server and a client network namespace joined
# by one veth pair, a firewall in front of the server, and a real PostgreSQL inside it.
#
#   NAME-s  server namespace   veth0 198.18.0.1/30   lo up   (PostgreSQL, test listeners, firewall)
#   NAME-c  client namespace   veth0 198.18.0.2/30   lo up   (pgconnect-check, psql)
#
# Addresses come from 198.18.0.0/15, the range RFC 2544 sets aside for network tests, so they
# can never be someone's real address. The namespaces have no other interface and no default
# route, so nothing in them can reach the host's real interfaces; a guard table in each
# namespace also drops anything sent on veth0 to an address other than the two above, and all
# IPv6 (which is switched off in both, so no neighbour discovery leaves them either).
# Everything lives inside the two namespaces: deleting them removes the veth pair, the
# addresses and the nftables tables with them.
#
# Needs root, iproute2 (ip), nftables (nft) and python3 (the fake servers); scripts/setup.sh
# installs them.
set -euo pipefail

readonly PROG=${0##*/}
readonly EX_USAGE=64
readonly SERVER_ADDR=198.18.0.1
readonly CLIENT_ADDR=198.18.0.2
readonly PREFIX_LEN=30
readonly LINK=veth0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

usage() {
    cat <<EOF
Usage: $PROG COMMAND NAME [ARGS...]

  check                   exit 0 when namespaces can be made here; else say why, exit 1
  up NAME                 make NAME-s ($SERVER_ADDR) and NAME-c ($CLIENT_ADDR), joined by a
                          veth pair ($LINK in each); no other route; IPv6 off
  down NAME               end the processes left in them (by pid, after SIGCONT), delete both
  server NAME CMD...      run CMD in the server namespace
  client NAME CMD...      run CMD in the client namespace
  firewall NAME MODE [PORT]
                          what the server namespace does with TCP to PORT (default 5432):
                            open        nothing (no rule)
                            drop        drop the SYNs silently (the client waits)
                            reset       answer the SYN with a TCP RST
                            icmp-port   answer with ICMP port unreachable
                            icmp-admin  answer with ICMP administratively prohibited
  listen NAME PORT MODE   start a fake server on $SERVER_ADDR:PORT in the server namespace, in
                          the background; prints its pid. MODE:
                            ssl-silent  read the SSLRequest, answer 'S', then say nothing
                            ssl-close   read the SSLRequest, answer 'S', then close
  postgres NAME DIR [cluster.sh start options...]
                          make a PKI (server certificate for IP:$SERVER_ADDR, client alice)
                          in DIR/pki and start PostgreSQL (scripts/cluster.sh) in DIR/cluster
                          inside the server namespace, listening on $SERVER_ADDR:5432; extra
                          options (e.g. --hba-line) go to cluster.sh start
  hold NAME DIR [cluster.sh start options...]
                          up + postgres, print "ready", then wait until stdin closes (or a
                          signal) and remove everything: the server, DIR, the namespaces.
                          For tests: the namespaces go away when the test process does.

NAME: 1-10 characters [a-z0-9]; choose one per run (e.g. with the pid) so that parallel runs
do not meet.
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

check_name() {
    [[ ${1:-} =~ ^[a-z0-9]{1,10}$ ]] || usage_error "NAME must be 1-10 characters [a-z0-9], got '${1:-}'"
}

# ---------------------------------------------------------------- check
# Why namespaces cannot be made here, or nothing.
why_not() {
    [[ $(id -u) -eq 0 ]] || {
        echo "not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)"
        return
    }
    command -v ip >/dev/null 2>&1 || {
        echo "no 'ip' command (apt-get install iproute2; scripts/setup.sh does)"
        return
    }
    command -v nft >/dev/null 2>&1 || {
        echo "no 'nft' command (apt-get install nftables; scripts/setup.sh does)"
        return
    }
    command -v python3 >/dev/null 2>&1 || {
        echo "no python3 (the test listener is a python3 script; scripts/setup.sh installs it)"
        return
    }
    local probe=pgcprobe$$ out
    probe=${probe:0:15}
    if ! out=$(ip netns add "$probe" 2>&1); then
        echo "cannot make a network namespace: $out"
        return
    fi
    if ! out=$(ip netns exec "$probe" nft add table ip pgconnect_probe 2>&1); then
        ip netns del "$probe" 2>/dev/null || true
        echo "nftables does not work in a network namespace: $out"
        return
    fi
    ip netns del "$probe" 2>/dev/null || true
}

cmd_check() {
    local reason
    reason=$(why_not)
    if [[ -n $reason ]]; then
        printf '%s\n' "$reason"
        exit 1
    fi
}

# ---------------------------------------------------------------- up / down
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

cmd_up() {
    local name=$1 s=$1-s c=$1-c
    if ip netns list | grep -qE "^($s|$c)( |$)"; then
        die "namespace $s or $c exists already (run: $PROG down $name)"
    fi
    # Undo a half-made setup.
    trap 'cmd_down "$name" >/dev/null 2>&1 || true' ERR
    ip netns add "$s"
    ip netns add "$c"
    local ns addr
    for ns in "$s" "$c"; do
        # IPv6 off before the link exists: no link-local address, no neighbour or router
        # solicitations, nothing on any multicast address.
        in_ns "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        in_ns "$ns" ip link set lo up
    done
    # Made directly inside the namespaces: the pair never appears in the host's namespace.
    ip link add "$LINK" netns "$s" type veth peer name "$LINK" netns "$c"
    for ns in "$s" "$c"; do
        if [[ $ns == "$s" ]]; then addr=$SERVER_ADDR; else addr=$CLIENT_ADDR; fi
        in_ns "$ns" ip addr add "$addr/$PREFIX_LEN" dev "$LINK"
        in_ns "$ns" ip link set "$LINK" up
        in_ns "$ns" nft -f - <<EOF
table inet pgconnect_guard {
    chain output {
        type filter hook output priority 0; policy accept;
        oifname "$LINK" meta nfproto ipv6 drop
        oifname "$LINK" ip daddr != { $SERVER_ADDR, $CLIENT_ADDR } drop
    }
}
EOF
    done
    trap - ERR
    note "up: $s ($SERVER_ADDR) <-> $c ($CLIENT_ADDR) over $LINK, no other routes"
}

cmd_down() {
    local name=$1 ns pids pid i
    for ns in "$name-c" "$name-s"; do
        ip netns list | grep -qE "^$ns( |$)" || continue
        # Processes still inside keep the namespace alive: end them, by pid (a SIGSTOPped one
        # first gets SIGCONT so that it can act on SIGTERM).
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        if [[ -n $pids ]]; then
            for pid in $pids; do kill -CONT "$pid" 2>/dev/null || true; done
            for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
            for ((i = 0; i < 50; i++)); do
                pids=$(ip netns pids "$ns" 2>/dev/null || true)
                [[ -n $pids ]] || break
                sleep 0.1
            done
            for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
        fi
        ip netns del "$ns"
    done
}

# ---------------------------------------------------------------- firewall
cmd_firewall() {
    local name=$1 mode=${2:-} port=${3:-5432} rule
    { [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)); } || usage_error "firewall: bad PORT '$port'"
    case $mode in
    open) rule= ;;
    drop) rule="tcp dport $port tcp flags & (syn | ack) == syn drop" ;;
    reset) rule="tcp dport $port reject with tcp reset" ;;
    icmp-port) rule="tcp dport $port reject with icmp type port-unreachable" ;;
    icmp-admin) rule="tcp dport $port reject with icmp type admin-prohibited" ;;
    *) usage_error "firewall: MODE must be open, drop, reset, icmp-port or icmp-admin, got '$mode'" ;;
    esac
    in_ns "$name-s" nft -f - <<EOF
table ip pgconnect_firewall
delete table ip pgconnect_firewall
table ip pgconnect_firewall {
    chain input {
        type filter hook input priority 0; policy accept;
        $rule
    }
}
EOF
}

# ---------------------------------------------------------------- fake servers
# The listener: PostgreSQL's SSLRequest is 8 bytes (length 8, code 80877103); answer 'S' as a
# server that agrees to TLS, then stop talking (keep the socket open) or close it.
readonly LISTENER='
import os, socket, sys, threading
os.closerange(3, 65536)  # nothing inherited (e.g. a pipe whose end a caller waits for) stays open
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((host, port))
server.listen(16)
print("listening", flush=True)
held = []
def serve(conn):
    data = b""
    while len(data) < 8:
        chunk = conn.recv(8 - len(data))
        if not chunk:
            conn.close()
            return
        data += chunk
    conn.sendall(b"S")
    if mode == "ssl-close":
        conn.close()
    else:
        held.append(conn)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
'

cmd_listen() {
    local name=$1 port=${2:-} mode=${3:-} pid line
    { [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)); } || usage_error "listen: bad PORT '$port'"
    case $mode in
    ssl-silent | ssl-close) ;;
    *) usage_error "listen: MODE must be ssl-silent or ssl-close, got '$mode'" ;;
    esac
    local fifo
    fifo=$(mktemp -u "${TMPDIR:-/tmp}/pgconnect-listen.XXXXXX")
    mkfifo -m 0600 "$fifo"
    # exec: no shell stays behind holding our caller's descriptors (python closes them at once).
    (exec ip netns exec "$name-s" python3 -c "$LISTENER" "$SERVER_ADDR" "$port" "$mode" >"$fifo" 2>/dev/null </dev/null) &
    pid=$!
    # Wait until it listens (or died).
    line=
    read -r -t 10 line <"$fifo" || true
    rm -f -- "$fifo"
    [[ $line == listening ]] || {
        kill "$pid" 2>/dev/null || true
        die "listen: the listener did not start on $SERVER_ADDR:$port"
    }
    printf '%s\n' "$pid"
}

# ---------------------------------------------------------------- PostgreSQL
cmd_postgres() {
    local name=$1 dir=$2
    shift 2
    mkdir -p -- "$dir"
    dir=$(cd -- "$dir" && pwd -P)
    "$HERE/make-pki.sh" --server-san "IP:$SERVER_ADDR" "$dir/pki" alice >"$dir/pki.log" 2>&1 || {
        cat -- "$dir/pki.log" >&2
        die "make-pki.sh failed"
    }
    # cluster.sh writes listen_addresses = '127.0.0.1'; its --conf lines come after and win.
    in_ns "$name-s" "$HERE/cluster.sh" start --pki "$dir/pki" --port 5432 --user alice \
        --conf "listen_addresses = '$SERVER_ADDR'" "$@" "$dir/cluster" >/dev/null
}

# ---------------------------------------------------------------- hold
# Globals: the EXIT trap runs after cmd_hold has returned.
HOLD_NAME='' HOLD_DIR='' HOLD_MADE_DIR=0 HOLD_WAITER=''

hold_cleanup() {
    local status=$? pid
    trap - EXIT INT TERM HUP
    [[ -z $HOLD_WAITER ]] || kill "$HOLD_WAITER" 2>/dev/null || true
    if [[ -f $HOLD_DIR/cluster/data/PG_VERSION ]]; then
        # A SIGSTOPped postmaster would never see the shutdown request.
        pid=$(sed -n 1p "$HOLD_DIR/cluster/data/postmaster.pid" 2>/dev/null || true)
        [[ ! $pid =~ ^[0-9]+$ ]] || kill -CONT "$pid" 2>/dev/null || true
        "$HERE/cluster.sh" stop "$HOLD_DIR/cluster" >/dev/null 2>&1 || true
    fi
    cmd_down "$HOLD_NAME" || true
    ((!HOLD_MADE_DIR)) || rm -rf -- "$HOLD_DIR"
    exit "$status"
}

cmd_hold() {
    HOLD_NAME=$1
    HOLD_DIR=$2
    shift 2
    [[ -e $HOLD_DIR ]] || HOLD_MADE_DIR=1
    trap hold_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    cmd_up "$HOLD_NAME"
    cmd_postgres "$HOLD_NAME" "$HOLD_DIR" "$@"
    echo ready
    # Until the caller closes our stdin (it ended, or died); in the background so that a signal
    # is acted on at once.
    cat <&0 >/dev/null &
    HOLD_WAITER=$!
    wait "$HOLD_WAITER" || true
}

# ---------------------------------------------------------------- main
(($# > 0)) || usage_error "missing command"
command=$1
shift
case $command in
-h | --help | help)
    usage
    exit 0
    ;;
check) cmd_check ;;
up | down)
    (($# == 1)) || usage_error "$command: expected NAME"
    check_name "$1"
    "cmd_$command" "$1"
    ;;
server | client)
    (($# >= 2)) || usage_error "$command: expected NAME CMD..."
    check_name "$1"
    ns=$1-${command:0:1}
    shift
    exec ip netns exec "$ns" "$@"
    ;;
firewall)
    (($# >= 2 && $# <= 3)) || usage_error "firewall: expected NAME MODE [PORT]"
    check_name "$1"
    cmd_firewall "$@"
    ;;
listen)
    (($# == 3)) || usage_error "listen: expected NAME PORT MODE"
    check_name "$1"
    cmd_listen "$@"
    ;;
postgres | hold)
    (($# >= 2)) || usage_error "$command: expected NAME DIR [cluster.sh start options...]"
    check_name "$1"
    "cmd_$command" "$@"
    ;;
*) usage_error "unknown command: $command" ;;
esac
