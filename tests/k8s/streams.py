"""Server side of the API server's streaming protocols, for tests/k8s/fake_apiserver.py: WebSocket
(RFC 6455) with Kubernetes' channel subprotocol v4.channel.k8s.io, and SPDY/3.1 port-forwarding
(portforward.k8s.io) either over an HTTP Upgrade or tunnelled in WebSocket binary messages
(SPDY/3.1+portforward.k8s.io, what kubectl 1.31+ tries first). Written from RFC 6455, the SPDY/3
draft and the kubelet's port-forward protocol: one error stream and one data stream per connection,
paired by their requestid header."""
import base64
import hashlib
import socket
import struct
import threading
import zlib

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def websocket_accept(key):
    return base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()


class WebSocket:
    """Messages over an upgraded connection: reads client frames (masked), writes server frames."""

    def __init__(self, sock, reader):
        self.sock, self.reader, self.lock = sock, reader, threading.Lock()

    def send(self, payload, opcode=2):
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else bytes([126]) + struct.pack(">H", n) if n < 65536
                                         else bytes([127]) + struct.pack(">Q", n))
        with self.lock:
            self.sock.sendall(head + payload)

    def _exact(self, n):
        data = self.reader.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def receive(self):
        """The next data message's payload, answering pings; None once closed."""
        message = b""
        while True:
            try:
                b0, b1 = self._exact(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", self._exact(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._exact(8))[0]
                mask = self._exact(4) if b1 & 0x80 else b"\0\0\0\0"
                payload = bytes(c ^ mask[i % 4] for i, c in enumerate(self._exact(n)))
            except (EOFError, OSError, ValueError):
                return None
            opcode = b0 & 0x0F
            if opcode == 8:
                try:
                    self.send(payload[:2], 8)
                except OSError:
                    pass
                return None
            if opcode == 9:
                self.send(payload, 10)
                continue
            if opcode == 10:
                continue
            message += payload
            if b0 & 0x80:
                return message


class WebSocketStream:
    """A byte stream carried in binary WebSocket messages (SPDY tunnelled over WebSocket)."""

    def __init__(self, ws):
        self.ws, self.buffer = ws, b""

    def read(self, n):
        while len(self.buffer) < n:
            message = self.ws.receive()
            if message is None:
                break
            self.buffer += message
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def write(self, data):
        self.ws.send(data, 2)


class SocketStream:
    def __init__(self, sock, reader):
        self.sock, self.reader = sock, reader

    def read(self, n):
        return self.reader.read(n)

    def write(self, data):
        self.sock.sendall(data)


def close(sock):
    """shutdown first: close() alone leaves the connection open while another thread is in recv()."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def pump_from(sock, send, done):
    """In a thread: what sock receives, to send(bytes), then done() once it ends (errors ignored)."""
    def run():
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            try:
                send(data)
            except OSError:
                return
        try:
            done()
        except OSError:
            pass

    threading.Thread(target=run, daemon=True).start()


def channel_port_forward(ws, port, connect):
    """v4.channel.k8s.io port-forward: channel 0 data, 1 errors; each channel's first frame the port."""
    upstream = connect()
    tag = struct.pack("<H", port)
    ws.send(b"\x00" + tag)
    ws.send(b"\x01" + tag)
    if upstream is None:
        ws.send(b"\x01" + f"error forwarding port {port}: connection refused".encode())
        ws.send(b"", 8)
        return

    pump_from(upstream, lambda data: ws.send(b"\x00" + data), lambda: ws.send(b"", 8))
    while True:
        message = ws.receive()
        if message is None:
            break
        if message[:1] == b"\x00" and len(message) > 1:
            upstream.sendall(message[1:])
    close(upstream)


# The SPDY/3 header compression dictionary (the draft's section 2.6.10.1): length-prefixed names
# and values, then a run of common status codes and values.
_DICTIONARY_WORDS = [
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding", "accept-language",
    "accept-ranges", "age", "allow", "authorization", "cache-control", "connection", "content-base", "content-encoding",
    "content-language", "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
    "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
    "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma", "proxy-authenticate",
    "proxy-authorization", "range", "referer", "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade",
    "user-agent", "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK", "version",
    "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")
SPDY_DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) + _DICTIONARY_TAIL.encode()
assert len(SPDY_DICTIONARY) == 1423 and zlib.adler32(SPDY_DICTIONARY) == 0xE3C6A7C2

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 1


class SpdyPortForward:
    """The kubelet's side of a SPDY/3.1 port-forward session over stream (read(n)/write(bytes))."""

    def __init__(self, stream, connect, log=lambda *a: None):
        self.stream, self.connect, self.log = stream, connect, log
        self.lock = threading.Lock()
        self.inflate = zlib.decompressobj(zdict=SPDY_DICTIONARY)
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, SPDY_DICTIONARY)
        self.pairs = {}     # requestid -> {"error": stream id, "data": stream id, "port": n}
        self.upstream = {}  # data stream id -> socket

    def _exact(self, n):
        data = self.stream.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def _send(self, frame):
        with self.lock:
            self.stream.write(frame)

    def _control(self, kind, flags, body):
        self._send(struct.pack(">HHI", 0x8000 | 3, kind, (flags << 24) | len(body)) + body)

    def _data(self, stream_id, data, flags=0):
        self._send(struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data)

    def _headers_block(self, headers):
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        with self.lock:
            return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def _parse_headers(self, block):
        raw = self.inflate.decompress(block)
        count, at, headers = struct.unpack(">I", raw[:4])[0], 4, {}
        for _ in range(count):
            n = struct.unpack(">I", raw[at:at + 4])[0]
            name = raw[at + 4:at + 4 + n].decode()
            at += 4 + n
            n = struct.unpack(">I", raw[at:at + 4])[0]
            headers[name] = raw[at + 4:at + 4 + n].decode()
            at += 4 + n
        return headers

    def serve(self):
        try:
            while True:
                head = self._exact(8)
                first, second = struct.unpack(">II", head)
                flags, length = second >> 24, second & 0xFFFFFF
                body = self._exact(length) if length else b""
                if first & 0x80000000:
                    if not self._on_control((first & 0xFFFF), flags, body):
                        break
                else:
                    self._on_data(first & 0x7FFFFFFF, flags, body)
        except (EOFError, OSError, zlib.error):
            pass
        for sock in list(self.upstream.values()):
            close(sock)

    def _on_control(self, kind, flags, body):
        if kind == SYN_STREAM:
            stream_id = struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF
            headers = self._parse_headers(body[10:])
            self._control(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._headers_block({}))
            pair = self.pairs.setdefault(headers.get("requestid", str(stream_id)), {})
            pair[headers.get("streamtype", "")] = stream_id
            pair["port"] = int(headers.get("port", "0") or 0)
            if "error" in pair and "data" in pair:
                self._start(pair)
        elif kind == PING:
            self._control(PING, 0, body[:4])
        elif kind == RST_STREAM:
            sock = self.upstream.pop(struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF, None)
            if sock:
                close(sock)
        elif kind == GOAWAY:
            return False
        return True  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do

    def _on_data(self, stream_id, flags, data):
        sock = self.upstream.get(stream_id)
        if data:
            self._control(WINDOW_UPDATE, 0, struct.pack(">II", stream_id, len(data)))
            if sock:
                try:
                    sock.sendall(data)
                except OSError:
                    pass
        if flags & FLAG_FIN and sock:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _start(self, pair):
        error_id, data_id, port = pair["error"], pair["data"], pair["port"]
        sock = self.connect()
        if sock is None:
            self._data(error_id, f"error forwarding port {port} to pod: connection refused".encode(), FLAG_FIN)
            self._data(data_id, b"", FLAG_FIN)
            return
        self.upstream[data_id] = sock

        def finished():
            self._data(data_id, b"", FLAG_FIN)
            self._data(error_id, b"", FLAG_FIN)

        pump_from(sock, lambda chunk: self._data(data_id, chunk), finished)
