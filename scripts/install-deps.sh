#!/usr/bin/env bash
# Installs what the demo and the tests run: Debian packages (real iptables, namespaces, HTTP apps) and
# kubernetes-validate (the Kubernetes API schemas, offline) for the manifest tests.
set -euo pipefail

packages=(iptables iproute2 curl python3 util-linux procps openssl etcd-server etcd-client libnetfilter-queue-dev libmnl-dev wrk nginx-light haproxy iperf3 apache2-utils python3-h11 pipx prometheus chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# From PyPI (Debian has no package of it): it ships the schemas of Kubernetes 1.25 to 1.37, which
# Tests/EndToEnd/ManifestSchemaTests.swift names. pipx gives it a virtual environment of its own, as Debian's
# Python refuses system-wide pip installs, and puts the command on the PATH.
validator_version=1.37.0
if [ "$(kubernetes-validate --version 2>/dev/null || true)" != "$validator_version" ]; then
    echo "installing: kubernetes-validate $validator_version"
    "${sudo[@]}" env PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin \
        pipx install --force "kubernetes-validate==$validator_version"
fi
