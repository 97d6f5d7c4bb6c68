#!/usr/bin/env bash
# Rebuild and signal across machines, step by step, on one box: starts
# etcd and two host processes (machine `front` makes numbered packets,
# machine `back` sums and prints them; the arc between them is a gRPC
# stream), edits a component on each machine, rebuilds the library and
# sends SIGHUP to `front` alone: both machines switch in one update. Then
# a build that changes the packet type crossing machines is refused
# everywhere. Edits examples/machines_reload/components/src temporarily;
# puts it back on exit. Needs `etcd` (apt-get install etcd-server).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=examples/machines_reload/components/src
fixtures=examples/machines_reload/fixtures
work=$(mktemp -d)
host=target/debug/machines-reload-host
lib=target/debug/libmachines_reload_components.so
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cleanup() {
    for f in numbers.rs tally.rs types.rs; do cp "$work/$f" "$src/$f" 2>/dev/null || true; done
    for p in ${front:-} ${back:-} ${etcd:-}; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cp "$src/numbers.rs" "$src/tally.rs" "$src/types.rs" "$work/"

step "1. Build the host binary and the component library (one cargo build)"
cargo build -q -p machines-reload-host -p machines-reload-components

step "2. Start etcd, then the same host on each machine, each with its name"
client=$(free_port) peer=$(free_port)
etcd --data-dir "$work/etcd" --listen-client-urls "http://127.0.0.1:$client" \
    --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" >"$work/etcd.log" 2>&1 &
etcd=$!
until (exec 3<>"/dev/tcp/127.0.0.1/$client") 2>/dev/null; do sleep 0.1; done
run() { exec "$host" run --machine "$1" --etcd "http://127.0.0.1:$client" --library "$lib" --socket "$work/$1.sock"; }
run back >"$work/back.out" 2>"$work/back.log" & back=$!
run front >"$work/front.out" 2>"$work/front.log" & front=$!
sleep 2
echo "back prints '<seq> made_by=<numbers version> tally=<tally version> sum=<sum>':"
tail -n 3 "$work/back.out" | sed 's/^/    /'
"$host" status --socket "$work/front.sock" | sed 's/^/    /'

step "3. Edit a component on each machine: numbers v2 (front), tally v2 (back, state migrated)"
cp "$fixtures/numbers_v2.rs" "$src/numbers.rs"
cp "$fixtures/tally_v2.rs" "$src/tally.rs"

step "4. Rebuild the library while both machines keep running"
cargo build -q -p machines-reload-components

step "5. Reload: SIGHUP to front alone (kill -HUP $front); both machines switch in one update"
kill -HUP "$front"
sleep 1.5
grep -h "reloaded" "$work/front.log" | sed 's/^.*INFO //; s/^/    /'
grep -m1 -B2 "tally=2" "$work/back.out" | sed 's/^/    /'
"$host" status --socket "$work/back.sock" | sed 's/^/    /'

step "6. A build that changes the packet type crossing machines is refused on every machine"
cp "$fixtures/types_v2.rs" "$src/types.rs"
sed -i 's/made_by: 2,/made_by: 2,\n            note: String::new(),/; s/version = 2/version = 3/; s/from = 1/from = 2/' "$src/numbers.rs"
cargo build -q -p machines-reload-components
"$host" reload --socket "$work/back.sock" 2>&1 | sed 's/^/    /' || true
tail -n 1 "$work/back.out" | sed 's/^/    /'

step "7. Stop: SIGTERM to front stops the graph on both machines, drained"
kill -TERM "$front"
wait "$front" "$back"
echo "    both exited cleanly; back printed $(wc -l <"$work/back.out") lines"
front= back=
