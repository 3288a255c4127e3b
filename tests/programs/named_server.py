#!/usr/bin/python3
"""A local HTTP/1.1 server that says who it is and what it saw: named_server.py NAME PORT [IDLE-TIMEOUT]
GET  -> "NAME saw GET /path from PEER-IP user=X-User"
POST -> "NAME got BODY" """
import http.server
import socketserver
import sys

name, port = sys.argv[1], int(sys.argv[2])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, text):
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.reply(f"{name} saw GET {self.path} from {self.client_address[0]} user={self.headers.get('X-User')}\n")

    def do_POST(self):
        if self.headers.get("Transfer-Encoding") == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
        else:
            data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(f"{name} got {data.decode()}\n")

    def setup(self):
        super().setup()
        self.connection.settimeout(float(sys.argv[3]) if len(sys.argv) > 3 else None)  # idle timeout
        sys.stderr.write(f"{name}: connection from {self.client_address[0]}\n")
        sys.stderr.flush()

    def log_message(self, fmt, *args):
        sys.stderr.write(f"{name}: {self.client_address[0]} {fmt % args}\n")
        sys.stderr.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


print(f"{name} listening", flush=True)
Server(("0.0.0.0", port), Handler).serve_forever()
