#!/usr/bin/python3
"""A cluster-only HTTP service: tells each client the address it saw the request come from,
so tests can prove a connection left from inside the pod. Also echoes request bodies."""
import http.server
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        name = sys.argv[3] if len(sys.argv) > 3 else "backend"
        self.reply(f"hello from {name}; you are {self.client_address[0]}\n".encode())

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.reply(self.rfile.read(length))

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
