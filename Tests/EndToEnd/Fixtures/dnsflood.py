#!/usr/bin/python3
"""DNS flood for the end-to-end suite.

  silent HOST: a UDP "resolver" on HOST:53 that reads every query and never answers (run in the server namespace)
  flood SERVER PORT COUNT SECONDS NAME: sends COUNT A queries for distinct names under example.test to SERVER:PORT,
      evenly over SECONDS, from 8 sockets; meanwhile every 100 ms an A query for the service NAME on a socket of
      its own, which must get an answer in 240.240.0.0/16 within one second. After the flood, one more query for
      NAME. Prints one JSON line: sent, replies, servfail, service_ok, service_total, after_flood (bool).
"""
import json
import random
import select
import socket
import struct
import sys
import time


def query(qid, name):
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return header + labels + b"\x00" + struct.pack(">HH", 1, 1)


def rcode(reply):
    return struct.unpack(">H", reply[2:4])[0] & 0xF if len(reply) >= 12 else -1


def service_address(reply):
    """The address of a one-answer A reply (the answer is the last record: our query has no EDNS)."""
    if len(reply) < 16 or rcode(reply) != 0 or struct.unpack(">H", reply[6:8])[0] < 1:
        return None
    return socket.inet_ntoa(reply[-4:])


def ask_service(server, name, qid):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    try:
        sock.sendto(query(qid, name), server)
        reply, _ = sock.recvfrom(65535)
        address = service_address(reply)
        return address is not None and address.startswith("240.240.")
    except OSError:
        return False
    finally:
        sock.close()


def flood(host, port, count, seconds, name):
    server = (host, port)
    sockets = []
    for _ in range(8):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.setblocking(False)
        sockets.append(sock)
    result = {"sent": 0, "replies": 0, "servfail": 0, "service_ok": 0, "service_total": 0}

    def drain(timeout):
        readable, _, _ = select.select(sockets, [], [], timeout)
        for sock in readable:
            while True:
                try:
                    reply = sock.recv(65535)
                except BlockingIOError:
                    break
                result["replies"] += 1
                result["servfail"] += rcode(reply) == 2

    start = time.monotonic()
    next_service = start
    burst = 20
    while result["sent"] < count:
        due = start + seconds * result["sent"] / count
        now = time.monotonic()
        if now < due:
            drain(due - now)
            continue
        for _ in range(min(burst, count - result["sent"])):
            qid = random.randrange(65536)
            sock = sockets[result["sent"] % len(sockets)]
            try:
                sock.sendto(query(qid, "n%d-%d.example.test" % (result["sent"], qid)), server)
            except BlockingIOError:
                pass
            result["sent"] += 1
        if time.monotonic() >= next_service:
            result["service_total"] += 1
            result["service_ok"] += ask_service(server, name, random.randrange(65536))
            next_service = time.monotonic() + 0.1
    # The forwarded ones are answered when their upstream times out (2 s).
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        drain(0.1)
    result["after_flood"] = ask_service(server, name, 4242)
    print(json.dumps(result), flush=True)


def silent(host):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 53))
    while True:
        sock.recv(65535)


def main(argv):
    if argv[1] == "silent":
        silent(argv[2])
    elif argv[1] == "flood":
        flood(argv[2], int(argv[3]), int(argv[4]), float(argv[5]), argv[6])


if __name__ == "__main__":
    main(sys.argv)
