#!/bin/sh
# Init container entry: installs Mesher's capture rules in the pod's network namespace from MESHER_*
# environment variables (see `mesher init --help`), prints what it applied, and fails loudly without NET_ADMIN.
set -eu

mesher=${MESHER_BIN:-mesher}

# CAP_NET_ADMIN is bit 12 of the effective capability set.
caps=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if [ $(( 0x$caps >> 12 & 1 )) -ne 1 ]; then
    echo "mesher-init: CAP_NET_ADMIN missing: give this init container capabilities NET_ADMIN and NET_RAW (runAsUser 0)" >&2
    exit 1
fi

"$mesher" init "$@"

echo "mesher-init: rules in the nat table:"
iptables-save -t nat | grep -E '^(:MESHER_|-A .*MESHER_)' || true
if [ -e /proc/net/if_inet6 ] && command -v ip6tables-save >/dev/null 2>&1; then
    echo "mesher-init: IPv6 rules in the nat table:"
    ip6tables-save -t nat | grep -E '^(:MESHER_|-A .*MESHER_)' || true
fi
