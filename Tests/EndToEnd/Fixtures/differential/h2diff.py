#!/usr/bin/python3
"""HTTP/2 requests through Mesher to an HTTP/1 instance (`protocol: http1`) that parses with h11: what the client
sent on its stream is what h11 reads (method, target, body, the fields named), or Mesher refused it (a 400 or a
reset stream) and h11 read nothing. Each case on a connection of its own, from python3-h2 with its outbound checks
off, so that it sends what a hostile client would.

  h2diff.py HOST PORT CASES RECORD      one line per case, then "N h2 cases, M failures"; exit 1 on a failure
"""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from differential import Tail, field_problems, report, settle  # noqa: E402


def send(host, port, case, limit=5.0):
    """The case on one stream: the response's status (None when the stream was reset), and its body."""
    config = h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False,
        normalize_outbound_headers=False, validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    sock = socket.create_connection((host, port), timeout=limit)
    conn.initiate_connection()
    body = [part.encode("latin-1") for part in case.get("body", [])]
    trailers = case.get("trailers")
    conn.send_headers(1, [tuple(pair) for pair in case["headers"]], end_stream=not body and not trailers)
    for index, part in enumerate(body):
        conn.send_data(1, part, end_stream=index == len(body) - 1 and not trailers)
    if trailers:
        conn.send_headers(1, [tuple(pair) for pair in trailers], end_stream=True)
    sock.sendall(conn.data_to_send())
    status, answer, deadline = None, bytearray(), time.time() + limit
    try:
        while time.time() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers).get(":status", "0"))
                elif isinstance(event, h2.events.DataReceived):
                    answer += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    deadline = 0
            sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        pass
    finally:
        sock.close()
    return status, bytes(answer)


def main(host, port, cases_path, record_path):
    with open(cases_path, encoding="utf-8") as file:
        cases = json.load(file)
    records = Tail(record_path)
    settle(records)
    failures = []
    for index, case in enumerate(cases):
        status, answer = send(host, port, case)
        new_records = settle(records)[0]
        problems = []
        expected = case["upstream"]
        if expected is None:
            # Refused: a 400 or a reset stream (or the status a route rule answers), and nothing h11 read.
            if status not in ((case["status"],) if "status" in case else (None, 400)):
                problems.append(f"the client got {status}, not a refusal")
            complete = [r for r in new_records if "error" not in r]
            if complete:
                problems.append(f"the upstream read {complete}")
        else:
            if status != 200:
                problems.append(f"the client got {status} {answer[:80]!r}")
            parsed = [r for r in new_records if "error" not in r]
            if len(parsed) != 1 or len(parsed) != len(new_records):
                problems.append(f"the upstream read {new_records}")
            for record in parsed:
                for key in ("method", "target", "body"):
                    if record[key] != expected[key]:
                        problems.append(f"the upstream read {key} {record[key]!r}, expected {expected[key]!r}")
                problems += field_problems(record, expected.get("headers", {}))
        print(f"h2 {index:3} {case['name']:<50} {status if status is not None else 'reset'}")
        failures += [f"h2 case {index} {case['name']}: {p}" for p in problems]
    return report(f"{len(cases)} h2 cases", failures)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
