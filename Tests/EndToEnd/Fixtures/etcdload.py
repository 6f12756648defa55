"""Puts COUNT instances (COUNT/5 services of 5) under PREFIX in etcd through its JSON gateway, 100 puts per
transaction (etcd allows 128), as other Meshers or a deploy tool would have written them.

usage: etcdload.py ENDPOINT PREFIX COUNT
"""
import base64
import json
import sys
import urllib.request


def b64(text):
    return base64.b64encode(text.encode()).decode()


def main():
    endpoint, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    puts = []
    for index in range(count):
        service = "svc-%05d" % (index // 5)
        address = "198.18.%d.%d" % (100 + index // 250, index % 250 + 1)
        value = json.dumps({"service": service, "address": address, "port": 8080, "status": "up"})
        puts.append({"request_put": {"key": b64("%sservices/%s/%s:8080" % (prefix, service, address)),
                                     "value": b64(value)}})
    for start in range(0, len(puts), 100):
        body = json.dumps({"success": puts[start:start + 100]}).encode()
        request = urllib.request.Request(endpoint + "/v3/kv/txn", data=body,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()
    print("loaded", count, flush=True)


main()
