#!/usr/bin/env bash
# Installs what the demo and the tests run: Debian packages (real iptables, namespaces, HTTP apps, nghttp2's
# HTTP/2 server, client and load generator), kubernetes-validate (the Kubernetes API schemas, offline) for the
# manifest tests, and grpcio in /opt/mesher-py for the HTTP/2 and gRPC tests' fixtures.
set -euo pipefail

packages=(iptables iproute2 curl python3 util-linux procps openssl etcd-server etcd-client libnetfilter-queue-dev libmnl-dev wrk nginx-light haproxy iperf3 apache2-utils python3-h11 python3-h2 pipx prometheus chromium nghttp2-client nghttp2-server python3-venv)
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

# From PyPI (Debian's python3-grpcio is 1.51, years behind the gRPC clients a mesh meets): grpcio for the gRPC
# fixtures (Tests/EndToEnd/Fixtures/grpcpeer.py), in a virtual environment of Debian's Python outside any home,
# readable by everyone: the tests run the fixtures as the app (uid 1000), which cannot use a Python in root's
# home. A manylinux wheel (CPython 3.11, x86_64): nothing is compiled.
grpcio_version=1.85.3
venv=/opt/mesher-py
if ! "$venv/bin/python" -c "import grpc, sys; sys.exit(grpc.__version__ != '$grpcio_version')" 2>/dev/null; then
    echo "installing: grpcio $grpcio_version in $venv"
    "${sudo[@]}" /usr/bin/python3 -m venv "$venv"
    "${sudo[@]}" "$venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: "grpcio==$grpcio_version"
    "${sudo[@]}" chmod -R a+rX "$venv"
fi
