#!/bin/sh
# Runs an example graph as two machines on one box: etcd, then `back` and
# `front`. As root, each machine runs in a network namespace of its own
# (veths to a bridge, 10.78.0.0/24), like three hosts; otherwise on loopback.
#
#   examples/machines.sh [ARGS..]            # examples/machines.rs
#   examples/machines.sh webserver [ARGS..]  # the flagship split: front serves
#                                            # http://10.78.0.2:8080/ (as root)
#                                            # or http://127.0.0.1:8080/
#
# ARGS go to both machines, e.g. `webserver --demo-updates 500` (applied on
# back, where the updatable instances are) or `--update-after 1`; the web
# server's front is given `--addr` here.
set -eu
cd "$(dirname "$0")/.."
example=machines
if [ "${1:-}" = webserver ] || [ "${1:-}" = machines ]; then
    example=$1
    shift
fi
cargo build --release --example "$example"
exe=target/release/examples/$example
dir=$(mktemp -d)
netns=no
cleanup() {
    # A second signal must not cut the cleanup short.
    trap '' INT TERM
    kill $(jobs -p) 2>/dev/null || true
    if [ "$netns" = yes ]; then
        ip netns del evo-front 2>/dev/null || true
        ip netns del evo-back 2>/dev/null || true
        ip link del evo-br 2>/dev/null || true
    fi
    rm -rf "$dir"
}
if [ "$(id -u)" = 0 ] && ip netns add evo-probe 2>/dev/null; then
    ip netns del evo-probe
    netns=yes
fi
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ "$netns" = yes ]; then
    ip link add evo-br type bridge && ip addr add 10.78.0.1/24 dev evo-br && ip link set evo-br up
    for m in front back; do
        n=$([ $m = front ] && echo 2 || echo 3)
        ip netns add evo-$m
        ip link add evo-$m-h type veth peer name eth0 netns evo-$m
        ip link set evo-$m-h master evo-br up
        ip netns exec evo-$m sh -c "ip addr add 10.78.0.$n/24 dev eth0 && ip link set eth0 up && ip link set lo up"
    done
    host=10.78.0.1
    ip_of() { [ "$1" = front ] && echo 10.78.0.2 || echo 10.78.0.3; }
    run() { m=$1; shift
        ip netns exec evo-$m "$exe" --machine $m --etcd "http://$host:23790" --listen "$(ip_of $m):0" "$@"; }
else
    host=127.0.0.1
    ip_of() { echo 127.0.0.1; }
    run() { m=$1; shift; "$exe" --machine $m --etcd "http://$host:23790" "$@"; }
fi
# The web server's front serves HTTP; the other example has no such flag.
front_args=""
if [ "$example" = webserver ]; then
    front_args="--addr $(ip_of front):8080"
fi
etcd --data-dir "$dir/etcd" --listen-client-urls "http://$host:23790" \
    --advertise-client-urls "http://$host:23790" \
    --listen-peer-urls "http://$host:23800" --initial-advertise-peer-urls "http://$host:23800" \
    --initial-cluster "default=http://$host:23800" >"$dir/etcd.log" 2>&1 &
sleep 2
# Both in the background: a signal to this script is handled at once
# (not after a foreground child exits), and cleanup stops both.
run back "$@" &
back=$!
# shellcheck disable=SC2086 # front_args is two words or none
run front $front_args "$@" &
wait $!
wait $back
