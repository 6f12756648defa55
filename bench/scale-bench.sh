#!/usr/bin/env bash
# Mesher with large registries: 10 (the baseline: 10 services of 1 instance), 1k, 10k and 100k instances (10 per
# service), in a file registry (one YAML file per service) and in etcd (a private etcd, keys as Mesher writes
# them). The instances are fake (198.18.0.0/15, never connected to), plus one real service, benchtarget, whose
# instance is a local HTTP backend (nginx, or a Python server without nginx). For each registry and size, with
# Mesher otherwise idle:
#   sync s             from Mesher's start to the first request routed to benchtarget
#   idle CPU %         Mesher's CPU (all threads) over SCALE_IDLE_SECONDS, in % of one core
#   RSS MiB            after that idle window
#   change→use ms      a new service (a new file, or a new key) until a request to it through Mesher gets a 200,
#                      polled every 2 ms: median and max of 10
#   CPU per change ms  SCALE_CHANGES updates of one service (a new version tag), one every 20 ms: Mesher's CPU over
#                      them, less its idle rate, per update (the run ends once a service added after the last
#                      update routes, so the CPU of the updates Mesher has yet to take in is counted too)
#   rps, p50, p99      wrk -c8, one thread per core, BENCH_SECONDS, to benchtarget by name (Host header) through
#                      Mesher's explicit proxy; a "direct" row per registry kind is the same load on the backend
#   latency vs 10-svc  p50 over the p50 of the same kind's 10-instance row
# Mesher runs on loopback, without capture, in a network namespace of its own (SCALE_NETNS below), every port of its
# config set (free ones; inbound and DNS off): nothing clashes with a Mesher on the default ports.
# Usage: bench/scale-bench.sh; env MESHER_BIN (default .build/release/mesher), SCALE_SIZES (default "10 1000 10000
# 100000"), SCALE_KINDS (default "file etcd"), SCALE_CHANGES (default 200; SCALE_CHANGES_<kind>_<size>, e.g.
# SCALE_CHANGES_etcd_100000=20, for one row), SCALE_IDLE_SECONDS (default 10), SCALE_SYNC_TIMEOUT (default 120 s),
# BENCH_SECONDS (default 5), SCALE_NETNS (default 1; 0: in the host's network namespace). Needs root for the
# namespace. Progress goes to stderr, the Markdown table to stdout.
set -euo pipefail
MESHER=${MESHER_BIN:-.build/release/mesher}
SIZES=${SCALE_SIZES:-10 1000 10000 100000}
KINDS=${SCALE_KINDS:-file etcd}
CHANGES=${SCALE_CHANGES:-200}
IDLE_SECONDS=${SCALE_IDLE_SECONDS:-10}
SYNC_TIMEOUT=${SCALE_SYNC_TIMEOUT:-120}
D=${BENCH_SECONDS:-5}
PY=/usr/bin/python3
HELPER=$(cd "$(dirname "$0")" && pwd)/scale/registry.py
HZ=$(getconf CLK_TCK)
CORES=$(nproc)
PREFIX=/mesher/

say() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() { say "$*"; exit 2; }

for n in $SIZES; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "SCALE_SIZES: '$n' is not a number of instances"
    # 198.18.0.0/15 holds 131,070 fake instances; above 10, 10 per service.
    [ "$n" -le 131000 ] || die "SCALE_SIZES: at most 131000 instances"
    [ "$n" -le 10 ] || [ $((n % 10)) -eq 0 ] || die "SCALE_SIZES: '$n': above 10, a multiple of 10"
done
for kind in $KINDS; do
    case $kind in file | etcd) ;; *) die "SCALE_KINDS: file and/or etcd, not '$kind'" ;; esac
done
for value in "$CHANGES" "$IDLE_SECONDS" "$SYNC_TIMEOUT" "$D"; do
    [[ $value =~ ^[1-9][0-9]*$ ]] || die "SCALE_CHANGES, SCALE_IDLE_SECONDS, SCALE_SYNC_TIMEOUT, BENCH_SECONDS: whole numbers from 1"
done
[ -x "$MESHER" ] || die "no mesher binary at $MESHER (make release)"
MESHER=$(cd "$(dirname "$MESHER")" && pwd)/$(basename "$MESHER")
[ -x "$PY" ] || die "missing $PY"
command -v curl >/dev/null || die "missing curl (apt-get install curl)"
case " $KINDS " in *" etcd "*) command -v etcd >/dev/null || die "missing etcd (apt-get install etcd-server)" ;; esac
HAVE_WRK=1
command -v wrk >/dev/null || { HAVE_WRK=0; say "no wrk (apt-get install wrk): no routing latency columns"; }


# Everything runs in a network namespace of its own with loopback only (as root; SCALE_NETNS=0 to stay in the
# host's): no port can clash with anything on the host, and a name Mesher does not know (a new service before it
# is registered) fails to resolve at once, where the host's DNS would add its lookups, and now and then a
# resolver timeout of seconds, to the change→use figures.
if [ -z "${SCALE_IN_NETNS:-}" ] && [ "${SCALE_NETNS:-1}" = 1 ]; then
    if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then
        export SCALE_IN_NETNS=1
        exec unshare --net -- "$0" "$@"
    fi
    say "not root: in the host's network namespace (unknown names go to its DNS: change→use may be slowed)"
fi
[ -z "${SCALE_IN_NETNS:-}" ] || ip link set lo up

HERE=$(mktemp -d /tmp/mscale.XXXX)
chmod 755 "$HERE"
DONE=0
# Stops one process we started (its pid file): SIGTERM, up to 5 s, then SIGKILL.
stop() {
    local file=$HERE/$1.pid pid state
    [ -e "$file" ] || return 0
    pid=$(cat "$file")
    rm -f "$file"
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do
        # Our own child stays a zombie until waited for.
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
        [ "$state" = gone ] || [ "$state" = Z ] && break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    set +e
    trap - EXIT INT TERM
    for f in "$HERE"/*.pid; do [ -e "$f" ] && stop "$(basename "$f" .pid)"; done
    if [ "$DONE" = 0 ] && [ -s "$HERE/results" ]; then
        say "stopped early; the rows so far:"
        table >&2
    fi
    rm -rf "$HERE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Mesher's CPU so far in clock ticks, all threads (utime + stime); the fields after the command's parentheses.
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
now() { date +%s.%N; }
alive() { [ -e "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat")" != Z ]; }
# Free loopback ports (the kernel's choice; nothing else binds them between here and their use, on a quiet host).
ports() { "$PY" "$HELPER" ports "$1"; }
port_free() { ! ss -ltnH "sport = :$1" | grep -q .; }

# wrk: "rps p50ms p99ms errors" (errors: non-2xx and socket errors, 0 when none).
wrkrun() {
    wrk -t"$CORES" -c8 -d"${D}s" --latency "$@" 2>&1 | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /[0-9]s$/) return v * 1000
                         if (v ~ /m$/) return v * 60000; return v + 0 }
        /Requests\/sec/ {r = $2} /^ +50%/ {p50 = ms($2)} /^ +99%/ {p99 = ms($2)}
        /Non-2xx/ {e += $NF} /Socket errors/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10}
        END {if (r == "") print "- - - -"; else printf "%.0f %.2f %.2f %d\n", r, p50, p99, e}'
}

# The backend: nginx (one worker) serving 1 KiB, else the helper's Python server.
head -c 768 /dev/urandom | base64 -w0 >"$HERE/1k"
chmod 644 "$HERE/1k"
read -r BACKEND < <(ports 1)
if command -v nginx >/dev/null; then
    cat >"$HERE/nginx.conf" <<NG
worker_processes 1; daemon off; pid $HERE/nginx.pidfile; error_log /dev/null;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:$BACKEND backlog=4096; root $HERE; location / { try_files /1k =404; } } }
NG
    nginx -e /dev/null -c "$HERE/nginx.conf" >"$HERE/backend.log" 2>&1 &
    BACKEND_KIND=nginx
else
    "$PY" "$HELPER" serve "$BACKEND" "$HERE/1k" >"$HERE/backend.log" 2>&1 &
    BACKEND_KIND="python http.server"
fi
echo $! >"$HERE/backend.pid"
for _ in $(seq 100); do curl -fso /dev/null "http://127.0.0.1:$BACKEND/" && break; sleep 0.1; done
curl -fso /dev/null "http://127.0.0.1:$BACKEND/" || { cat "$HERE/backend.log" >&2; die "the backend did not start"; }
say "backend: $BACKEND_KIND on 127.0.0.1:$BACKEND; mesher: $MESHER"

ETCD_PORT=23799
ETCD_PEER_PORT=23800
if ! port_free "$ETCD_PORT" || ! port_free "$ETCD_PEER_PORT"; then
    { read -r ETCD_PORT; read -r ETCD_PEER_PORT; } < <(ports 2)
fi
ETCD_URL=http://127.0.0.1:$ETCD_PORT
ETCD_PEER=http://127.0.0.1:$ETCD_PEER_PORT
# A fresh etcd (its own data directory) for each row.
start_etcd() {
    etcd --name scale --data-dir "$1" --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
        --listen-peer-urls "$ETCD_PEER" --initial-advertise-peer-urls "$ETCD_PEER" --initial-cluster "scale=$ETCD_PEER" \
        --quota-backend-bytes $((8 << 30)) --logger zap --log-level error >"$HERE/etcd.log" 2>&1 &
    echo $! >"$HERE/etcd.pid"
    for _ in $(seq 150); do
        curl -fs "$ETCD_URL/health" 2>/dev/null | grep -q '"true"' && return 0
        alive "$(cat "$HERE/etcd.pid")" || break
        sleep 0.1
    done
    cat "$HERE/etcd.log" >&2
    die "etcd did not start on $ETCD_URL"
}

# results: kind size services sync idle% rss change(median/max) cpu-per-change rps p50 p99 (- when not measured)
: >"$HERE/results"
direct_row() {
    local kind=$1 out
    [ "$HAVE_WRK" = 1 ] || return 0
    say "$kind: direct to the backend (wrk, ${D}s)"
    out=$(wrkrun "http://127.0.0.1:$BACKEND/")
    read -r rps p50 p99 errors <<<"$out"
    [ "$errors" = 0 ] || say "  direct: $errors errors"
    echo "$kind direct - - - - - - $rps $p50 $p99" >>"$HERE/results"
}

row() {
    local kind=$1 n=$2 services per dir registry where pid since sync idle rss change cpu rps p50 p99 started=$SECONDS
    local changes_var="SCALE_CHANGES_${kind}_${n}" changes
    changes=${!changes_var:-$CHANGES}
    if [ "$n" -le 10 ]; then services=$n per=1; else services=$((n / 10)) per=10; fi
    dir=$HERE/$kind-$n
    mkdir -p "$dir"
    say "$kind $n: $services services of $per instance(s), and benchtarget"
    local t0=$SECONDS
    if [ "$kind" = file ]; then
        mkdir "$dir/registry"
        "$PY" "$HELPER" files "$dir/registry" "$services" "$per" "$BACKEND"
        registry="{kind: file, directory: \"$dir/registry\"}"
        where=$dir/registry
    else
        start_etcd "$dir/etcd"
        "$PY" "$HELPER" etcd-load "$ETCD_URL" "$PREFIX" "$services" "$per" "$BACKEND"
        registry="{kind: etcd, endpoints: [\"$ETCD_URL\"], prefix: \"$PREFIX\"}"
        where=$ETCD_URL,$PREFIX
    fi
    say "  registry written in $((SECONDS - t0)) s"
    local outbound inbound dns proxy admin
    { read -r outbound; read -r inbound; read -r dns; read -r proxy; read -r admin; } < <(ports 5)
    # Every port set: none of a Mesher on the default ones (15001, 15006, 15053, 30101, 15000) is touched.
    cat >"$dir/mesher.yaml" <<YAML
registry: $registry
outbound: {port: $outbound, addresses: [127.0.0.1]}
inbound: {enabled: false, port: $inbound, addresses: [127.0.0.1]}
dns: {enabled: false, port: $dns, addresses: [127.0.0.1]}
explicitProxy: {enabled: true, address: 127.0.0.1, port: $proxy}
admin: {enabled: true, address: 127.0.0.1, port: $admin}
log: {level: warning}
drainTimeout: 1s
YAML
    since=$(now)
    "$MESHER" run --config "$dir/mesher.yaml" >"$dir/mesher.log" 2>&1 &
    pid=$!
    echo "$pid" >"$HERE/mesher.pid"
    sync=$("$PY" "$HELPER" wait-route "127.0.0.1:$proxy" benchtarget "$since" "$SYNC_TIMEOUT") || sync=""
    if ! alive "$pid"; then
        tail -5 "$dir/mesher.log" >&2
        say "  mesher exited"
        echo "$kind $n $services exited - - - - - - -" >>"$HERE/results"
        stop mesher
        [ "$kind" = etcd ] && stop etcd
        return 0
    fi
    if [ -z "$sync" ]; then
        say "  benchtarget not routed within ${SYNC_TIMEOUT}s (/ready: $(curl -s -o /dev/null -w '%{http_code}' \
            "http://127.0.0.1:$admin/ready")); mesher's log:"
        # Not the lines about the polling requests themselves (benchtarget unknown: passed through, not resolved).
        grep -v -e 'connection limit lowered' -e 'request not forwarded' "$dir/mesher.log" | tail -3 | cut -c1-300 >&2
        sync=">$SYNC_TIMEOUT"
    else
        say "  routed after $sync s (/ready: $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/ready"))"
    fi
    sleep 1
    local c0 c1 w0 w1
    c0=$(ticks "$pid")
    w0=$(now)
    sleep "$IDLE_SECONDS"
    c1=$(ticks "$pid")
    w1=$(now)
    # Ticks per second when idle; as % of one core.
    local rate
    rate=$(awk -v a="$c0" -v b="$c1" -v s="$w0" -v e="$w1" 'BEGIN {printf "%.4f", (b - a) / (e - s)}')
    idle=$(awk -v r="$rate" -v hz="$HZ" 'BEGIN {printf "%.1f", 100 * r / hz}')
    rss=$(rss_mib "$pid")
    say "  idle CPU $idle % over ${IDLE_SECONDS}s, RSS $rss MiB"
    change=- cpu=- rps=- p50=- p99=-
    if [[ $sync != ">"* ]]; then
        say "  10 new services, each until routed"
        read -r median max timeouts < <("$PY" "$HELPER" change-latency "$kind" "$where" "127.0.0.1:$proxy" "$BACKEND" 10 10)
        change="$median/$max"
        [ "$timeouts" = 0 ] || change="$change($timeouts>10s)"
        say "  change→use: median $median ms, max $max ms"
        say "  $changes updates of svc-000000, one every 20 ms"
        c0=$(ticks "$pid")
        w0=$(now)
        read -r took marked < <("$PY" "$HELPER" churn "$kind" "$where" 0 "$per" "$changes" 0.02 "127.0.0.1:$proxy" "$BACKEND")
        c1=$(ticks "$pid")
        w1=$(now)
        cpu=$(awk -v a="$c0" -v b="$c1" -v s="$w0" -v e="$w1" -v r="$rate" -v hz="$HZ" -v n="$changes" \
            'BEGIN {printf "%.2f", ((b - a) - r * (e - s)) / hz * 1000 / n}')
        say "  CPU per change $cpu ms (updates took $took s, then $marked s until the mark routed; $((c1 - c0)) ticks)"
        if [ "$HAVE_WRK" = 1 ]; then
            local out errors
            out=$(wrkrun -H 'Host: benchtarget' "http://127.0.0.1:$proxy/")
            read -r rps p50 p99 errors <<<"$out"
            [ "$errors" = 0 ] || { say "  wrk: $errors errors"; rps="$rps($errors errors)"; }
            say "  routing: $rps rps, p50 $p50 ms, p99 $p99 ms"
        fi
    fi
    echo "$kind $n $services $sync $idle $rss $change $cpu $rps $p50 $p99" >>"$HERE/results"
    stop mesher
    [ "$kind" = etcd ] && stop etcd
    rm -rf "$dir"
    say "  $kind $n done in $((SECONDS - started)) s"
}

table() {
    awk '
        {kind[NR] = $1; size[NR] = $2; line[NR] = $0; if ($2 == 10) base[$1] = $10}
        END {
            print "| registry | instances | services | sync s | idle CPU % | RSS MiB | change→use ms (median/max) | CPU per change ms | rps | p50 ms | p99 ms | latency vs 10-service |"
            print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            for (i = 1; i <= NR; i++) {
                split(line[i], f, " ")
                ratio = "-"
                if (f[2] != "direct" && f[10] != "-" && base[f[1]] != "" && base[f[1]] != "-" && base[f[1]] > 0)
                    ratio = sprintf("%.2f", f[10] / base[f[1]])
                instances = f[2] == "direct" ? "direct (no Mesher)" : f[2]
                printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                    f[1], instances, f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], ratio
            }
        }' "$HERE/results"
}

for kind in $KINDS; do
    direct_row "$kind"
    for n in $SIZES; do row "$kind" "$n"; done
done
DONE=1
echo "# Mesher with large registries: $(basename "$MESHER"), $CORES cores, idle ${IDLE_SECONDS}s, wrk -c8 -t$CORES ${D}s, backend $BACKEND_KIND"
table
