#!/usr/bin/env bash
# Two hosts in network namespaces: a consumer app (uid 1000) calls http://AccountService:8080/ with plain
# curl and no proxy settings; `mesher init` captures its DNS and TCP, `mesher run` (uid 1337) resolves the
# name from a registry directory and balances over the provider's two instances. Removed on exit.
set -euo pipefail

mesher=${MESHER_BIN:-.build/debug/mesher}
[ "$(id -u)" -eq 0 ] || { echo "the demo creates network namespaces: run it as root" >&2; exit 1; }
[ -x "$mesher" ] || { echo "no mesher binary at $mesher: run 'make build'" >&2; exit 1; }

id=$$
app=mdemo${id}a
srv=mdemo${id}s
work=$(mktemp -d /tmp/mesher-demo.XXXX)
chmod 755 "$work"
mkdir "$work/www" "$work/www2" "$work/proxy" "$work/registry"
chown 1337:1337 "$work/proxy"
pids=()

cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$app" 2>/dev/null
    ip netns del "$srv" 2>/dev/null
    rm -rf "$work" "/etc/netns/$app"
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
ip -n "$app" route add default via 198.18.0.2
echo "AccountService instance 1 (port 8080)" > "$work/www/index.html"
echo "AccountService instance 2 (port 8081)" > "$work/www2/index.html"
ip netns exec "$srv" /usr/bin/python3 -m http.server 8080 --bind 198.18.0.2 -d "$work/www" >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$srv" /usr/bin/python3 -m http.server 8081 --bind 198.18.0.2 -d "$work/www2" >/dev/null 2>&1 &
pids+=($!)
# The app's resolver, as a pod would have it (ip netns exec bind-mounts /etc/netns/<ns>/resolv.conf).
mkdir -p "/etc/netns/$app"
echo "nameserver 198.18.0.2" > "/etc/netns/$app/resolv.conf"

step "the registry: a directory of YAML files, watched by Mesher"
cat > "$work/registry/account.yaml" <<YAML
services:
  AccountService:
    - {address: 198.18.0.2, port: 8080, version: 1.0.0}
    - {address: 198.18.0.2, port: 8081, version: 1.0.0}
YAML
cat "$work/registry/account.yaml"
echo "registry: {directory: $work/registry}" > "$work/mesher.yaml"

step "mesher init --capture-dns: capture rules in the app's namespace"
ip netns exec "$app" "$mesher" init --capture-dns
ip netns exec "$app" iptables-save -t nat | grep MESHER

step "mesher run as uid 1337, access log on"
ip netns exec "$app" setpriv --reuid 1337 --regid 1337 --clear-groups \
    "$mesher" run --config "$work/mesher.yaml" --access-log "$work/proxy/access.log" &
pids+=($!)
for _ in $(seq 100); do
    ip netns exec "$app" ss -Htln 'sport = :15001' | grep -q . && break
    sleep 0.1
done

step "the app resolves AccountService: Mesher's DNS answers with a virtual IP"
as_app getent ahostsv4 AccountService | head -1

step "the app calls http://AccountService:8080/ four times with plain curl: round robin over the instances"
for _ in 1 2 3 4; do as_app curl -sS -m 5 http://AccountService:8080/; done

step "a host that is no service goes to its original destination"
as_app curl -sS -m 5 http://198.18.0.2:8081/

step "proof: Mesher's access log and the REDIRECT rules' packet counters"
cat "$work/proxy/access.log"
ip netns exec "$app" iptables-save -c -t nat | grep -- '--to-ports'

step "mesher uninstall: the rules are gone, the app still reaches the server directly"
ip netns exec "$app" "$mesher" uninstall
ip netns exec "$app" iptables-save -t nat | grep -c MESHER || true
as_app curl -sS -m 5 http://198.18.0.2:8080/

step "done: namespaces and processes are removed"
