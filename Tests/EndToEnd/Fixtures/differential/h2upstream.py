#!/usr/bin/python3
"""HTTP/2 responses, hostile ones among them, from an h2c-only instance (python3-h2, its outbound checks off, so
that it sends what a broken or hostile server would) to HTTP/1.1 clients through Mesher, read by h11 (a strict,
independent parser): the client reads the response as the instance meant it, or Mesher refused it (a 502, or
the response cut off, never a different message).

  h2upstream.py serve PORT CASES            the instance: GET /case/N answers case N of CASES
  h2upstream.py drive HOST PORT CASES       one line per case, then "N h2c cases, M failures"; exit 1 on a failure
"""
import json
import socket
import sys

import h2.config
import h2.connection
import h2.events
import h11

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from differential import report  # noqa: E402


def serve(port, cases):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(16)
    while True:
        sock, _ = listener.accept()
        sock.settimeout(10)
        try:
            connection(sock, cases)
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            sock.close()


def connection(sock, cases):
    config = h2.config.H2Configuration(
        client_side=False, header_encoding="utf-8", validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    while True:
        data = sock.recv(65536)
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                path = dict(event.headers).get(":path", "")
                index = int(path.rsplit("/", 1)[-1]) if path.startswith("/case/") else -1
                answer(conn, event.stream_id, cases[index] if 0 <= index < len(cases) else None)
        sock.sendall(conn.data_to_send())


def answer(conn, stream, case):
    if case is None:
        conn.send_headers(stream, [(":status", "404")], end_stream=True)
        return
    for interim in case.get("interim", []):
        conn.send_headers(stream, [tuple(pair) for pair in interim])
    body = [part.encode("latin-1") for part in case.get("data", [])]
    trailers = case.get("trailers")
    conn.send_headers(stream, [tuple(pair) for pair in case["headers"]], end_stream=not body and not trailers)
    for index, part in enumerate(body):
        conn.send_data(stream, part, end_stream=index == len(body) - 1 and not trailers)
    if trailers:
        conn.send_headers(stream, [tuple(pair) for pair in trailers], end_stream=True)


def fetch(host, port, index):
    """Case `index` as an HTTP/1.1 client reads it: (status or None, fields, body, trailers, complete)."""
    sock = socket.create_connection((host, port), timeout=5)
    client = h11.Connection(h11.CLIENT)
    sock.sendall(client.send(h11.Request(method="GET", target=f"/case/{index}", headers=[("host", "h2up")])))
    sock.sendall(client.send(h11.EndOfMessage()))
    status, fields, body, trailers, complete = None, {}, b"", {}, False
    try:
        while not complete:
            event = client.next_event()
            if event is h11.NEED_DATA:
                data = sock.recv(65536)
                client.receive_data(data)
                if not data:
                    break
            elif isinstance(event, h11.InformationalResponse):
                fields.setdefault("interim", []).append(event.status_code)
            elif isinstance(event, h11.Response):
                status = event.status_code
                fields.update({name.decode(): value.decode("latin-1") for name, value in event.headers})
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                trailers = {name.decode(): value.decode("latin-1") for name, value in event.headers}
                complete = True
    except (OSError, h11.ProtocolError) as error:
        fields["error"] = str(error)
    finally:
        sock.close()
    return status, fields, body, trailers, complete


def drive(host, port, cases):
    failures = []
    for index, case in enumerate(cases):
        status, fields, body, trailers, complete = fetch(host, port, index)
        expected = case["client"]
        problems = []
        if expected is None:
            # Refused: a 502, or cut off before the end; never a complete response of the instance's.
            if complete and status != 502:
                problems.append(f"the client read a complete {status} {body[:60]!r}")
        else:
            if not complete or status != expected["status"]:
                problems.append(f"the client got {status}, complete {complete}: {fields.get('error', '')}")
            if body != expected.get("body", "").encode("latin-1"):
                problems.append(f"the body read {body!r}")
            for name, value in expected.get("fields", {}).items():
                if fields.get(name) != value:
                    problems.append(f"field {name} read {fields.get(name)!r}, expected {value!r}")
            for name, value in expected.get("trailers", {}).items():
                if trailers.get(name) != value:
                    problems.append(f"trailer {name} read {trailers.get(name)!r}, expected {value!r}")
        print(f"h2c {index:3} {case['name']:<50} {status if status is not None else '-'}")
        failures += [f"h2c case {index} {case['name']}: {p}" for p in problems]
    return report(f"{len(cases)} h2c cases", failures)


if __name__ == "__main__":
    with open(sys.argv[-1], encoding="utf-8") as file:
        loaded = json.load(file)
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), loaded)
    else:
        sys.exit(drive(sys.argv[2], int(sys.argv[3]), loaded))
