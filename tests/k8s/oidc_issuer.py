#!/usr/bin/python3
"""An OpenID Connect issuer stand-in for the tests: a discovery document and a token endpoint that
trades the expected refresh token for a new id token (a JWT whose claims the stand-in API server
checks; its signature is not, as the API server's OIDC authenticator would).
  oidc_issuer.py --port N --cert C --key K --refresh-token R --log FILE"""
import argparse
import base64
import http.server
import json
import ssl
import time
import urllib.parse


def jwt(claims):
    part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return part({"alg": "none", "typ": "JWT"}) + "." + part(claims) + ".unsigned"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        issuer = f"https://127.0.0.1:{args.port}"
        if self.path == "/.well-known/openid-configuration":
            return self.send(200, {"issuer": issuer, "token_endpoint": issuer + "/token"})
        self.send(404, {"error": "not found"})

    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode())
        with open(args.log, "a") as f:
            f.write(json.dumps({k: v[0] for k, v in form.items()}) + "\n")
        if self.path != "/token" or form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [args.refresh_token]:
            return self.send(400, {"error": "invalid_grant"})
        claims = {"iss": f"https://127.0.0.1:{args.port}", "sub": "developer", "mirrord-test": True, "exp": int(time.time()) + 300}
        self.send(200, {"id_token": jwt(claims), "refresh_token": "rotated-" + args.refresh_token, "token_type": "Bearer"})


p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
for a in ("--cert", "--key", "--refresh-token", "--log"):
    p.add_argument(a, required=True)
args = p.parse_args()
server = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(args.cert, args.key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("issuer ready", flush=True)
server.serve_forever()
