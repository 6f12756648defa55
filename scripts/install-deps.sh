#!/usr/bin/env bash
# Installs the Debian packages that the demo and the tests run (real iptables, namespaces, HTTP apps).
set -euo pipefail

packages=(iptables iproute2 curl python3 util-linux procps openssl etcd-server etcd-client libnetfilter-queue-dev libmnl-dev wrk nginx-light haproxy iperf3 apache2-utils python3-h11)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "installing: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
