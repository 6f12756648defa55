#!/usr/bin/python3
"""An HTTP/1.1 keep-alive app for the traffic-management tests:   echo HOST PORT NAME
Every request is answered 200 with one JSON line: the app's NAME, the path it got, its header fields
(names lowercased). Each request is also printed as "request <path>" to standard output.
Query parameters: sleep=MS waits that long first; fail=NAME answers 500 when NAME is this app's."""
import http.server
import json
import sys
import time
import urllib.parse


class Echo(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One response is two writes (head, body): without this, Nagle holds the body for the delayed ACK.
    disable_nagle_algorithm = True

    def answer(self):
        length = int(self.headers.get("Content-Length", "0"))
        if length:
            self.rfile.read(length)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if "sleep" in query:
            time.sleep(int(query["sleep"][0]) / 1000)
        status = 500 if sys.argv[3] in query.get("fail", []) else 200
        body = json.dumps({
            "name": sys.argv[3], "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        print("request", self.path, flush=True)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


Server((sys.argv[1], int(sys.argv[2])), Echo).serve_forever()
