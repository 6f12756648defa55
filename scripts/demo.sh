#!/usr/bin/env bash
# The three topologies of a service mesh, with two hosts made of network namespaces and no change to the
# apps (plain curl and Python's http.server): only the provider has a Mesher, both have one, only the
# consumer has one. Apps run as uid 1000, Mesher as uid 1337. Everything is removed on exit.
set -euo pipefail

mesher=${MESHER_BIN:-.build/debug/mesher}
[ "$(id -u)" -eq 0 ] || { echo "the demo creates network namespaces: run it as root" >&2; exit 1; }
[ -x "$mesher" ] || { echo "no mesher binary at $mesher: run 'make build'" >&2; exit 1; }

id=$$
consumer=mdemo${id}c
provider=mdemo${id}p
work=$(mktemp -d /tmp/mesher-demo.XXXX)
chmod 755 "$work"
mkdir "$work/www" "$work/logs" "$work/registry"
chown 1337:1337 "$work/logs" "$work/registry"
pids=()

cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$consumer" 2>/dev/null
    ip netns del "$provider" 2>/dev/null
    rm -rf "$work" "/etc/netns/$consumer"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
as_app() { local ns=$1; shift; ip netns exec "$ns" setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
wait_port() { for _ in $(seq 100); do ip netns exec "$1" ss -Htln "sport = :$2" | grep -q . && return; sleep 0.1; done; }
start_mesher() { # namespace name config
    ip netns exec "$1" setpriv --reuid 1337 --regid 1337 --clear-groups \
        "$mesher" run --config "$3" --access-log "$work/logs/$2.log" 2>"$work/logs/$2.err" &
    pids+=($!)
    wait_port "$1" 15001
}

step "two hosts: consumer 198.18.0.1 and provider 198.18.0.2, the provider app (AccountService) on port 8080"
ip netns add "$consumer"
ip netns add "$provider"
ip link add "md${id}c" type veth peer name "md${id}p"
ip link set "md${id}c" netns "$consumer"
ip link set "md${id}p" netns "$provider"
ip -n "$consumer" addr add 198.18.0.1/24 dev "md${id}c"
ip -n "$provider" addr add 198.18.0.2/24 dev "md${id}p"
for ns in "$consumer" "$provider"; do ip -n "$ns" link set lo up; done
ip -n "$consumer" link set "md${id}c" up
ip -n "$provider" link set "md${id}p" up
ip -n "$consumer" route add default via 198.18.0.2
mkdir -p "/etc/netns/$consumer"
echo "nameserver 198.18.0.2" > "/etc/netns/$consumer/resolv.conf"
echo "AccountService answered" > "$work/www/index.html"
ip netns exec "$provider" /usr/bin/python3 -m http.server 8080 --bind 198.18.0.2 -d "$work/www" >/dev/null 2>&1 &
pids+=($!)
wait_port "$provider" 8080
cat > "$work/provider.yaml" <<YAML
registry: {directory: $work/registry}
service:
  name: AccountService
  version: 1.0.0
  app: bank
  ports: [8080]
  address: 198.18.0.2
  healthCheck: {kind: http, host: 198.18.0.2, path: /, interval: 500ms}
YAML
echo "registry: {directory: $work/registry}" > "$work/consumer.yaml"

step "1. only the provider has a Mesher: it registers the app and captures its inbound traffic"
ip netns exec "$provider" "$mesher" init
start_mesher "$provider" provider "$work/provider.yaml"
for _ in $(seq 50); do grep -qs "status: up" "$work/registry/"*.yaml && break; sleep 0.1; done
cat "$work/registry/"*.yaml
echo "# the consumer, without a Mesher, found the address in the registry and calls it:"
as_app "$consumer" curl -sS -m 5 http://198.18.0.2:8080/
sleep 0.3
grep '"dir":"inbound"' "$work/logs/provider.log" | tail -1
echo "# a caller tries request smuggling (Content-Length and Transfer-Encoding together): the provider's Mesher"
echo "# answers 400 itself, logs it, and the app never sees the request"
as_app "$consumer" /usr/bin/python3 -c 'import socket
s = socket.create_connection(("198.18.0.2", 8080))
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG")
print(s.recv(4096).decode().split("\r\n")[0])'
sleep 0.3
grep -o 'warning.*bad HTTP request.*' "$work/logs/provider.err" | tail -1

step "2. both have a Mesher: the consumer calls http://AccountService:8080/ by name"
ip netns exec "$consumer" "$mesher" init --capture-dns
start_mesher "$consumer" consumer "$work/consumer.yaml"
consumer_mesher=${pids[-1]}
echo "# DNS: $(as_app "$consumer" getent ahostsv4 AccountService | head -1)"
as_app "$consumer" curl -sS -m 5 http://AccountService:8080/
sleep 0.3
echo "# consumer's Mesher:"
grep '"method"' "$work/logs/consumer.log" | tail -1
echo "# provider's Mesher, inbound: the same request (it carried x-mesher-hop: 1, and went on with 2)"
grep '"method"' "$work/logs/provider.log" | tail -1

step "3. only the consumer has a Mesher: the provider's app asks its Mesher to leave (POST /quitquitquit, as a Job's
   app does; from the host only), it deregisters, drains and exits; a deploy tool registers the app"
as_app "$provider" curl -sS -X POST http://127.0.0.1:15000/quitquitquit
for _ in $(seq 50); do kill -0 "${pids[-2]}" 2>/dev/null || break; sleep 0.1; done
grep -oE '(shutting down|deregistered|stopped).*' "$work/logs/provider.err"
echo "# registry files left: $(find "$work/registry" -name '*.yaml' | wc -l)"
ip netns exec "$provider" "$mesher" uninstall
cat > "$work/registry/account.yaml" <<YAML
services:
  AccountService:
    - {address: 198.18.0.2, port: 8080, version: 1.0.0}
YAML
sleep 0.5
as_app "$consumer" curl -sS -m 5 http://AccountService:8080/
sleep 0.3
grep '"method"' "$work/logs/consumer.log" | tail -1

step "4. reliable delivery on defaults: two more AccountService instances, one dead (nothing on 8081) and one
   answering 500 (8082); 60 calls: failed connects go to another instance, the failing one is ejected"
ip netns exec "$provider" /usr/bin/python3 -c 'import http.server
class Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.HTTPServer(("198.18.0.2", 8082), Failing).serve_forever()' &
pids+=($!)
wait_port "$provider" 8082
cat > "$work/registry/account.yaml" <<YAML
services:
  AccountService:
    - {address: 198.18.0.2, port: 8080, version: 1.0.0}
    - {address: 198.18.0.2, port: 8081, version: 1.0.0}
    - {address: 198.18.0.2, port: 8082, version: 1.0.0}
YAML
sleep 0.5
for _ in $(seq 60); do as_app "$consumer" curl -s -o /dev/null -w '%{http_code}\n' -m 5 http://AccountService:8080/; done |
    sort | uniq -c | sed 's/^ */# answers: /'
echo "# the 500s are the failing instance's, at most 5 per event loop (2 here) before each ejects it; none"
echo "# came from the dead one; with retries.on: [5xx] in the consumer's traffic policy they would be retried too"
grep -o 'ejections=.*instance ejected' "$work/logs/consumer.err" | head -2 || true

step "5. visibility: the consumer's admin port (127.0.0.1:15000) serves Prometheus metrics, the admin API, a live
   page (GET /) and trace context; mesher status reads it"
ip netns exec "$consumer" curl -s http://127.0.0.1:15000/metrics |
    grep -E '^mesher_(requests_total|ejections_total|retries_total)\{.*accountservice' | grep -v ' 0$' || true
as_app "$consumer" curl -s -o /dev/null -m 5 http://AccountService:8080/traced \
    -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
sleep 0.3
echo "# a request that came with a W3C trace continues it with the consumer Mesher's own span:"
grep '"path":"/traced"' "$work/logs/consumer.log" | tail -1
( for _ in $(seq 30); do as_app "$consumer" curl -s -o /dev/null -m 5 http://AccountService:8080/; sleep 0.05; done ) &
ip netns exec "$consumer" "$mesher" status --interval 1
wait $!
echo "# the live page: http://127.0.0.1:15000/ in the consumer's network namespace (a browser there, or a port-forward)"

step "6. traffic management: a 2.0.0 instance joins; routes in the consumer's mesher.yaml send canaries (x-canary: 1)
   and 20 % of the rest to it, deny /admin, rate-limit /report; SIGHUP reloads them into the running Mesher"
mkdir -p "$work/www2"
echo "AccountService 2.0.0 answered" > "$work/www2/index.html"
for www in www www2; do echo "a report" > "$work/$www/report"; done
ip netns exec "$provider" /usr/bin/python3 -m http.server 8083 --bind 198.18.0.2 -d "$work/www2" >/dev/null 2>&1 &
pids+=($!)
wait_port "$provider" 8083
cat > "$work/registry/account.yaml" <<YAML
services:
  AccountService:
    - {address: 198.18.0.2, port: 8080, version: 1.0.0}
    - {address: 198.18.0.2, port: 8083, version: 2.0.0}
YAML
cat >> "$work/consumer.yaml" <<'YAML'
routes:
  AccountService:
    - match: {headers: {x-canary: {exact: "1"}}}
      to: [{version: 2.0.0}]
    - match: {path: {regex: "^/admin"}}
      directResponse: {status: 403, body: "no admin through the mesh"}
    - match: {path: {prefix: /report}}
      rateLimit: {requestsPerSecond: 5, burst: 5}
    - to: [{version: 1.0.0, weight: 80}, {version: 2.0.0, weight: 20}]
YAML
sed 's/^/    /' "$work/consumer.yaml"
kill -HUP "$consumer_mesher"
sleep 0.5
grep -o 'notice.*config reloaded' "$work/logs/consumer.err" | tail -1
echo "# with x-canary: 1: $(as_app "$consumer" curl -sS -m 5 -H 'x-canary: 1' http://AccountService:8080/)"
echo "# 100 calls on one keep-alive connection, each weighed on its own (80/20):"
# shellcheck disable=SC2046 # one URL per word
as_app "$consumer" curl -s -m 30 $(printf 'http://AccountService:8080/?%d ' $(seq 100)) | sort | uniq -c
echo "# //admin/x, a spelling the app reads as /admin/x: $(as_app "$consumer" curl -s --path-as-is -w ' (%{http_code})' http://AccountService:8080//admin/x)"
echo "# 20 calls to /report at once (5 a second, burst 5):"
for _ in $(seq 20); do as_app "$consumer" curl -s -o /dev/null -w '%{http_code}\n' -m 5 http://AccountService:8080/report & done |
    sort | uniq -c | sed 's/^ */# answers: /'
echo "# a typo, and SIGHUP: the running routes stay, one line says where"
sed -i 's/to: \[{version: 2.0.0}\]/to: [{versoin: 2.0.0}]/' "$work/consumer.yaml"
kill -HUP "$consumer_mesher"
sleep 0.5
grep -o 'error.*config not reloaded' "$work/logs/consumer.err" | tail -1

step "7. HTTP/2 and gRPC at L7: two h2c instances of Greeter (nghttpd); one HTTP/2 connection of the consumer
   (nghttp, prior knowledge) carries 20 requests, each routed and balanced on its own, one log line each"
for name in a b; do
    mkdir -p "$work/h2$name"
    echo "Greeter $name answered" > "$work/h2$name/index.html"
done
ip netns exec "$provider" nghttpd --no-tls -a 198.18.0.2 -d "$work/h2a" 8090 >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$provider" nghttpd --no-tls -a 198.18.0.2 -d "$work/h2b" 8091 >/dev/null 2>&1 &
pids+=($!)
wait_port "$provider" 8091
cat > "$work/registry/greeter.yaml" <<YAML
services:
  Greeter:
    - {address: 198.18.0.2, port: 8090, protocol: h2c}
    - {address: 198.18.0.2, port: 8091, protocol: h2c}
YAML
sleep 1
as_app "$consumer" nghttp -m 20 http://Greeter:8090/index.html | sort | uniq -c
echo "# the consumer's access log, one line per stream:"
grep '"proto":"h2","method"' "$work/logs/consumer.log" | tail -2
echo "# an HTTP/1.1 client reaches the same h2c-only instances: its requests go as streams on Mesher's HTTP/2 connections:"
for _ in 1 2; do as_app "$consumer" curl -sS -m 5 --http1.1 http://Greeter:8090/index.html; done
echo "# a service with no instance up (Nobody) answers like any Mesher error, as HTTP/2 (a gRPC client gets grpc-status 14):"
echo "services: {Nobody: []}" > "$work/registry/nobody.yaml"
sleep 1
as_app "$consumer" curl -sS -m 5 -i --http2-prior-knowledge http://Nobody:8090/ | grep -i -e '^HTTP' -e x-mesher-error

step "8. a large registry: 10,000 more services, a file each, land in the registry directory; the consumer reads
   only the files that changed (inotify), spends nothing while idle, and routes a new service once its file is there"
/usr/bin/python3 - "$work/registry" <<'PY'
import sys
for i in range(10000):
    with open("%s/bulk-%05d.yaml" % (sys.argv[1], i), "w") as f:
        f.write("services:\n  bulk-%05d:\n    - {address: 198.19.%d.%d, port: 8080}\n" % (i, i // 250, i % 250 + 1))
PY
services=0
for _ in $(seq 100); do
    services=$(as_app "$consumer" curl -sS -m 2 http://127.0.0.1:15000/metrics | awk '/^mesher_registry_services /{print $2}')
    [ "${services%.*}" -ge 10000 ] 2>/dev/null && break
    sleep 0.1
done
echo "# services in the consumer's view: ${services%.*}"
echo "# DNS: $(as_app "$consumer" getent ahostsv4 bulk-04242 | head -1) (from the set of names alone: every Mesher gives this one)"
ticks() { awk '{print $14 + $15}' "/proc/$consumer_mesher/stat"; }
before=$(ticks)
sleep 3
echo "# the consumer's CPU over 3 s idle with $((${services%.*})) services: $(($(ticks) - before)) ticks of 10 ms"
start=$(date +%s%N)
echo "services: {NewService: [{address: 198.18.0.2, port: 8080}]}" > "$work/registry/new.yaml"
for _ in $(seq 200); do
    as_app "$consumer" curl -sf -m 2 --connect-to ::198.18.0.2:9 http://NewService/ >/dev/null && break
done
echo "# NewService answered through the consumer $((($(date +%s%N) - start) / 1000000)) ms after its file was written"

step "proof of capture: the REDIRECT rules' packet counters in the consumer"
ip netns exec "$consumer" iptables-save -c -t nat | grep -- '--to-ports'

step "mesher uninstall: the rules are gone, the app still reaches the provider directly"
ip netns exec "$consumer" "$mesher" uninstall
as_app "$consumer" curl -sS -m 5 http://198.18.0.2:8080/

step "done: namespaces and processes are removed"
