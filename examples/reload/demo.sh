#!/usr/bin/env bash
# The whole live-update cycle of the reload example, step by step: build,
# run, send words, edit a component, rebuild, reload, see the new code
# answer with the migrated state; then an incompatible build is refused.
# Edits examples/reload/components/src temporarily; puts it back on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=examples/reload/components/src
fixtures=examples/reload/fixtures
work=$(mktemp -d)
host=target/debug/reload-host
socket=$work/wordcount.sock
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
    cp "$work/tally.rs" "$src/tally.rs" 2>/dev/null || true
    cp "$work/types.rs" "$src/types.rs" 2>/dev/null || true
    [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
cp "$src/tally.rs" "$src/types.rs" "$work/"

step "1. Build the host binary and the component library (one workspace, one cargo build)"
cargo build -q -p reload-host -p reload-components

step "2. Start the program: words come in over TCP, answers go to stdout"
RELOAD_EXAMPLE_ADDR=127.0.0.1:0 "$host" run --socket "$socket" >"$work/out.txt" 2>"$work/log.txt" &
pid=$!
until grep -q "listening on" "$work/out.txt" 2>/dev/null; do sleep 0.1; done
port=$(sed -n 's/^listening on .*://p' "$work/out.txt")
echo "pid $pid, words on port $port, control socket $socket"
exec 3<>"/dev/tcp/127.0.0.1/$port"
send() { for w in "$@"; do seq=$((${seq:-0} + 1)); echo "$seq $w" >&3; done; sleep 0.3; }
answers() { tail -n "$1" "$work/out.txt" | sed 's/^/    /'; }

step "3. Send words; tally v1 answers '<seq> <word> <count>'"
send apple pear apple apple
answers 4

step "4. Edit a component: tally v2 also reports the total, migrated from v1's counts"
cp "$fixtures/tally_v2.rs" "$src/tally.rs"
diff -u "$work/tally.rs" "$src/tally.rs" | sed 's/^/    /' || true

step "5. Rebuild the library while the program keeps running"
cargo build -q -p reload-components

step "6. Reload: SIGHUP (kill -HUP $pid) or the control command"
"$host" reload --socket "$socket"

step "7. More words: v2 answers '<seq> <word> <count> of <total>', counts continue"
send pear apple
answers 2

step "8. An incompatible build: Event gets a new field, but only tally is updated"
cp "$fixtures/types_v2.rs" "$src/types.rs"
cp "$fixtures/tally_v3.rs" "$src/tally.rs"
cargo build -q -p reload-components
"$host" reload --socket "$socket" || echo "    (refused, as it should be: exit code $?)"
send fig
answers 1

step "9. What runs now"
"$host" status --socket "$socket"

step "The program's log"
sed 's/^/    /' "$work/log.txt"
