#!/usr/bin/env python3
"""Differential HTTP test: what Mesher forwards must be parsed the same way by an independent strict parser.

  differential.py upstream PORT RECORD RESPONSES   h11 server: records every request it parses (JSON lines);
                                                  /respcase/N is answered with the raw bytes of response case N
  differential.py send HOST PORT TEXT [TEXT...]    sends each TEXT (\\r\\n escapes) on its own connection, one after
                                                  another; prints each whole reply as a JSON string, a line each
  differential.py drive HOST PORT REQUESTS RESPONSES RECORD ACCESS_LOG
                                                  sends every case through Mesher, then a victim request on
                                                  another connection, and checks the invariants below
  differential.py routed HOST PORT CASES RECORD  route-rule cases (service "up" with rules): each case says
                                                  the status the client gets, and the target and fields the
                                                  upstream parses (target null: nothing reaches it)

Invariants, per request case (raw bytes sent on one connection):
  - each request Mesher logged as forwarded reached the upstream, in order, with the same method, target and
    body length, and the upstream (h11) parsed it without error; the upstream parsed nothing else;
  - each request Mesher read agrees with h11's own parse of the raw bytes (method, target, body bytes);
  - a victim request on a new connection (which may get the same pooled upstream connection) gets its own
    response.
Per response case (raw bytes sent by the upstream): the client gets a well-formed response or Mesher's 502,
and the victim gets its own response: a misbehaving upstream never desynchronises the pool.
Cases are JSON lists of {"name", "raw"}: raw is text whose code points 0-255 are the bytes (latin-1); a
response case may say "method" (of the request it answers) and "close" (the upstream closes after it).
"""
import json
import socket
import sys
import threading
import time

import h11


def load(path):
    with open(path, encoding="utf-8") as file:
        cases = json.load(file)
    for case in cases:
        case["bytes"] = case["raw"].encode("latin-1")
    return cases


# --- upstream ---------------------------------------------------------------------------------------------

def serve(port, record_path, responses_path):
    responses = load(responses_path)
    lock = threading.Lock()
    record_file = open(record_path, "a", encoding="utf-8")

    def record(entry):
        with lock:
            record_file.write(json.dumps(entry) + "\n")
            record_file.flush()

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(128)
    number = 0
    while True:
        sock, _ = listener.accept()
        number += 1
        threading.Thread(target=connection, args=(sock, number, record, responses), daemon=True).start()


def connection(sock, number, record, responses):
    sock.settimeout(30)
    conn = h11.Connection(h11.SERVER)
    request, body = None, bytearray()
    try:
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as error:
                record({"conn": number, "error": str(error)})
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                return
            if event is h11.NEED_DATA:
                data = sock.recv(65536)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                request, body = event, bytearray()
                if conn.client_is_waiting_for_100_continue:
                    sock.sendall(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                target = request.target.decode("latin-1")
                record({
                    "conn": number, "method": request.method.decode("latin-1"), "target": target,
                    "body": body.decode("latin-1"),
                    "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.headers],
                })
                if target.startswith("/respcase/"):
                    # Raw bytes, then a fresh parser for whatever the connection carries next.
                    case = responses[int(target.split("/")[2])]
                    sock.sendall(case["bytes"])
                    if case.get("close"):
                        return
                    rest = conn.trailing_data[0]
                    conn = h11.Connection(h11.SERVER)
                    conn.receive_data(rest)
                    continue
                text = f"target={target} n={len(body)}".encode("latin-1")
                # A 2xx to CONNECT would switch h11 to a tunnel: declined, so that what follows stays HTTP.
                status = 405 if request.method == b"CONNECT" else 200
                out = conn.send(h11.Response(status_code=status, headers=[("content-length", str(len(text)))]))
                if request.method != b"HEAD":
                    out += conn.send(h11.Data(data=text))
                out += conn.send(h11.EndOfMessage())
                sock.sendall(out)
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                else:
                    return
    except (OSError, h11.LocalProtocolError):
        return
    finally:
        sock.close()


# --- driver -----------------------------------------------------------------------------------------------

def exchange(host, port, data, quiet=0.25, limit=5.0):
    """Sends `data`, half-closes only if asked by the caller, reads until the peer closes or goes quiet."""
    sock = socket.create_connection((host, port), timeout=limit)
    received = bytearray()
    try:
        sock.sendall(data)
        sock.settimeout(quiet)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                received += b"<RST>"
                break
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
    return bytes(received)


def without_empty_lines(data):
    """RFC 9112 §2.2: a server SHOULD ignore empty lines before a request line; h11 does not, Mesher does."""
    while data.startswith(b"\r\n"):
        data = data[2:]
    return data


def reference(raw):
    """h11's own reading of the raw request bytes: [(method, target, body)] until an error or the end."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(without_empty_lines(raw))
    parsed, request, body = [], None, bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError:
            return parsed
        if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
            return parsed
        if isinstance(event, h11.Request):
            request, body = event, bytearray()
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            parsed.append((request.method.decode("latin-1"), request.target.decode("latin-1"), bytes(body)))
            closes = any(n == b"connection" and b"close" in v.lower() for n, v in request.headers)
            if closes:
                return parsed
            # h11 keeps no HTTP/1.0 connection alive (and switches on CONNECT or Upgrade): read on afresh.
            rest = conn.trailing_data[0]
            conn = h11.Connection(h11.SERVER)
            conn.receive_data(without_empty_lines(rest))


def origin_form(target):
    """The target as Mesher sends it upstream: absolute form loses scheme and authority."""
    lower = target.lower()
    for scheme in ("http://", "https://"):
        if lower.startswith(scheme):
            rest = target[len(scheme):]
            cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0] or [len(rest)])
            path = rest[cut:]
            return path if path.startswith("/") else "/" + path
    return target


def responses_in(raw):
    """Statuses of the responses in `raw`, as an h11 client reads them, or None if they do not parse."""
    conn = h11.Connection(h11.CLIENT)
    statuses = []
    try:
        conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(raw.replace(b"<RST>", b""))
        conn.receive_data(b"")
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                statuses.append(event.status_code)
            if isinstance(event, h11.EndOfMessage) or isinstance(event, h11.ConnectionClosed) \
                    or event is h11.NEED_DATA or event is h11.PAUSED:
                return statuses
    except h11.ProtocolError:
        return None


class Tail:
    """New JSON lines of a file since the last call."""

    def __init__(self, path):
        self.path, self.offset = path, 0

    def read(self):
        try:
            with open(self.path, "rb") as file:
                file.seek(self.offset)
                data = file.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


def settle(*tails):
    """Lines of each tail once they stop growing (Mesher logs a request when its response is done)."""
    collected = [[] for _ in tails]
    quiet_since = time.monotonic()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        grew = False
        for index, tail in enumerate(tails):
            lines = tail.read()
            collected[index] += lines
            grew = grew or bool(lines)
        if grew:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.2:
            break
        time.sleep(0.05)
    return collected


def victim_ok(host, port, label):
    # Connection: close is hop-by-hop: the upstream connection stays pooled, only the client's closes.
    reply = exchange(host, port, f"GET /victim/{label} HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n".encode())
    expected = f"target=/victim/{label} n=0".encode()
    return reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\n" + expected), reply


# An upstream that saw a request body end early: Mesher refused the request midway and cut it off.
CUT_OFF = "peer closed connection without sending complete message body"
# Mesher's x-mesher-error values for a request it could not read (see HTTP1ParseError.name).
BAD_REQUEST = ("invalid-", "bare-", "obs-fold", "unsupported-", "duplicate-", "missing-", "content-length-",
               "transfer-encoding-", "header-too-large", "too-many-headers", "body-not-allowed",
               "version-not-supported", "request-timeout")


def check_requests(case, records, log, victim_label):
    problems = []
    upstream = [r for r in records if not r.get("target", "").startswith("/victim/")]
    lines = [l for l in log if "status" in l and not l.get("path", "").startswith("/victim/")]
    opaque = any(l.get("proto") == "tcp" for l in log if "result" in l)
    if opaque:
        # Not HTTP to Mesher (relayed as bytes): the upstream must not read a request out of it either.
        parsed = [r for r in upstream if "error" not in r]
        if parsed:
            problems.append(f"relayed as TCP, but the upstream read {len(parsed)} request(s): L7 bypassed")
        return problems
    # Forwarded: answered by the upstream, or sent to it and cut off by it.
    forwarded = [l for l in lines if l.get("error") in (None, "upstream-reset", "upstream-protocol-error")]
    refused_midway = [l for l in lines if "error" in l and l.get("method", "-") != "-"]
    errors = [r for r in upstream if "error" in r and not (refused_midway and CUT_OFF in r["error"])]
    if errors:
        problems.append(f"upstream could not parse what Mesher forwarded: {errors[0]['error']}")
    parsed = [r for r in upstream if "error" not in r]
    if len(parsed) != len(forwarded):
        problems.append(f"Mesher forwarded {len(forwarded)} request(s), the upstream parsed {len(parsed)}")
    for line, record in zip(forwarded, parsed):
        if (line["method"], origin_form(line["path"]), line["up"]) != \
                (record["method"], record["target"], len(record["body"])):
            problems.append(f"Mesher logged {line['method']} {line['path']} body {line['up']}, "
                            f"the upstream parsed {record['method']} {record['target']} body {len(record['body'])}")
    expected = reference(case["bytes"])
    # Requests Mesher read whole: refused ones (a body that broke its framing) are not compared.
    read = [l for l in lines if l.get("method", "-") != "-" and not l.get("error", "").startswith(BAD_REQUEST)]
    if len(read) > len(expected):
        problems.append(f"Mesher read {len(read)} request(s) where h11 reads {len(expected)}")
    for line, (method, target, _) in zip(read, expected):
        if (line["method"], line["path"]) != (method, target):
            problems.append(f"Mesher read {line['method']} {line['path']}, h11 reads {method} {target}")
    for record, line in zip(parsed, forwarded):
        index = read.index(line) if line in read else -1
        if 0 <= index < len(expected) and record["body"].encode("latin-1") != expected[index][2]:
            problems.append(f"body of {record['target']} differs from h11's reading")
    return problems


def drive(host, port, requests_path, responses_path, record_path, access_log):
    requests, responses = load(requests_path), load(responses_path)
    records, log = Tail(record_path), Tail(access_log)
    settle(records, log)
    failures, results = [], []
    for index, case in enumerate(requests):
        reply = exchange(host, port, case["bytes"])
        ok, victim = victim_ok(host, port, f"q{index}")
        new_records, new_log = settle(records, log)
        problems = check_requests(case, new_records, new_log, f"q{index}")
        if not ok:
            problems.append(f"the victim got someone else's answer: {victim[:160]!r}")
        status = reply.split(b"\r\n", 1)[0].decode("latin-1")
        results.append(f"request {index:3} {case['name']:<45} {status or '(no answer)'}")
        failures += [f"request case {index} {case['name']}: {p}" for p in problems]
    for index, case in enumerate(responses):
        method = case.get("method", "GET")
        reply = exchange(host, port, f"{method} /respcase/{index} HTTP/1.1\r\nHost: up\r\n\r\n".encode())
        ok, victim = victim_ok(host, port, f"r{index}")
        new_records, _ = settle(records, log)
        problems = []
        if not ok:
            problems.append(f"the victim got someone else's answer: {victim[:160]!r}")
        extra = [r for r in new_records if not r.get("target", "").startswith(("/victim/", "/respcase/"))]
        if extra:
            problems.append(f"the upstream saw requests nobody sent: {extra}")
        # A pooled connection closed before any answer: an idempotent request goes once more, a POST never.
        arrivals = len([r for r in new_records if r.get("target") == f"/respcase/{index}"])
        if "arrivals" in case and arrivals != case["arrivals"]:
            problems.append(f"the request arrived {arrivals} time(s), not {case['arrivals']}")
        # A response cut off midway ends in a reset: the client knows it is broken.
        cut_off = reply.endswith(b"<RST>")
        if not reply.startswith(b"HTTP/1.1 502 ") and not cut_off and method != "HEAD" \
                and responses_in(reply) is None:
            problems.append(f"the client got a malformed response: {reply[:160]!r}")
        status = reply.split(b"\r\n", 1)[0].decode("latin-1")
        results.append(f"response {index:2} {case['name']:<45} {status or '(no answer)'}")
        failures += [f"response case {index} {case['name']}: {p}" for p in problems]
    print("\n".join(results))
    return report(f"{len(requests)} request cases, {len(responses)} response cases", failures)


def field_problems(record, expected):
    """Where the fields the upstream parsed differ from `expected` (name: the one value, or None for absent)."""
    fields = {}
    for name, value in record["headers"]:
        fields.setdefault(name.lower(), []).append(value)
    return [f"the upstream got {name}: {fields.get(name)}, expected {value}"
            for name, value in expected.items() if fields.get(name) != (None if value is None else [value])]


def routed(host, port, cases_path, record_path):
    """Route rules read the path as the app will: each case's answer, and what h11 parses upstream."""
    cases, records = load(cases_path), Tail(record_path)
    settle(records)
    failures = []
    for index, case in enumerate(cases):
        reply = exchange(host, port, case["bytes"])
        ok, victim = victim_ok(host, port, f"routed{index}")
        new_records = [r for r in settle(records)[0] if not r.get("target", "").startswith("/victim/")]
        problems = [] if ok else [f"the victim got someone else's answer: {victim[:160]!r}"]
        status = reply.split(b"\r\n", 1)[0].decode("latin-1")
        if not status.startswith(f"HTTP/1.1 {case['status']} "):
            problems.append(f"the client got {status!r}, not {case['status']}")
        parsed = [r for r in new_records if "error" not in r]
        if len(parsed) != len(new_records):
            problems.append(f"the upstream could not parse what Mesher forwarded: {new_records}")
        expected = [] if case["target"] is None else [case["target"]]
        if [r["target"] for r in parsed] != expected:
            problems.append(f"the upstream parsed {[r['target'] for r in parsed]}, expected {expected}")
        for record in parsed:
            problems += field_problems(record, case.get("headers", {}))
        print(f"routed {index:3} {case['name']:<45} {status or '(no answer)'}")
        failures += [f"routed case {index} {case['name']}: {p}" for p in problems]
    return report(f"{len(cases)} routed cases", failures)


def report(counted, failures):
    """The run's last lines: what was counted and how many failed, then each failure; the exit status."""
    print(f"{counted}, {len(failures)} failures")
    for failure in failures:
        print("FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "drive":
        sys.exit(drive(sys.argv[2], int(sys.argv[3]), *sys.argv[4:8]))
    elif sys.argv[1] == "routed":
        sys.exit(routed(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
    elif sys.argv[1] == "send":
        for text in sys.argv[4:]:
            data = text.encode("latin-1").decode("unicode_escape").encode("latin-1")
            print(json.dumps(exchange(sys.argv[2], int(sys.argv[3]), data).decode("latin-1")))
    elif sys.argv[1] == "reference":
        print(reference(load(sys.argv[2])[int(sys.argv[3])]["bytes"]))
