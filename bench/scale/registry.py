#!/usr/bin/python3
"""Registry side of bench/scale-bench.sh (python3 standard library only).

Subcommands:
  ports N                      N free loopback TCP ports, one a line
  files DIR S P BACKEND        registry files: S services svc-000000.. of P fake instances each (198.18.0.0/15,
                               port 8080, never connected to), one file per service, plus benchtarget.yaml
                               (127.0.0.1:BACKEND)
  etcd-load URL PREFIX S P BACKEND
                               the same as etcd keys <PREFIX>services/<service>/<address>:<port>, JSON values
                               as Mesher writes them, 100 puts per txn over one keep-alive connection
  wait-route PROXY HOST SINCE TIMEOUT
                               polls http://HOST/ through the explicit proxy PROXY (host:port) until a 200;
                               prints the seconds since SINCE (unix time), exits 1 after TIMEOUT seconds
  change-latency KIND WHERE PROXY BACKEND COUNT TIMEOUT
                               COUNT times: adds service newsvc-K (KIND file: a new file in directory WHERE;
                               etcd: a new key, WHERE = URL,PREFIX) whose instance is 127.0.0.1:BACKEND, then
                               requests http://newsvc-K/ through PROXY every 2 ms until a 200 (at most TIMEOUT
                               s); prints "median max timeouts" in ms, each sample on stderr
  churn KIND WHERE SERVICE P COUNT INTERVAL PROXY BACKEND
                               COUNT updates of SERVICE (its P fake instances, a new version tag each time) every
                               INTERVAL s; then adds service churnmark whose instance is the backend and waits
                               until it routes (polled every 50 ms, at most 120 s): by then Mesher has taken in
                               every update. Prints the seconds the updates took and the seconds until the mark
                               routed
  serve PORT FILE              HTTP/1.1 server answering every GET with FILE (when nginx is missing)
"""

import base64
import http.client
import http.server
import json
import os
import random
import socket
import statistics
import sys
import time

FAKE_PORT = 8080


def fake_address(index):
    """The index-th address of 198.18.0.0/15 (index from 1): enough for 131,070 instances."""
    return "198.%d.%d.%d" % (18 + (index >> 16), (index >> 8) & 255, index & 255)


def service_name(number):
    return "svc-%06d" % number


def instances(service, per, version=None):
    """The fake instances of service number `service`: (address, port, version)."""
    return [(fake_address(service * per + k + 1), FAKE_PORT, version) for k in range(per)]


def yaml_file(name, entries):
    lines = ["services:", "  %s:" % name]
    for address, port, version in entries:
        extra = ", version: %s" % version if version else ""
        lines.append("    - {address: %s, port: %d%s}" % (address, port, extra))
    return "\n".join(lines) + "\n"


def write_atomically(directory, name, text):
    """temp file (not .yaml: the registry skips it) then rename, as a deploy tool writes."""
    temp = os.path.join(directory, ".%s.tmp" % name)
    with open(temp, "w") as f:
        f.write(text)
    os.rename(temp, os.path.join(directory, name))


def record(service, address, port, version=None):
    """An etcd value as Mesher writes it (InstanceRecord: nil fields left out, status always there)."""
    value = {"service": service, "address": address, "port": port}
    if version:
        value["version"] = version
    value["status"] = "up"
    return json.dumps(value, separators=(",", ":"))


def b64(text):
    return base64.b64encode(text.encode()).decode()


class Etcd:
    """etcd's JSON gateway over one keep-alive connection."""

    def __init__(self, url, prefix):
        host, port = url.split("://", 1)[1].rstrip("/").rsplit(":", 1)
        self.address = (host, int(port))
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.connection = None

    def call(self, path, body):
        for attempt in range(3):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(*self.address, timeout=30)
                self.connection.request("POST", path, json.dumps(body), {"content-type": "application/json"})
                reply = self.connection.getresponse()
                data = reply.read()
                if reply.status != 200:
                    raise RuntimeError("etcd %s: HTTP %d %s" % (path, reply.status, data[:200]))
                return json.loads(data)
            except (OSError, http.client.HTTPException):
                self.connection = None
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def key(self, service, address, port):
        return "%sservices/%s/%s:%d" % (self.prefix, service, address, port)

    def put_all(self, pairs):
        """(key, value) pairs, 100 per txn (etcd's --max-txn-ops is 128)."""
        for start in range(0, len(pairs), 100):
            ops = [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in pairs[start : start + 100]]
            self.call("/v3/kv/txn", {"success": ops})

    def put(self, key, value):
        self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})


class Registry:
    """Adds and updates services in a file directory or in etcd."""

    def __init__(self, kind, where):
        self.kind = kind
        if kind == "file":
            self.directory = where
        elif kind == "etcd":
            url, prefix = where.split(",", 1)
            self.etcd = Etcd(url, prefix)
        else:
            raise SystemExit("kind: file or etcd")

    def add(self, name, address, port):
        if self.kind == "file":
            write_atomically(self.directory, name + ".yaml", yaml_file(name, [(address, port, None)]))
        else:
            self.etcd.put(self.etcd.key(name, address, port), record(name, address, port))

    def update(self, number, per, version):
        """Service `number` with a new version tag: file, its whole file again; etcd, its first key."""
        name = service_name(number)
        if self.kind == "file":
            write_atomically(self.directory, name + ".yaml", yaml_file(name, instances(number, per, version)))
        else:
            address, port, _ = instances(number, per)[0]
            self.etcd.put(self.etcd.key(name, address, port), record(name, address, port, version))


class Prober:
    """GET http://HOST/ through the explicit proxy, on a keep-alive connection reopened when needed."""

    def __init__(self, proxy, timeout=2.0):
        host, port = proxy.rsplit(":", 1)
        self.address = (host, int(port))
        self.timeout = timeout
        self.connection = None

    def status(self, host):
        """The response's status, or None (connection refused, reset, timed out)."""
        try:
            if self.connection is None:
                self.connection = http.client.HTTPConnection(*self.address, timeout=self.timeout)
            self.connection.request("GET", "http://%s/" % host)
            reply = self.connection.getresponse()
            reply.read()
            if reply.will_close:
                self.close()
            return reply.status
        except (OSError, http.client.HTTPException):
            self.close()
            return None

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def wait(self, host, timeout, pause):
        """Seconds until a 200 for `host`, or None after `timeout`."""
        start = time.perf_counter()
        while True:
            if self.status(host) == 200:
                return time.perf_counter() - start
            if time.perf_counter() - start > timeout:
                return None
            time.sleep(pause)


def cmd_ports(count):
    sockets = []
    for _ in range(int(count)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    for s in sockets:
        print(s.getsockname()[1])
    for s in sockets:
        s.close()


def cmd_files(directory, services, per, backend):
    services, per = int(services), int(per)
    for number in range(services):
        name = service_name(number)
        with open(os.path.join(directory, name + ".yaml"), "w") as f:
            f.write(yaml_file(name, instances(number, per)))
    with open(os.path.join(directory, "benchtarget.yaml"), "w") as f:
        f.write(yaml_file("benchtarget", [("127.0.0.1", int(backend), None)]))


def cmd_etcd_load(url, prefix, services, per, backend):
    etcd = Etcd(url, prefix)
    pairs = []
    for number in range(int(services)):
        name = service_name(number)
        for address, port, _ in instances(number, int(per)):
            pairs.append((etcd.key(name, address, port), record(name, address, port)))
    pairs.append((etcd.key("benchtarget", "127.0.0.1", int(backend)), record("benchtarget", "127.0.0.1", int(backend))))
    etcd.put_all(pairs)
    reply = etcd.call("/v3/kv/range", {"key": b64(etcd.prefix), "range_end": b64(etcd.prefix[:-1] + "0"),
                                      "count_only": True})
    count = int(reply.get("count", 0))
    if count != len(pairs):
        raise SystemExit("etcd holds %d keys under %s, %d were put" % (count, etcd.prefix, len(pairs)))


def cmd_wait_route(proxy, host, since, timeout):
    # A fresh connection each time while Mesher starts; 10 ms apart.
    prober = Prober(proxy, timeout=1.0)
    deadline = time.time() + float(timeout)
    while time.time() < deadline:
        if prober.status(host) == 200:
            print("%.3f" % (time.time() - float(since)))
            return
        prober.close()
        time.sleep(0.01)
    sys.exit(1)


def cmd_change_latency(kind, where, proxy, backend, count, timeout):
    registry = Registry(kind, where)
    prober = Prober(proxy)
    samples, timeouts = [], 0
    for k in range(1, int(count) + 1):
        # A random phase against whatever period the registry is read with.
        time.sleep(0.2 + random.random() * 0.25)
        name = "newsvc-%d" % k
        start = time.perf_counter()
        registry.add(name, "127.0.0.1", int(backend))
        waited = prober.wait(name, float(timeout), 0.002)
        if waited is None:
            timeouts += 1
            waited = float(timeout)
        else:
            waited = time.perf_counter() - start
        samples.append(waited * 1000)
        print("  change %d: %.1f ms%s" % (k, samples[-1], " (timeout)" if waited >= float(timeout) else ""),
              file=sys.stderr)
    print("%.1f %.1f %d" % (statistics.median(samples), max(samples), timeouts))


def cmd_churn(kind, where, service, per, count, interval, proxy, backend):
    registry = Registry(kind, where)
    number, per, count, interval = int(service), int(per), int(count), float(interval)
    start = time.perf_counter()
    for j in range(count):
        # On a fixed schedule (no drift); every update differs from the one before (c0, c1, ...).
        delay = start + j * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        registry.update(number, per, "c%d" % j)
    updates = time.perf_counter() - start
    registry.add("churnmark", "127.0.0.1", int(backend))
    waited = Prober(proxy).wait("churnmark", 120, 0.05)
    if waited is None:
        raise SystemExit("churnmark never routed")
    print("%.3f %.3f" % (updates, waited))


def cmd_serve(port, path):
    body = open(path, "rb").read()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    server.serve_forever()


COMMANDS = {
    "ports": cmd_ports,
    "files": cmd_files,
    "etcd-load": cmd_etcd_load,
    "wait-route": cmd_wait_route,
    "change-latency": cmd_change_latency,
    "churn": cmd_churn,
    "serve": cmd_serve,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
