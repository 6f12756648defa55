#!/usr/bin/python3
"""Stalled HTTP/2 readers:   h2stall.py HOST PORT AUTHORITY PATH CONNECTIONS STREAMS HOLD

Opens CONNECTIONS h2c connections with SETTINGS_INITIAL_WINDOW_SIZE 0 and sends STREAMS GETs of PATH on each,
then reads frames for HOLD seconds without ever opening a window (no response body can come), and closes every
connection. python3-h2. One JSON line on standard output:
  {"connections", "streams", "responses": response heads received, "resets": streams the server reset,
   "goaway": connections that got GOAWAY, "seconds"}
"""
import json
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings


def main():
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    host, port, authority, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    count, streams, hold = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
    start = time.monotonic()
    peers = []
    for _ in range(count):
        sock = socket.create_connection((host, port), timeout=10)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        for _ in range(streams):
            conn.send_headers(conn.get_next_available_stream_id(), [
                (":method", "GET"), (":scheme", "http"), (":path", path), (":authority", authority)],
                end_stream=True)
        sock.sendall(conn.data_to_send())
        sock.setblocking(False)
        peers.append((sock, conn))
    responses = resets = goaways = 0
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock for sock, _ in peers], [], [], 0.2)
        for sock, conn in peers:
            if sock not in readable:
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                peers = [peer for peer in peers if peer[0] is not sock]
                continue
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    responses += 1
                elif isinstance(event, h2.events.StreamReset):
                    resets += 1
                elif isinstance(event, h2.events.ConnectionTerminated):
                    goaways += 1
            outgoing = conn.data_to_send()
            if outgoing:
                try:
                    sock.sendall(outgoing)
                except OSError:
                    pass
    for sock, _ in peers:
        sock.close()
    print(json.dumps({"connections": count, "streams": streams, "responses": responses, "resets": resets,
                      "goaway": goaways, "seconds": round(time.monotonic() - start, 3)}), flush=True)


if __name__ == "__main__":
    main()
