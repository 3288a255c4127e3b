#!/usr/bin/env python3
"""A Debug Adapter Protocol client that does what VS Code's Go extension does with `dlv dap`: launch
a program (lldb backend), break on a line, read the frame's variables, step over, continue to the end.

usage: dap_client.py HOST:PORT PROGRAM SOURCE LINE [PROGRAM ARGS...]
Prints a transcript, one line per step: "stopped: REASON at FUNCTION:LINE", "variable NAME = VALUE",
"terminated"."""
import json
import socket
import sys


class Dap:
    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.buffer = b""
        self.seq = 0
        self.events = []

    def _message(self):
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        header, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        length = int(header.split(b":")[1])
        while len(self.buffer) < length:
            self._receive()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)

    def _receive(self):
        data = self.sock.recv(65536)
        if not data:
            raise SystemExit("dap_client: the adapter closed the connection")
        self.buffer += data

    def request(self, command, **arguments):
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        while True:
            message = self._message()
            if message["type"] == "event":
                self.events.append(message)
            elif message["type"] == "response" and message["request_seq"] == self.seq:
                if not message["success"]:
                    raise SystemExit("dap_client: %s failed: %s" % (command, message.get("message")))
                return message.get("body", {})

    def event(self, name):
        while True:
            for i, event in enumerate(self.events):
                if event["event"] == name:
                    return self.events.pop(i).get("body", {})
            message = self._message()
            if message["type"] == "event":
                self.events.append(message)


def where(dap, thread):
    frame = dap.request("stackTrace", threadId=thread, startFrame=0, levels=1)["stackFrames"][0]
    return frame, "%s:%d" % (frame["name"], frame["line"])


def main():
    address, program, source, line, args = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
    dap = Dap(address)
    dap.request("initialize", clientID="vscode", adapterID="go", linesStartAt1=True, columnsStartAt1=True, pathFormat="path")
    dap.request("launch", request="launch", mode="exec", program=program, args=args, backend="lldb")
    dap.event("initialized")
    breakpoints = dap.request("setBreakpoints", source={"path": source}, breakpoints=[{"line": line}])["breakpoints"]
    print("breakpoint verified: %s" % breakpoints[0]["verified"], flush=True)
    dap.request("configurationDone")
    stopped = dap.event("stopped")
    thread = stopped["threadId"]
    frame, place = where(dap, thread)
    print("stopped: %s at %s" % (stopped["reason"], place), flush=True)
    for scope in dap.request("scopes", frameId=frame["id"])["scopes"]:
        for variable in dap.request("variables", variablesReference=scope["variablesReference"])["variables"]:
            print("variable %s = %s" % (variable["name"], variable["value"]), flush=True)
    dap.request("next", threadId=thread)
    stopped = dap.event("stopped")
    print("stopped: %s at %s" % (stopped["reason"], where(dap, thread)[1]), flush=True)
    dap.request("continue", threadId=thread)
    dap.event("terminated")  # Delve 1.20 says no more (no exited event)
    print("terminated", flush=True)
    dap.request("disconnect", terminateDebuggee=True)


if __name__ == "__main__":
    main()
