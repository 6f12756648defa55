#!/usr/bin/env bash
# Side-by-side sidecar benchmark in a private network namespace (extends shared/bench/sidecar-bench.sh).
# wrk (uid 1000) -> iptables REDIRECT -> proxy under test (uid 1337) -> nginx on 127.0.0.1:8080 (1 worker).
# Proxies: none (direct), HAProxy TCP and HTTP mode (transparent, `server orig 0.0.0.0:0`), Mesher at L7
# (its default for HTTP) and Mesher as a byte relay (port made opaque). Same run, so ratios compare.
# Usage: bench/sidecar-bench.sh [duration_s]; env MESHER_BIN (default .build/release/mesher),
# BENCH_IDLE_CONNS (idle connections held through Mesher, default 10000).
set -euo pipefail
D=${1:-5}
MESHER=${MESHER_BIN:-.build/release/mesher}
IDLE=${BENCH_IDLE_CONNS:-10000}
NS=mbench$$
HERE=$(mktemp -d /tmp/mbench.XXXX)
chmod 755 "$HERE"
N=(ip netns exec "$NS")
cleanup() {
    set +e
    for f in "$HERE"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    sleep 0.3
    # Whatever ignored SIGTERM (a parent may have left signals blocked) goes with SIGKILL.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$HERE"
}
trap cleanup EXIT
for b in wrk nginx haproxy iptables iperf3; do
    command -v "$b" >/dev/null || { echo "missing $b (apt-get install wrk nginx-light haproxy iptables iperf3)" >&2; exit 2; }
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
  server { listen 127.0.0.1:8080 backlog=4096; root $HERE; location / { try_files /1k =404; } } }
NG
"${N[@]}" nginx -c "$HERE/nginx.conf" & echo $! >"$HERE/nginx.pid"
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
mkdir "$HERE/registry"
printf 'services:\n  bench-svc:\n    - {address: 127.0.0.1, port: 8080}\n' >"$HERE/registry/bench.yaml"
common="registry: {directory: $HERE/registry}
threads: 1
log: {level: warning}
dns: {enabled: false}
admin: {enabled: false}
explicitProxy: {enabled: false}
inbound: {enabled: false}"
printf '%s\n' "$common" >"$HERE/mesher.yaml"
printf '%s\nsniff: {opaquePorts: [8080]}\n' "$common" >"$HERE/mesher-tcp.yaml"
"${N[@]}" iperf3 -s -B 127.0.0.1 -p 5201 >/dev/null 2>&1 & echo $! >"$HERE/iperf.pid"
sleep 0.5

capture_on() { "${N[@]}" iptables -t nat -A OUTPUT -p tcp -o lo -m owner ! --uid-owner 1337 -m multiport --dports 8080,5201 -j REDIRECT --to-ports 15001; }
capture_off() { "${N[@]}" iptables -t nat -F OUTPUT; }
asuser() { "${N[@]}" setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }
# One line: rps p50 p99 requests [errors]
wrkrun() {
    local c=$1; shift
    asuser wrk -t1 -c"$c" -d"${D}s" --latency "$@" http://127.0.0.1:8080/ 2>&1 |
        awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} / requests in / {n=$1}
             /Non-2xx|Socket errors/ {e=e" "$0} END {printf "%s %s %s %s%s\n", r, p50, p99, n, e}'
}
cpu_seconds() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# Private (anonymous) memory: what each extra sidecar costs; RSS also counts the binary's shared, clean pages.
anon_mib() { awk '/RssAnon/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
result() { echo "$1 $2 $3" >>"$HERE/results"; }

scenarios() { # name pid
    local name=$1 pid=${2:-} line before
    [ -n "$pid" ] && before=$(cpu_seconds "$pid")
    line=$(wrkrun 32)
    result "$name" ka-c32 "$line"
    if [ -n "$pid" ]; then
        result "$name" rss-load "$(rss_mib "$pid") MiB"
        result "$name" anon-load "$(anon_mib "$pid") MiB"
        local requests cpu
        requests=$(echo "$line" | awk '{print $4}')
        cpu=$(awk -v a="$before" -v b="$(cpu_seconds "$pid")" -v n="$requests" 'BEGIN {printf "%.2f", (b - a) * 100000 / n}')
        result "$name" cpu-100k "$cpu s"
    fi
    result "$name" ka-c1 "$(wrkrun 1)"
    result "$name" close-c8 "$(wrkrun 8 -H 'Connection: close')"
    local bw
    # HAProxy in HTTP mode cannot carry iperf3's protocol (Mesher sniffs it and relays it as TCP).
    if [ "$name" = haproxy-http ]; then result "$name" tcp-bulk "n/a"; return; fi
    bw=$(asuser iperf3 -c 127.0.0.1 -p 5201 -t "$D" -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo fail)
    result "$name" tcp-bulk "$bw Gbit/s"
}
startproxy() { # name cmd...
    local name=$1; shift
    "${N[@]}" setpriv --reuid 1337 --regid 1337 --clear-groups "$@" >"$HERE/$name.log" 2>&1 & echo $! >"$HERE/$name.pid"
    for _ in $(seq 100); do "${N[@]}" ss -ltn | grep -q ':15001 ' && break; sleep 0.1; done
    sleep 0.2
    result "$name" rss-idle "$(rss_mib "$(cat "$HERE/$name.pid")") MiB"
    result "$name" anon-idle "$(anon_mib "$(cat "$HERE/$name.pid")") MiB"
}
stopproxy() { local pid; pid=$(cat "$HERE/$1.pid"); kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$HERE/$1.pid"; sleep 0.3; }

capture_off
scenarios direct
capture_on
for proxy in haproxy-tcp haproxy-http; do
    startproxy "$proxy" haproxy -f "$HERE/$proxy.cfg" -db
    scenarios "$proxy" "$(cat "$HERE/$proxy.pid")"
    stopproxy "$proxy"
done
startproxy mesher-tcp "$MESHER" run --config "$HERE/mesher-tcp.yaml"
scenarios mesher-tcp "$(cat "$HERE/mesher-tcp.pid")"
stopproxy mesher-tcp
startproxy mesher "$MESHER" run --config "$HERE/mesher.yaml"
pid=$(cat "$HERE/mesher.pid")
scenarios mesher "$pid"
result mesher route-c32 "$(wrkrun 32 -H 'Host: bench-svc')"
# Idle connections held open through Mesher: its memory with them.
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
stopproxy mesher

python3 - "$HERE/results" "$D" <<'PY'
import sys, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    proxy, scenario, rest = line.rstrip("\n").split(" ", 2)
    rows.setdefault(scenario, {})[proxy] = rest
proxies = ["direct", "haproxy-tcp", "haproxy-http", "mesher-tcp", "mesher"]
def number(text):
    try:
        return float(text.split()[0])
    except (ValueError, IndexError):
        return None
def latency(text, index):
    parts = text.split()
    if len(parts) <= index: return "-"
    return parts[index]
print(f"# sidecar benchmark: {sys.argv[2]}s per run, same run, 1 proxy thread each")
print(f"{'scenario':<12}" + "".join(f"{p:>16}" for p in proxies) + f"{'mesher/direct':>15}{'mesher/hap-tcp':>16}{'mesher/hap-http':>17}")
for scenario, values in rows.items():
    cells, nums = [], {}
    for p in proxies:
        v = values.get(p)
        nums[p] = number(v) if v else None
        cells.append(f"{(v.split()[0] + (' ' + v.split()[1] if scenario.startswith(('rss', 'anon', 'cpu', 'tcp', 'idle')) and len(v.split()) > 1 else '')) if v else '-':>16}")
    def ratio(a, b):
        return f"{nums[a] / nums[b]:.2f}" if nums.get(a) and nums.get(b) else "-"
    print(f"{scenario:<12}" + "".join(cells) + f"{ratio('mesher', 'direct'):>15}{ratio('mesher', 'haproxy-tcp'):>16}{ratio('mesher', 'haproxy-http'):>17}")
    if scenario in ("ka-c32", "ka-c1", "close-c8", "route-c32"):
        print(f"{'  p50/p99':<12}" + "".join(f"{(latency(values[p], 1) + '/' + latency(values[p], 2)) if p in values else '-':>16}" for p in proxies))
        errors = {p: " ".join(values[p].split()[4:]) for p in proxies if p in values and len(values[p].split()) > 4}
        for p, e in errors.items(): print(f"  errors {p}: {e}")
PY
