#!/usr/bin/python3
"""Test peers for the end-to-end suite: raw TCP servers and clients that report what they saw.

Servers (run in the server namespace):   serve HOST PORT_BASE
  PORT_BASE+0  banner: server speaks first ("220 ..."), then answers one line (like SMTP/MySQL)
  PORT_BASE+1  sink: reads to EOF, replies "<sha256> <length>"
  PORT_BASE+2  half-close: reads to EOF, then sends 32 MiB and closes
  PORT_BASE+3  hold: accepts, answers "ok\\n" to each line until EOF (for drain tests)
  PORT_BASE+4  blast: sends 64 MiB at once and closes
HTTP apps (run in the server namespace):   http HOST PORT NAME
  HTTP/1.1 keep-alive (idle connections closed after 1 s): GET answers NAME, POST answers
  "<sha256> <length>" of the body (Content-Length or chunked, Expect: 100-continue honoured),
  an Upgrade request gets 101 and then an echo of every byte.
A DNS server (UDP and TCP, in the server namespace):   dns HOST NAME IPV4
  answers A queries for NAME with IPV4, NXDOMAIN for anything else.
Clients (run as the app, print one result line):
  banner HOST PORT | bannertimes HOST PORT N: N banner exchanges one after another, the milliseconds from
    connect to banner of each | upload HOST PORT FILE | halfclose HOST PORT | hold HOST PORT SECONDS
  idle HOST PORT SECONDS: one keep-alive GET, its whole response read, then waits up to SECONDS for the
    connection to close: "<status line> | closed after S s" (S from the end of the response), or "| open"
  stall HOST PORT SECONDS: connects, reads nothing for SECONDS, then reads to EOF
  raw HOST PORT TEXT: sends TEXT (with \\r\\n escapes) at once, prints the status lines of what comes back
  upgrade HOST PORT AUTHORITY: sends an Upgrade request, then "ping" over the switched connection
  trickle HOST PORT TEXT INTERVAL COUNT: sends TEXT, then one byte every INTERVAL seconds (COUNT at most);
    prints the first line of the answer and when the connection closed ("after S s")
  capacity HOST PORT N: N keep-alive connections send a GET each; after 2 s the answered ones close and
    the rest get 10 s more, each closing once answered: "answered A of N while held; then B of N"
"""
import hashlib
import http.server
import socket
import socketserver
import sys
import threading
import time

REPLY_SIZE = 32 << 20
BLAST_SIZE = 64 << 20
CHUNK = 1 << 16


def recv_all(sock, pause=0.0):
    digest, length = hashlib.sha256(), 0
    while True:
        data = sock.recv(CHUNK)
        if not data:
            return digest.hexdigest(), length
        digest.update(data)
        length += len(data)
        if pause:
            time.sleep(pause)


def pattern(size):
    block = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    while sent < size:
        chunk = block[: min(CHUNK, size - sent)]
        sent += len(chunk)
        yield chunk


class Banner(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall(b"220 mesher-e2e ready\r\n")
        line = self.request.makefile("rb").readline()
        self.request.sendall(b"250 " + line)


class Sink(socketserver.BaseRequestHandler):
    def handle(self):
        digest, length = recv_all(self.request)
        self.request.sendall(f"{digest} {length}\n".encode())


class HalfClose(socketserver.BaseRequestHandler):
    def handle(self):
        recv_all(self.request)
        for chunk in pattern(REPLY_SIZE):
            self.request.sendall(chunk)


class Hold(socketserver.BaseRequestHandler):
    def handle(self):
        for _ in self.request.makefile("rb"):
            self.request.sendall(b"ok\n")


class Blast(socketserver.BaseRequestHandler):
    def handle(self):
        for chunk in pattern(BLAST_SIZE):
            self.request.sendall(chunk)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 1  # idle keep-alive connections are closed: the proxy's pool must cope
    name = "app"

    def log_message(self, *args):
        pass

    def reply(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.headers.get("Upgrade"):
            self.send_response(101)
            self.send_header("Upgrade", self.headers["Upgrade"])
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while data := self.connection.recv(CHUNK):
                self.connection.sendall(data)
            self.close_connection = True
            return
        forwarded = self.headers.get("X-Forwarded-For")
        hops = self.headers.get("X-Mesher-Hop")
        extra = (f" xff={forwarded}" if forwarded else "") + (f" hops={hops}" if hops else "")
        self.reply(200, f"{self.name} {self.path} host={self.headers.get('Host')}{extra}\n")

    def do_POST(self):
        digest, length = hashlib.sha256(), 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data = self.rfile.read(size)
                self.rfile.readline()
                digest.update(data)
                length += len(data)
        else:
            remaining = int(self.headers.get("Content-Length", "0"))
            while remaining:
                data = self.rfile.read(min(CHUNK, remaining))
                digest.update(data)
                length += len(data)
                remaining -= len(data)
        self.reply(200, f"{digest.hexdigest()} {length}\n")

    do_PUT = do_POST


def serve_http(host, port, name):
    App.name = name
    http.server.ThreadingHTTPServer.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = http.server.ThreadingHTTPServer((host, port), App)
    server.daemon_threads = True
    server.serve_forever()


def dns_reply(query, name, address):
    labels, i = [], 12
    while query[i]:
        labels.append(query[i + 1 : i + 1 + query[i]].decode().lower())
        i += query[i] + 1
    question = query[12 : i + 5]
    qtype = int.from_bytes(query[i + 1 : i + 3], "big")
    found = ".".join(labels) == name
    answer = b""
    if found and qtype == 1:
        answer = b"\xc0\x0c" + (1).to_bytes(2, "big") + (1).to_bytes(2, "big") + (30).to_bytes(4, "big")
        answer += (4).to_bytes(2, "big") + socket.inet_aton(address)
    flags = 0x8180 if found else 0x8183
    header = query[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + (1 if answer else 0).to_bytes(2, "big") + b"\x00\x00\x00\x00"
    return header + question + answer


def serve_dns(host, name, address):
    class DNSOverTCP(socketserver.BaseRequestHandler):
        def handle(self):
            stream = self.request.makefile("rb")
            while len(prefix := stream.read(2)) == 2:
                reply = dns_reply(stream.read(int.from_bytes(prefix, "big")), name, address)
                self.request.sendall(len(reply).to_bytes(2, "big") + reply)

    tcp = Server((host, 53), DNSOverTCP)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 53))
    while True:
        query, client = sock.recvfrom(512)
        sock.sendto(dns_reply(query, name, address), client)


def serve(host, base):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    servers = []
    for offset, handler in enumerate([Banner, Sink, HalfClose, Hold, Blast]):
        Server.address_family = family
        server = Server((host, base + offset), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


def connect(host, port):
    return socket.create_connection((host, int(port)), timeout=30)


def main(argv):
    mode = argv[1]
    if mode == "serve":
        serve(argv[2], int(argv[3]))
    elif mode == "dns":
        serve_dns(argv[2], argv[3], argv[4])
    elif mode == "http":
        serve_http(argv[2], int(argv[3]), argv[4])
    elif mode == "upgrade":
        with connect(argv[2], argv[3]) as sock:
            sock.sendall(f"GET /chat HTTP/1.1\r\nHost: {argv[4]}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n".encode())
            reader = sock.makefile("rb")
            status = reader.readline().decode().strip()
            while reader.readline() not in (b"\r\n", b""):
                pass
            sock.sendall(b"ping\n")
            print(status + " | " + reader.readline().decode().strip())
    elif mode == "banner":
        # Says nothing until the server has spoken: a sniffing proxy that waits for the client would hang.
        with connect(argv[2], argv[3]) as sock:
            reader = sock.makefile("rb")
            banner = reader.readline().decode().strip()
            sock.sendall(b"HELO mesher\r\n")
            print(banner + " | " + reader.readline().decode().strip())
    elif mode == "bannertimes":
        times = []
        for _ in range(int(argv[4])):
            start = time.monotonic()
            with connect(argv[2], argv[3]) as sock:
                reader = sock.makefile("rb")
                reader.readline()
                times.append((time.monotonic() - start) * 1000)
                sock.sendall(b"HELO mesher\r\n")
                reader.readline()
        print(" ".join(f"{t:.1f}" for t in times))
    elif mode == "upload":
        with connect(argv[2], argv[3]) as sock, open(argv[4], "rb") as source:
            while data := source.read(CHUNK):
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            print(sock.makefile("rb").readline().decode().strip())
    elif mode == "halfclose":
        with connect(argv[2], argv[3]) as sock:
            for chunk in pattern(8 << 20):
                sock.sendall(chunk)
            sock.shutdown(socket.SHUT_WR)
            # A slow reader keeps the proxy's write queue towards it full when the server's EOF arrives.
            time.sleep(0.5)
            digest, length = recv_all(sock, pause=0.001)
            expected = hashlib.sha256(b"".join(pattern(REPLY_SIZE))).hexdigest()
            print(f"{length} {'match' if digest == expected else 'mismatch'}")
    elif mode == "hold":
        with connect(argv[2], argv[3]) as sock:
            reader = sock.makefile("rb")
            deadline = time.time() + float(argv[4])
            answers = 0
            while time.time() < deadline:
                sock.sendall(b"ping\n")
                if reader.readline() == b"ok\n":
                    answers += 1
                time.sleep(0.1)
            print(f"answers {answers}")
    elif mode == "raw":
        with connect(argv[2], argv[3]) as sock:
            sock.sendall(argv[4].replace("\\r", "\r").replace("\\n", "\n").encode())
            sock.shutdown(socket.SHUT_WR)
            data = b"".join(iter(lambda: sock.recv(CHUNK), b""))
            lines = data.decode(errors="replace").splitlines()
            print(" | ".join(line for line in lines if line.startswith(("HTTP/", "alpha", "beta"))))
    elif mode == "idle":
        with connect(argv[2], argv[3]) as sock:
            sock.sendall(f"GET /hello.txt HTTP/1.1\r\nHost: {argv[2]}:{argv[3]}\r\n\r\n".encode())
            reader = sock.makefile("rb")
            status = reader.readline().decode().strip()
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            reader.read(length)
            answered = time.time()
            sock.settimeout(float(argv[4]))
            try:
                closed = reader.read(1) == b""
            except (socket.timeout, OSError):
                closed = False
            print(f"{status} | closed after {time.time() - answered:.1f} s" if closed else f"{status} | open")
    elif mode == "trickle":
        with connect(argv[2], argv[3]) as sock:
            started = time.time()
            sock.sendall(argv[4].replace("\\r", "\r").replace("\\n", "\n").encode())
            sock.settimeout(float(argv[5]))
            data = b""
            for _ in range(int(argv[6])):
                try:
                    chunk = sock.recv(CHUNK)
                    if not chunk:
                        break
                    data += chunk
                except socket.timeout:
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        break
                except OSError:
                    break
            first = data.split(b"\r\n", 1)[0].decode(errors="replace")
            print(f"{first} after {time.time() - started:.1f} s")
    elif mode == "capacity":
        count = int(argv[4])
        socks = [connect(argv[2], argv[3]) for _ in range(count)]
        for sock in socks:
            sock.sendall(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.setblocking(False)

        def answered(pending, seconds, close=False):
            done = set()
            deadline = time.time() + seconds
            while time.time() < deadline and len(done) < len(pending):
                for index, sock in enumerate(pending):
                    if index in done:
                        continue
                    try:
                        if sock.recv(CHUNK):
                            done.add(index)
                            if close:
                                sock.close()
                    except BlockingIOError:
                        pass
                    except OSError:
                        done.add(index)
                time.sleep(0.05)
            return done

        first = answered(socks, 2)
        for index in first:
            socks[index].close()
        rest = [sock for index, sock in enumerate(socks) if index not in first]
        later = answered(rest, 10, close=True)
        print(f"answered {len(first)} of {count} while held; then {len(first) + len(later)} of {count}")
    elif mode == "stall":
        with connect(argv[2], argv[3]) as sock:
            time.sleep(float(argv[4]))
            print(recv_all(sock)[1])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
