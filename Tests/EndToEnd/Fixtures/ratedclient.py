#!/usr/bin/python3
"""Sends GETs at a fixed rate on several keep-alive connections:   ratedclient HOST PORT HOSTHEADER PATH RATE SECONDS
Prints one line per response: "<seconds since start> <status> <retry-after or -> <x-mesher-error or ->"."""
import http.client
import sys
import threading
import time

host, port, authority, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rate, seconds = float(sys.argv[5]), float(sys.argv[6])
CONNECTIONS = 10
lines, lock = [], threading.Lock()
start = time.monotonic()


def run(index):
    connection = http.client.HTTPConnection(host, port, timeout=10)
    interval = CONNECTIONS / rate
    sent = 0
    while True:
        due = start + index * interval / CONNECTIONS + sent * interval
        if due - start >= seconds:
            break
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        connection.request("GET", path, headers={"Host": authority})
        response = connection.getresponse()
        response.read()
        line = "%.4f %d %s %s" % (time.monotonic() - start, response.status,
                                  response.getheader("retry-after", "-"), response.getheader("x-mesher-error", "-"))
        with lock:
            lines.append(line)
        sent += 1


threads = [threading.Thread(target=run, args=(i,)) for i in range(CONNECTIONS)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("\n".join(sorted(lines, key=lambda line: float(line.split()[0]))))
