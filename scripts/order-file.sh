#!/usr/bin/env bash
# Writes Sources/MesherCLI/startup.order: the functions `mesher run` executes to start, to serve captured HTTP
# and TCP, service names, the explicit proxy, DNS and the admin port, and to stop, recorded by valgrind's
# callgrind in a private network namespace. `make release` links them first and together (lld's
# --symbol-ordering-file). Why: the kernel maps a binary's code 64 KiB around each page first touched, so
# the 0.8 MB a start runs, spread over 25 MB of code, kept 13 MB resident; packed together, about 1 MB.
# Run it again after large changes: a name the binary no longer has is skipped, so a stale file costs
# memory, never correctness (`make bench`, rss-idle, shows it).
# Usage: scripts/order-file.sh [output]; env MESHER_BIN (default .build/release/mesher). Needs root, valgrind.
set -euo pipefail
MESHER=$(realpath "${MESHER_BIN:-.build/release/mesher}")
OUT=${1:-Sources/MesherCLI/startup.order}
NS=morder$$
HERE=$(mktemp -d /tmp/morder.XXXX)
chmod 1777 "$HERE"
N=(ip netns exec "$NS")
cleanup() {
    set +e
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    sleep 0.5
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$HERE"
}
trap cleanup EXIT
for b in valgrind strip curl python3 iptables; do
    command -v "$b" >/dev/null || { echo "missing $b (apt-get install valgrind binutils curl python3 iptables)" >&2; exit 2; }
done
[ -x "$MESHER" ] || { echo "no mesher binary at $MESHER (make release)" >&2; exit 2; }

ip netns add "$NS"
"${N[@]}" ip link set lo up
echo hello >"$HERE/index.html"
# 8080: HTTP (sniffed); 8081: an opaque port, relayed as bytes.
for port in 8080 8081; do "${N[@]}" python3 -m http.server "$port" --bind 127.0.0.1 --directory "$HERE" >/dev/null 2>&1 & done
mkdir "$HERE/registry"
printf 'services:\n  order-svc:\n    - {address: 127.0.0.1, port: 8080}\n' >"$HERE/registry/order.yaml"
cat >"$HERE/mesher.yaml" <<EOF
registry: {directory: $HERE/registry}
threads: 1
explicitProxy: {enabled: true}
sniff: {opaquePorts: [8081]}
EOF
"${N[@]}" iptables -t nat -A OUTPUT -p tcp -o lo -m owner ! --uid-owner 1337 -m multiport --dports 8080,8081 \
    -j REDIRECT --to-ports 15001
# Valgrind cannot read the binary's debug information (and needs none): a copy without it, symbols kept.
strip --strip-debug -o "$HERE/mesher" "$MESHER"
"${N[@]}" setpriv --reuid 1337 --regid 1337 --clear-groups valgrind --tool=callgrind --demangle=no \
    --callgrind-out-file="$HERE/callgrind.out" "$HERE/mesher" run --config "$HERE/mesher.yaml" >"$HERE/mesher.log" 2>&1 &
mesher=$!
for _ in $(seq 600); do
    grep -q "mesher running" "$HERE/mesher.log" || ! kill -0 "$mesher" 2>/dev/null && break
    sleep 0.1
done
grep -q "mesher running" "$HERE/mesher.log" || { cat "$HERE/mesher.log" >&2; exit 1; }

asuser() { "${N[@]}" setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
for _ in 1 2 3; do
    asuser curl -sf -o /dev/null -o /dev/null http://127.0.0.1:8080/ http://127.0.0.1:8080/index.html
    asuser curl -sf -o /dev/null http://127.0.0.1:8081/
    asuser curl -sf -o /dev/null -x http://127.0.0.1:30101 http://order-svc:8080/
    asuser curl -sf -o /dev/null http://127.0.0.1:15000/ready
    asuser curl -sf -o /dev/null -o /dev/null http://127.0.0.1:15000/metrics http://127.0.0.1:15000/clusters
    asuser curl -s -o /dev/null -H 'Transfer-Encoding: chunked, chunked' http://127.0.0.1:8080/ || true
    asuser /usr/bin/python3 -c '
import socket
query = bytes.fromhex("123401000001000000000000") + b"\x09order-svc\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
s.sendto(query, ("127.0.0.1", 15053)); s.recv(512)'
done
kill -TERM "$mesher"
wait "$mesher" || true

# Names in first-seen order, once each; `0x…` entries are code without a symbol.
awk '/^c?fn=\([0-9]+\) / { name = $2; if (name !~ /^0x/ && !seen[name]++) print name }' "$HERE/callgrind.out" >"$OUT"
echo "$(wc -l <"$OUT") functions in $OUT"
