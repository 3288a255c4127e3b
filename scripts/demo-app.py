#!/usr/bin/python3
"""The demo's "local program": an ordinary script that knows nothing about mirrord. It prints what it
sees of its environment: hostname, an env var, a config file, DNS, an HTTP call to a cluster service."""
import os
import socket
import urllib.request


def show(label, fn):
    try:
        value = fn()
    except Exception as e:  # the point of the demo is to show what fails without mirrord
        value = f"<{type(e).__name__}: {e}>"
    print(f"  {label:<34} {value}")


show("hostname:", socket.gethostname)
show("$DATABASE_URL:", lambda: os.environ.get("DATABASE_URL", "<unset>"))
show("/app/config.yaml says:", lambda: open("/app/config.yaml").read().splitlines()[1])
show("backend resolves to:", lambda: socket.gethostbyname("backend"))
show("GET http://backend/:", lambda: urllib.request.urlopen("http://backend/", timeout=3).read().decode().strip())
