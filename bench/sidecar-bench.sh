#!/usr/bin/env bash
# Side-by-side sidecar benchmark in a private network namespace (extends shared/bench/sidecar-bench.sh).
# wrk (uid 1000) -> iptables REDIRECT -> proxy under test (uid 1337) -> nginx on 127.0.0.1:8080 (1 worker).
# Proxies: none (direct), HAProxy TCP and HTTP mode (transparent, `server orig 0.0.0.0:0`), Mesher at L7
# (its default for HTTP) and Mesher as a byte relay (port made opaque). Same run, so ratios compare.
# HTTP/2: h2load (uid 1000, 8 connections of 32 streams, h2c prior knowledge) -> nghttpd on 127.0.0.1:8090
# (1 worker, the same 1 KiB body): direct, HAProxy in HTTP mode speaking h2 on both sides, and Mesher by
# service name (:authority bench-svc, an instance with protocol h2c).
# gRPC: the same h2load sending unary calls (a 5-byte message) to a real gRPC server (grpcio, the tests'
# grpcpeer.py, on 127.0.0.1:8095) on the same paths (Mesher by :authority grpc-svc).
# Usage: bench/sidecar-bench.sh [duration_s]; env MESHER_BIN (default .build/release/mesher),
# BENCH_ROUNDS (rounds, default 3: the table shows each figure's median), BENCH_IDLE_CONNS (idle connections
# held through Mesher, default 10000), MESHER_BASELINE_BIN (another Mesher build run alongside at L7 and in
# the HTTP/2 row, to measure a change against the build without it), BENCH_ONLY (h1: HTTP/1.1 and TCP only;
# h2: HTTP/2 only).
set -euo pipefail
D=${1:-5}
ROUNDS=${BENCH_ROUNDS:-3}
MESHER=${MESHER_BIN:-.build/release/mesher}
BASELINE=${MESHER_BASELINE_BIN:-}
IDLE=${BENCH_IDLE_CONNS:-10000}
ONLY=${BENCH_ONLY:-}
case $ONLY in "" | h1 | h2) ;; *) echo "BENCH_ONLY: h1 or h2" >&2; exit 2 ;; esac
# Whether a part (h1: HTTP/1.1 and TCP, h2: HTTP/2) runs.
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
NS=mbench$$
HERE=$(mktemp -d /tmp/mbench.XXXX)
chmod 755 "$HERE"
N=(ip netns exec "$NS")
cleanup() {
    set +e
    for f in "$HERE"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    for _ in $(seq 30); do [ -z "$(ip netns pids "$NS" 2>/dev/null)" ] && break; sleep 0.1; done
    # Whatever ignored SIGTERM (a parent may have left signals blocked) goes with SIGKILL.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$HERE"
}
trap cleanup EXIT
for b in wrk nginx haproxy iptables iperf3 h2load nghttpd; do
    command -v "$b" >/dev/null || {
        echo "missing $b (apt-get install wrk nginx-light haproxy iptables iperf3 nghttp2-client nghttp2-server)" >&2
        exit 2
    }
done
[ -x "$MESHER" ] || { echo "no mesher binary at $MESHER (make release)" >&2; exit 2; }

ip netns add "$NS"
"${N[@]}" ip link set lo up
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 >"$HERE/1k"
cat >"$HERE/nginx.conf" <<NG
worker_processes 1; daemon off; pid $HERE/nginx.pidfile; error_log /dev/null;
worker_rlimit_nofile 65536;
events { worker_connections 32768; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:8080 backlog=4096; root $HERE; location / { try_files /1k =404; } }
  server { listen 127.0.0.1:8081 backlog=4096; root $HERE; location / { try_files /1k =404; } }
  server { listen 127.0.0.1:8082 backlog=4096; location / { return 500; } } }
NG
"${N[@]}" nginx -c "$HERE/nginx.conf" & echo $! >"$HERE/nginx.pid"
# The HTTP/2 upstream: h2c (prior knowledge), one worker thread like nginx's one worker, the same body at /1k.
"${N[@]}" nghttpd --no-tls -a 127.0.0.1 -n 1 -d "$HERE" 8090 >"$HERE/nghttpd.log" 2>&1 & echo $! >"$HERE/nghttpd.pid"
# The gRPC upstream: grpcio (installed by scripts/install-deps.sh), answering mesh.Echo/Unary.
GRPC_PY=/opt/mesher-py/bin/python
GRPC_PEER=$(cd "$(dirname "$0")/.." && pwd)/Tests/EndToEnd/Fixtures/grpcpeer.py
[ -x "$GRPC_PY" ] || { echo "missing $GRPC_PY (scripts/install-deps.sh)" >&2; exit 2; }
"${N[@]}" "$GRPC_PY" "$GRPC_PEER" server 127.0.0.1 8095 bench >/dev/null 2>&1 & echo $! >"$HERE/grpc.pid"
printf '\0\0\0\0\5hello' >"$HERE/unary.bin"
for _ in $(seq 100); do "${N[@]}" ss -ltn | grep -q ":8095 " && break; sleep 0.1; done
cat >"$HERE/haproxy-tcp.cfg" <<HC
global
  maxconn 4000
  nbthread 1
defaults
  option splice-auto
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend f
  bind 0.0.0.0:15001
  mode tcp
  default_backend b
backend b
  mode tcp
  server orig 0.0.0.0:0
HC
sed -e 's/mode tcp/mode http/g' -e 's/^  default_backend b/  option http-keep-alive\n  default_backend b/' "$HERE/haproxy-tcp.cfg" >"$HERE/haproxy-http.cfg"
# HTTP mode with h2c (prior knowledge) on both sides: h2load's streams in, h2 streams to nghttpd.
sed -e 's/^  bind .*/& proto h2/' -e 's/^  server orig .*/& proto h2/' "$HERE/haproxy-http.cfg" >"$HERE/haproxy-h2.cfg"
mkdir "$HERE/registry"
printf 'services:\n  bench-svc:\n    - {address: 127.0.0.1, port: 8080}\n' >"$HERE/registry/bench.yaml"
# One bad instance of three (8082 answers 500), for Mesher by service name and for HAProxy as a backend.
printf 'services:\n  bench-bad:\n%s' "$(printf '    - {address: 127.0.0.1, port: %s}\n' 8080 8081 8082)" \
    >"$HERE/registry/bad.yaml"
# For the HTTP/2 rows' Mesher (a registry of its own): bench-svc is nghttpd, which speaks h2c.
mkdir "$HERE/registry-h2"
printf 'services:\n  bench-svc:\n    - {address: 127.0.0.1, port: 8090, protocol: h2c}\n  grpc-svc:\n    - {address: 127.0.0.1, port: 8095, protocol: h2c}\n' \
    >"$HERE/registry-h2/bench.yaml"
cat >"$HERE/haproxy-bad.cfg" <<HC
global
  maxconn 4000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
  retry-on conn-failure empty-response response-timeout 500 502 503 504
frontend f
  bind 0.0.0.0:15017
  option http-keep-alive
  default_backend b
backend b
  option httpchk GET /
  http-check expect status 200
  server s1 127.0.0.1:8080 check
  server s2 127.0.0.1:8081 check
  server s3 127.0.0.1:8082 check
HC
common="registry: {directory: $HERE/registry}
threads: 1
log: {level: warning}
dns: {enabled: false}
explicitProxy: {enabled: false}
inbound: {enabled: false}
drainTimeout: 1s"
printf '%s\n' "$common" >"$HERE/mesher.yaml"
sed -e "s|{directory: $HERE/registry}|{directory: $HERE/registry-h2}|" "$HERE/mesher.yaml" >"$HERE/mesher-h2.yaml"
# The policy layer off, as far as configuration goes: what it costs on routed requests (route-c32 against
# route-c32-off, same build, same run).
printf '%s\ntraffic: {defaults: {loadBalancer: round-robin, requestTimeout: 0s, retries: {attempts: 0}, outlierDetection: {consecutiveFailures: 0}, circuitBreaker: {maxRequests: 1000000}}}\n' \
    "$common" >"$HERE/mesher-off.yaml"
printf '%s\nsniff: {opaquePorts: [8080, 8090, 8095]}\n' "$common" >"$HERE/mesher-tcp.yaml"
# Metrics and trace context off: what they cost (ka-c32 against ka-c32-notel, route-c32 against route-c32-notel).
printf '%s\ntelemetry: {metrics: false, tracing: false}\n' "$common" >"$HERE/mesher-notel.yaml"
# Route rules: what they cost on routed requests (route-c32-rules against route-c32): a header rule and a
# regular expression that do not match, then a weighted split with a header added.
printf '%s\n%s\n' "$common" 'routes:
  bench-svc:
    - match: {headers: {x-canary: {exact: "1"}}}
      to: [{version: canary}]
    - match: {path: {regex: "^/admin"}}
      directResponse: {status: 403}
    - to: [{weight: 90}, {weight: 10}]
      requestHeaders: {add: {x-route: default}}' >"$HERE/mesher-rules.yaml"
"${N[@]}" iperf3 -s -B 127.0.0.1 -p 5201 >/dev/null 2>&1 & echo $! >"$HERE/iperf.pid"
sleep 0.5

asuser() { "${N[@]}" setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
# Traffic to nginx, nghttpd and iperf3 goes to one proxy at a time: REDIRECT to its port, or nowhere (direct).
route_to() {
    "${N[@]}" iptables -t nat -F OUTPUT
    [ "$1" = 0 ] && return
    "${N[@]}" iptables -t nat -A OUTPUT -p tcp -o lo -m owner ! --uid-owner 1337 -m multiport --dports 8080,8090,8095,5201 \
        -j REDIRECT --to-ports "$1"
}
# One line: rps p50 p99 requests [errors]
wrkrun() {
    local c=$1; shift
    asuser wrk -t1 -c"$c" -d"${D}s" --latency "$@" http://127.0.0.1:8080/ 2>&1 |
        awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} / requests in / {n=$1}
             /Non-2xx|Socket errors/ {e=e" "$0} END {printf "%s %s %s %s%s\n", r, p50, p99, n, e}'
}
# The same line from h2load, 8 connections of 32 streams, with the mean and sd of the time to each response's end
# in place of p50 and p99: h2load gives no percentiles, and its per-request log (a write(2) per request) would
# cost it 60 % more CPU, which the proxy under test would feel on a 2-core machine.
h2run() {
    asuser h2load -t1 -c8 -m32 -D "$D" "$@" 2>&1 |
        awk '/^finished in / {r = $4} /^time for request:/ {mean = $6; sd = $7} $0 != "" {last = $0}
             /^requests: / {n = $6; if ($10 + $12 + $14) e = e " " $0}
             /^status codes: / {if ($5 + $7 + $9) e = e " " $0}
             END {if (r == "") e = " h2load: " last
                  printf "%s %s %s %s%s\n", r == "" ? 0 : r, mean == "" ? "-" : mean, sd == "" ? "-" : sd, n + 0, e}'
}
# "rps p50 p99 requests [errors]" -> "percent% requests non2xx"
success_rate() {
    awk '{n = $4; bad = 0; if (match($0, /Non-2xx or 3xx responses: [0-9]+/)) { split(substr($0, RSTART, RLENGTH), f, ": "); bad = f[2] }
          printf "%.3f%% %d %d\n", n ? 100 * (n - bad) / n : 0, n, bad}'
}
cpu_seconds() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# Private (anonymous) memory: what each extra sidecar costs; RSS also counts the binary's shared, clean pages.
anon_mib() { awk '/RssAnon/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
result() { echo "$1 $2 $3" >>"$HERE/results"; }

# Every proxy runs for the whole benchmark, each on its own port (uid 1337, so its own connections are not
# redirected); they take turns per scenario and round, so that a noisy moment hits all of them alike.
PROXIES=(direct haproxy-tcp haproxy-http mesher-tcp mesher)
declare -A PORT=([direct]=0 [haproxy-tcp]=15011 [haproxy-http]=15012 [mesher-tcp]=15013 [mesher]=15014 [baseline]=15015
    [mesher-off]=15016 [haproxy-bad]=15017 [mesher-notel]=15018 [mesher-rules]=15019 [haproxy-h2]=15020
    [mesher-h2]=15021 [baseline-h2]=15022)
# Each Mesher's listeners: its outbound port, and its admin port (where /metrics is) 10 above.
listen_on() { printf 'outbound: {port: %s}\nadmin: {port: %s}\n' "${PORT[$1]}" "$((PORT[$1] + 10))" >>"$HERE/$1.yaml"; }
# Another Mesher build at L7 (MESHER_BASELINE_BIN, e.g. the previous commit's): what a change costs, same run.
[ -n "$BASELINE" ] && PROXIES+=(baseline)
startproxy() { # name cmd...
    local name=$1; shift
    "${N[@]}" setpriv --reuid 1337 --regid 1337 --clear-groups "$@" >"$HERE/$name.log" 2>&1 & echo $! >"$HERE/$name.pid"
    for _ in $(seq 100); do "${N[@]}" ss -ltn | grep -q ":${PORT[$name]} " && break; sleep 0.1; done
}
pid_of() { cat "$HERE/$1.pid"; }
for mode in tcp http h2; do
    sed -e "s/15001/${PORT[haproxy-$mode]}/" "$HERE/haproxy-$mode.cfg" >"$HERE/haproxy-$mode.port.cfg"
    startproxy "haproxy-$mode" haproxy -f "$HERE/haproxy-$mode.port.cfg" -db
done
for name in mesher-tcp mesher mesher-off mesher-notel mesher-rules mesher-h2; do
    listen_on "$name"
    startproxy "$name" "$MESHER" run --config "$HERE/$name.yaml"
done
startproxy haproxy-bad haproxy -f "$HERE/haproxy-bad.cfg" -db
if [ -n "$BASELINE" ]; then
    sed -e "s/${PORT[mesher]}/${PORT[baseline]}/" -e "s/$((PORT[mesher] + 10))/$((PORT[baseline] + 10))/" \
        "$HERE/mesher.yaml" >"$HERE/baseline.yaml"
    startproxy baseline "$BASELINE" run --config "$HERE/baseline.yaml"
    sed -e "s/${PORT[mesher-h2]}/${PORT[baseline-h2]}/" -e "s/$((PORT[mesher-h2] + 10))/$((PORT[baseline-h2] + 10))/" \
        "$HERE/mesher-h2.yaml" >"$HERE/baseline-h2.yaml"
    startproxy baseline-h2 "$BASELINE" run --config "$HERE/baseline-h2.yaml"
fi
sleep 0.3
declare -A CPU REQS H2CPU H2REQS
want h1 && for proxy in "${PROXIES[@]:1}"; do
    result "$proxy" rss-idle "$(rss_mib "$(pid_of "$proxy")") MiB"
    result "$proxy" anon-idle "$(anon_mib "$(pid_of "$proxy")") MiB"
    CPU[$proxy]=0
    REQS[$proxy]=0
done

# The HTTP/2 rows' proxies, and the table's columns their figures go in.
# mesher-tcp relays HTTP/2 as bytes (its port made opaque): the same build with HTTP/2 at L7 off.
declare -A H2COLUMN=([direct]=direct [haproxy-h2]=haproxy-http [mesher-tcp]=mesher-tcp [mesher-h2]=mesher
    [baseline-h2]=baseline)
H2PROXIES=(direct haproxy-h2 mesher-tcp mesher-h2)
[ -n "$BASELINE" ] && H2PROXIES+=(baseline-h2)
for round in $(seq "$ROUNDS"); do
    # HTTP/2, the same requests on every path (Mesher routes them by :authority, HAProxy and nghttpd ignore it).
    want h2 && for proxy in "${H2PROXIES[@]}"; do
        route_to "${PORT[$proxy]}"
        [ "$proxy" = direct ] || before=$(cpu_seconds "$(pid_of "$proxy")")
        line=$(h2run -H ':authority: bench-svc' http://127.0.0.1:8090/1k)
        result "${H2COLUMN[$proxy]}" h2-c8m32 "$line"
        # CPU per HTTP/2 stream, to set against cpu-100k (an HTTP/1 request).
        if [ "$proxy" != direct ]; then
            H2CPU[$proxy]=$(awk -v t="${H2CPU[$proxy]:-0}" -v a="$before" -v b="$(cpu_seconds "$(pid_of "$proxy")")" \
                'BEGIN {printf "%.2f", t + b - a}')
            H2REQS[$proxy]=$((${H2REQS[$proxy]:-0} + $(echo "$line" | awk '{print $4 + 0}')))
        fi
        result "${H2COLUMN[$proxy]}" grpc-c8m32 "$(h2run -H ':authority: grpc-svc' -H 'content-type: application/grpc' \
            -H 'te: trailers' -d "$HERE/unary.bin" http://127.0.0.1:8095/mesh.Echo/Unary)"
    done
    want h1 || continue
    for proxy in "${PROXIES[@]}"; do
        route_to "${PORT[$proxy]}"
        [ "$proxy" = direct ] || before=$(cpu_seconds "$(pid_of "$proxy")")
        line=$(wrkrun 32)
        result "$proxy" ka-c32 "$line"
        [ "$proxy" = direct ] && continue
        # CPU per request from the keep-alive c32 runs only.
        CPU[$proxy]=$(awk -v t="${CPU[$proxy]}" -v a="$before" -v b="$(cpu_seconds "$(pid_of "$proxy")")" \
            'BEGIN {printf "%.2f", t + b - a}')
        REQS[$proxy]=$((REQS[$proxy] + $(echo "$line" | awk '{print $4 + 0}')))
        if [ "$round" = 1 ]; then
            result "$proxy" rss-load "$(rss_mib "$(pid_of "$proxy")") MiB"
            result "$proxy" anon-load "$(anon_mib "$(pid_of "$proxy")") MiB"
        fi
    done
    route_to "${PORT[mesher-notel]}"
    result mesher ka-c32-notel "$(wrkrun 32)"
    for proxy in "${PROXIES[@]}"; do route_to "${PORT[$proxy]}"; result "$proxy" ka-c1 "$(wrkrun 1)"; done
    for proxy in "${PROXIES[@]}"; do
        route_to "${PORT[$proxy]}"
        result "$proxy" close-c8 "$(wrkrun 8 -H 'Connection: close')"
    done
    route_to "${PORT[mesher]}"
    result mesher route-c32 "$(wrkrun 32 -H 'Host: bench-svc')"
    route_to "${PORT[mesher-off]}"
    result mesher route-c32-off "$(wrkrun 32 -H 'Host: bench-svc')"
    route_to "${PORT[mesher-notel]}"
    result mesher route-c32-notel "$(wrkrun 32 -H 'Host: bench-svc')"
    route_to "${PORT[mesher-rules]}"
    result mesher route-c32-rules "$(wrkrun 32 -H 'Host: bench-svc')"
    # One bad instance of three: the share of requests answered 2xx (wrk counts the others).
    route_to "${PORT[mesher]}"
    result mesher bad-1-of-3 "$(wrkrun 32 -H 'Host: bench-bad' | success_rate)"
    route_to "${PORT[haproxy-bad]}"
    result haproxy-http bad-1-of-3 "$(wrkrun 32 | success_rate)"
    for proxy in "${PROXIES[@]}"; do
        # HAProxy in HTTP mode cannot carry iperf3's protocol (Mesher sniffs it and relays it as TCP).
        if [ "$proxy" = haproxy-http ]; then result "$proxy" tcp-bulk "n/a"; continue; fi
        route_to "${PORT[$proxy]}"
        bw=$(asuser iperf3 -c 127.0.0.1 -p 5201 -t "$D" -J 2>/dev/null |
            python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo fail)
        result "$proxy" tcp-bulk "$bw Gbit/s"
    done
done

# What a layer costs: the same build with it and without it, back to back (2 s each, BENCH_PAIRS pairs), the
# median of the pairs' ratios. On a shared VM throughput drifts between runs further apart by more than such a
# cost (the rows above, a round apart, swung 0.77-1.01 for the same builds).
PAIRS=${BENCH_PAIRS:-8}
paired() { # label with-port without-port wrk-options...
    local label=$1 with=$2 without=$3 a b
    shift 3
    for _ in $(seq "$PAIRS"); do
        route_to "$with"
        a=$(D=$((D < 2 ? D : 2)) wrkrun 32 "$@" | awk '{print $1}')
        route_to "$without"
        b=$(D=$((D < 2 ? D : 2)) wrkrun 32 "$@" | awk '{print $1}')
        awk -v a="$a" -v b="$b" 'BEGIN {if (b > 0) printf "%.4f\n", a / b}'
    done | sort -n | awk -v label="$label" '{v[NR] = $1}
        END {m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
             printf "%s = %.2f (median of %d paired runs, %.2f to %.2f)\n", label, m, NR, v[1], v[NR]}'
}
: >"$HERE/paired"
want h1 && {
    paired "policy layer (defaults) on routed requests: route-c32 / route-c32-off" \
        "${PORT[mesher]}" "${PORT[mesher-off]}" -H 'Host: bench-svc'
    paired "metrics + trace context: ka-c32 / ka-c32-notel" "${PORT[mesher]}" "${PORT[mesher-notel]}"
    paired "metrics + trace context: route-c32 / route-c32-notel" \
        "${PORT[mesher]}" "${PORT[mesher-notel]}" -H 'Host: bench-svc'
    paired "route rules (3, the last matching): route-c32-rules / route-c32" \
        "${PORT[mesher-rules]}" "${PORT[mesher]}" -H 'Host: bench-svc'
} >"$HERE/paired"

want h1 && for proxy in "${PROXIES[@]:1}"; do
    result "$proxy" cpu-100k "$(awk -v c="${CPU[$proxy]}" -v n="${REQS[$proxy]}" 'BEGIN {printf "%.2f", c * 100000 / n}') s"
done

want h2 && for proxy in "${H2PROXIES[@]:1}"; do
    [ "${H2REQS[$proxy]:-0}" -gt 0 ] || continue
    result "${H2COLUMN[$proxy]}" cpu-h2-100k \
        "$(awk -v c="${H2CPU[$proxy]}" -v n="${H2REQS[$proxy]}" 'BEGIN {printf "%.2f", c * 100000 / n}') s"
done

# Idle connections held open through Mesher: its memory with them.
if want h1; then
    route_to "${PORT[mesher]}"
    pid=$(pid_of mesher)
    asuser /usr/bin/python3 - "$IDLE" >"$HERE/idle.out" 2>&1 <<'PY' &
import resource, socket, sys, time
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, n + 100))
held = []
for _ in range(n):
    held.append(socket.create_connection(("127.0.0.1", 8080)))
print("held", len(held), flush=True)
time.sleep(600)
PY
    echo $! >"$HERE/idle.pid"
    for _ in $(seq 600); do grep -q held "$HERE/idle.out" 2>/dev/null && break; sleep 0.1; done
    sleep 0.5
    result mesher "idle-$IDLE" "$(rss_mib "$pid") MiB $(grep -o 'held [0-9]*' "$HERE/idle.out" || echo 'held 0')"
    kill "$(cat "$HERE/idle.pid")" 2>/dev/null || true
fi

python3 - "$HERE/results" "$D" "$ROUNDS" "${PROXIES[*]}" <<'PY'
import sys, collections
def number(text):
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return None
runs = collections.OrderedDict()
for line in open(sys.argv[1]):
    proxy, scenario, rest = line.rstrip("\n").split(" ", 2)
    runs.setdefault(scenario, {}).setdefault(proxy, []).append(rest)
# Each figure is the run with the median value (its latencies come with it); errors of any run are shown.
rows, errors = collections.OrderedDict(), collections.OrderedDict()
for scenario, by_proxy in runs.items():
    for proxy, texts in by_proxy.items():
        ranked = sorted(texts, key=lambda t: number(t) if number(t) is not None else float("-inf"))
        rows.setdefault(scenario, {})[proxy] = ranked[len(ranked) // 2]
        found = [" ".join(t.split()[4:]) for t in texts if len(t.split()) > 4]
        if found: errors.setdefault(scenario, {})[proxy] = "; ".join(found)
proxies = sys.argv[4].split()
def latency(text, index):
    parts = text.split()
    if len(parts) <= index: return "-"
    return parts[index]
print(f"# sidecar benchmark: {sys.argv[2]}s per run, median of {sys.argv[3]} interleaved rounds, 1 proxy thread each")
baseline = "baseline" in proxies
print(f"{'scenario':<12}" + "".join(f"{p:>16}" for p in proxies) + f"{'mesher/direct':>15}{'mesher/hap-tcp':>16}{'mesher/hap-http':>17}"
      + (f"{'mesher/baseline':>17}" if baseline else ""))
# h2-c8m32, grpc-c8m32: HTTP/2, their haproxy-http column HAProxy in HTTP mode with h2 on both sides; mean/sd,
# not p50/p99.
order = ["ka-c32", "ka-c32-notel", "ka-c1", "close-c8", "h2-c8m32", "grpc-c8m32", "tcp-bulk", "route-c32", "route-c32-off", "route-c32-notel", "route-c32-rules", "bad-1-of-3",
         "rss-idle", "anon-idle", "rss-load",
         "anon-load", "cpu-100k", "cpu-h2-100k"]
rows = collections.OrderedDict(sorted(rows.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
for scenario, values in rows.items():
    cells, nums = [], {}
    for p in proxies:
        v = values.get(p)
        nums[p] = number(v) if v else None
        cells.append(f"{(v.split()[0] + (' ' + v.split()[1] if scenario.startswith(('rss', 'anon', 'cpu', 'tcp', 'idle')) and len(v.split()) > 1 else '')) if v else '-':>16}")
    if scenario == "bad-1-of-3":
        print(f"{scenario:<12}" + "".join(cells) + "   (2xx share; requests, non-2xx: "
              + ", ".join(f"{p} {' / '.join(values[p].split()[1:3])}" for p in proxies if p in values) + ")")
        continue
    def ratio(a, b):
        return f"{nums[a] / nums[b]:.2f}" if nums.get(a) and nums.get(b) else "-"
    print(f"{scenario:<12}" + "".join(cells) + f"{ratio('mesher', 'direct'):>15}{ratio('mesher', 'haproxy-tcp'):>16}{ratio('mesher', 'haproxy-http'):>17}"
          + (f"{ratio('mesher', 'baseline'):>17}" if baseline else ""))
    if scenario in ("ka-c32", "ka-c32-notel", "ka-c1", "close-c8", "h2-c8m32", "grpc-c8m32", "route-c32", "route-c32-off",
                    "route-c32-notel", "route-c32-rules"):
        label = "  mean/sd" if scenario.startswith(("h2-", "grpc-")) else "  p50/p99"
        print(f"{label:<12}" + "".join(f"{(latency(values[p], 1) + '/' + latency(values[p], 2)) if p in values else '-':>16}" for p in proxies))
        for p, e in errors.get(scenario, {}).items(): print(f"  errors {p}: {e}")
PY
cat "$HERE/paired"
