#!/usr/bin/env bash
# Two hosts in network namespaces: an app (uid 1000) calls a server with plain curl, no proxy settings;
# `mesher init` captures the call and `mesher run` (uid 1337) relays it. Everything is removed on exit.
set -euo pipefail

mesher=${MESHER_BIN:-.build/debug/mesher}
[ "$(id -u)" -eq 0 ] || { echo "the demo creates network namespaces: run it as root" >&2; exit 1; }
[ -x "$mesher" ] || { echo "no mesher binary at $mesher: run 'make build'" >&2; exit 1; }

id=$$
app=mdemo${id}a
srv=mdemo${id}s
work=$(mktemp -d /tmp/mesher-demo.XXXX)
chmod 755 "$work"
mkdir "$work/www" "$work/proxy"
chown 1337:1337 "$work/proxy"
pids=()

cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$app" 2>/dev/null
    ip netns del "$srv" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
as_app() { ip netns exec "$app" setpriv --reuid 1000 --regid 1000 --clear-groups "$@"; }

step "two hosts: app 198.18.0.1 and server 198.18.0.2 (network namespaces joined by a veth pair)"
ip netns add "$app"
ip netns add "$srv"
ip link add "md${id}a" type veth peer name "md${id}s"
ip link set "md${id}a" netns "$app"
ip link set "md${id}s" netns "$srv"
ip -n "$app" addr add 198.18.0.1/24 dev "md${id}a"
ip -n "$srv" addr add 198.18.0.2/24 dev "md${id}s"
for ns in "$app" "$srv"; do ip -n "$ns" link set lo up; done
ip -n "$app" link set "md${id}a" up
ip -n "$srv" link set "md${id}s" up
echo "hello from the server, relayed by Mesher" > "$work/www/index.html"
ip netns exec "$srv" /usr/bin/python3 -m http.server 8080 --bind 198.18.0.2 -d "$work/www" >/dev/null 2>&1 &
pids+=($!)

step "mesher init: capture rules in the app's namespace"
ip netns exec "$app" "$mesher" init
ip netns exec "$app" iptables-save -t nat | grep MESHER

step "mesher run as uid 1337, access log on"
ip netns exec "$app" setpriv --reuid 1337 --regid 1337 --clear-groups \
    "$mesher" run --access-log "$work/proxy/access.log" &
pids+=($!)
for _ in $(seq 100); do
    ip netns exec "$app" ss -Htln 'sport = :15001' | grep -q . && break
    sleep 0.1
done
for _ in $(seq 50); do
    as_app curl -s -o /dev/null -m 1 http://198.18.0.2:8080/ && break
    sleep 0.1
done

step "the app calls http://198.18.0.2:8080/ with plain curl"
as_app curl -sS -m 5 http://198.18.0.2:8080/

step "proof: Mesher's access log and the REDIRECT rule's packet counter"
cat "$work/proxy/access.log"
ip netns exec "$app" iptables-save -c -t nat | grep -- '--to-ports 15001'

step "mesher uninstall: the rules are gone, the app still reaches the server directly"
ip netns exec "$app" "$mesher" uninstall
ip netns exec "$app" iptables-save -t nat | grep -c MESHER || true
as_app curl -sS -m 5 http://198.18.0.2:8080/

step "done: namespaces and processes are removed"
