#!/bin/sh
# Runs examples/machines.rs as two machines on one box: etcd, then `back`
# and `front`. As root, each machine runs in a network namespace of its own
# (veths to a bridge, 10.78.0.0/24), like three hosts; otherwise on loopback.
set -eu
cd "$(dirname "$0")/.."
cargo build --example machines
exe=target/debug/examples/machines
dir=$(mktemp -d)
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    if [ "$netns" = yes ]; then
        ip netns del evo-front 2>/dev/null || true
        ip netns del evo-back 2>/dev/null || true
        ip link del evo-br 2>/dev/null || true
    fi
    rm -rf "$dir"
}
netns=no
if [ "$(id -u)" = 0 ] && ip netns add evo-probe 2>/dev/null; then
    ip netns del evo-probe
    netns=yes
fi
trap cleanup EXIT
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
    run() { m=$1; n=$([ $m = front ] && echo 2 || echo 3); shift
        ip netns exec evo-$m "$exe" --machine $m --etcd "http://$host:23790" --listen 10.78.0.$n:0 "$@"; }
else
    host=127.0.0.1
    run() { m=$1; shift; "$exe" --machine $m --etcd "http://$host:23790" "$@"; }
fi
etcd --data-dir "$dir/etcd" --listen-client-urls "http://$host:23790" \
    --advertise-client-urls "http://$host:23790" \
    --listen-peer-urls "http://$host:23800" --initial-advertise-peer-urls "http://$host:23800" \
    --initial-cluster "default=http://$host:23800" >"$dir/etcd.log" 2>&1 &
sleep 2
run back "$@" &
back=$!
run front "$@"
wait $back
