#!/usr/bin/python3
"""gRPC without generated code (raw bytes), for the incoming-traffic tests.
  grpc_echo.py serve NAME PORT        answers /demo.Echo/Say with "NAME: <request>"
  grpc_echo.py call HOST:PORT USER MSG [USER MSG...]  prints the answers, one call after the other on
                                      one channel (one HTTP/2 connection); sends metadata x-user: USER"""
import sys
from concurrent import futures

import grpc


def serve(name, port):
    def say(request, context):
        return f"{name}: {request.decode()}".encode()

    handler = grpc.method_handlers_generic_handler("demo.Echo", {"Say": grpc.unary_unary_rpc_method_handler(say)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    print(f"{name} serving", flush=True)
    server.wait_for_termination()


def call(target, pairs):
    with grpc.insecure_channel(target) as channel:
        say = channel.unary_unary("/demo.Echo/Say")
        for user, message in zip(pairs[::2], pairs[1::2]):
            print(say(message.encode(), metadata=[("x-user", user)], timeout=10).decode())


if sys.argv[1] == "serve":
    serve(sys.argv[2], int(sys.argv[3]))
else:
    call(sys.argv[2], sys.argv[3:])
