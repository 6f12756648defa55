#!/opt/mesher-py/bin/python
"""gRPC over h2c for the HTTP/2 tests, with grpcio (scripts/install-deps.sh puts it in /opt/mesher-py) and no
generated code: the methods take and return raw bytes.

  grpcpeer.py server HOST PORT NAME [FAILING] [--delay S]
      Service mesh.Echo, one line per call on standard output ("<method> <request bytes>"):
        Unary   answers NAME (as bytes), after S seconds; with FAILING (a status: "INTERNAL", ...) aborts every
                call with it
        Stream  the request is "TOTAL CHUNK" (ASCII): TOTAL bytes in messages of CHUNK bytes (the last shorter)
        Fail    aborts with the status the request names ("UNAVAILABLE", "INTERNAL", ...)

  grpcpeer.py client calls  TARGET AUTHORITY N [--interval S] [--timeout S] [--channel-per-call]
  grpcpeer.py client stream TARGET AUTHORITY TOTAL CHUNK [--read-delay S] [--timeout S]
  grpcpeer.py client fail   TARGET AUTHORITY STATUS [--timeout S]
      One channel to TARGET (IP:PORT, or any gRPC target; a new one for each call with --channel-per-call),
      every call with :authority AUTHORITY (Mesher routes
      by it); gRPC's own retries and proxy settings off; the stream's window stays at 64 KiB (no BDP probing),
      so a slow reader is slow all the way back. One JSON line on standard output:
        calls:  {"calls", "ok", "by_instance": {NAME: n}, "by_status": {CODE: n}, "failures": [{"call", "code",
                "details"}] (the first 50), "seconds"}
        stream: {"bytes", "messages", "code", "details", "seconds"}
        fail:   {"code", "details", "seconds"}
"""
import argparse
import json
import sys
import time
from concurrent import futures

import grpc

SERVICE = "mesh.Echo"


def serve(host, port, name, failing=None, delay=0.0):
    answer = name.encode()

    def log(method, request):
        print(method, request.decode("ascii", "replace"), flush=True)

    def unary(request, context):
        log("Unary", request)
        if delay:
            time.sleep(delay)
        if failing:
            context.abort(grpc.StatusCode[failing], "%s fails every call" % name)
        return answer

    def stream(request, context):
        log("Stream", request)
        total, chunk = (int(field) for field in request.split())
        block = b"x" * chunk
        sent = 0
        while sent < total:
            size = min(chunk, total - sent)
            yield block if size == chunk else block[:size]
            sent += size

    def fail(request, context):
        log("Fail", request)
        code = grpc.StatusCode[request.decode("ascii").strip()]
        context.abort(code, "%s failed the call with %s" % (name, code.name))

    handler = grpc.method_handlers_generic_handler(SERVICE, {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((handler,))
    if server.add_insecure_port("%s:%d" % (host, port)) == 0:
        sys.exit("cannot listen on %s:%d" % (host, port))
    server.start()
    print("serving", name, "on", host, port, flush=True)
    server.wait_for_termination()


def channel(target, authority):
    return grpc.insecure_channel(target, options=[
        ("grpc.default_authority", authority),
        ("grpc.enable_retries", 0),
        ("grpc.enable_http_proxy", 0),
        ("grpc.http2.bdp_probe", 0),
        ("grpc.max_receive_message_length", 16 << 20),
    ])


def method(chan, name, streaming=False):
    path = "/%s/%s" % (SERVICE, name)
    # No (de)serializers: requests and answers are bytes.
    return chan.unary_stream(path) if streaming else chan.unary_unary(path)


def calls(args):
    chan = None if args.channel_per_call else channel(args.target, args.authority)
    by_instance, by_status, failures = {}, {}, []
    ok = 0
    start = time.monotonic()
    for index in range(args.n):
        if index and args.interval:
            time.sleep(args.interval)
        own = channel(args.target, args.authority) if args.channel_per_call else None
        unary = method(own or chan, "Unary")
        try:
            name = unary(b"call %d" % index, timeout=args.timeout).decode("ascii", "replace")
            by_instance[name] = by_instance.get(name, 0) + 1
            code = "OK"
            ok += 1
        except grpc.RpcError as error:
            code = error.code().name
            if len(failures) < 50:
                failures.append({"call": index, "code": code, "details": error.details()})
        by_status[code] = by_status.get(code, 0) + 1
        if own:
            own.close()
    return {"calls": args.n, "ok": ok, "by_instance": by_instance, "by_status": by_status, "failures": failures,
            "seconds": round(time.monotonic() - start, 3)}


def stream(args):
    call = method(channel(args.target, args.authority), "Stream", streaming=True)
    received = messages = 0
    code, details = "OK", None
    start = time.monotonic()
    try:
        for message in call(b"%d %d" % (args.total, args.chunk), timeout=args.timeout):
            received += len(message)
            messages += 1
            if args.read_delay:
                time.sleep(args.read_delay)
    except grpc.RpcError as error:
        code, details = error.code().name, error.details()
    return {"bytes": received, "messages": messages, "code": code, "details": details,
            "seconds": round(time.monotonic() - start, 3)}


def fail(args):
    call = method(channel(args.target, args.authority), "Fail")
    start = time.monotonic()
    try:
        call(args.status.encode(), timeout=args.timeout)
        code, details = "OK", None
    except grpc.RpcError as error:
        code, details = error.code().name, error.details()
    return {"code": code, "details": details, "seconds": round(time.monotonic() - start, 3)}


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "server":
        server = argparse.ArgumentParser(prog="grpcpeer.py server")
        for name in ("host", "port", "name"):
            server.add_argument(name)
        server.add_argument("failing", nargs="?")
        server.add_argument("--delay", type=float, default=0.0)
        options = server.parse_args(sys.argv[2:])
        serve(options.host, int(options.port), options.name, options.failing, options.delay)
        return
    parser = argparse.ArgumentParser(prog="grpcpeer.py client")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, function in (("calls", calls), ("stream", stream), ("fail", fail)):
        command = commands.add_parser(name)
        command.set_defaults(function=function)
        command.add_argument("target")
        command.add_argument("authority")
        command.add_argument("--timeout", type=float, default=10)
        if name == "calls":
            command.add_argument("n", type=int)
            command.add_argument("--interval", type=float, default=0)
            command.add_argument("--channel-per-call", action="store_true")
        elif name == "stream":
            command.add_argument("total", type=int)
            command.add_argument("chunk", type=int)
            command.add_argument("--read-delay", type=float, default=0)
        else:
            command.add_argument("status")
    if len(sys.argv) < 2 or sys.argv[1] != "client":
        sys.exit(__doc__)
    args = parser.parse_args(sys.argv[2:])
    print(json.dumps(args.function(args)), flush=True)


if __name__ == "__main__":
    main()
