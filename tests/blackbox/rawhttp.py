"""HTTP/1.1 over a plain socket, for requests no HTTP library would send: dot segments and
encoded slashes kept as written, invalid UTF-8, wrong or missing Content-Length, oversized
headers, bodies cut short, clients that vanish mid-transfer.
"""

import json
import socket
import struct
import time
import urllib.parse


class Response:
    """A parsed answer: status, lower-cased headers, body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status} {self.headers.get('content-type')} {self.body[:300]!r}>"


def address_of(url):
    parts = urllib.parse.urlsplit(url)
    return parts.hostname, parts.port


def connect(url, timeout=30, source=None):
    host, port = address_of(url)
    sock = socket.create_connection((host, port), timeout=timeout, source_address=source)
    return sock


def head_bytes(method, target, headers, version="HTTP/1.1"):
    """The request head; `target` and header values may be str or bytes (sent as they are)."""

    def raw(value):
        return value if isinstance(value, bytes) else str(value).encode("latin-1")

    lines = [raw(method) + b" " + raw(target) + b" " + raw(version)]
    for name, value in headers:
        lines.append(raw(name) + b": " + raw(value))
    return b"\r\n".join(lines) + b"\r\n\r\n"


def read_response(sock, limit=64 << 20):
    """Reads one answer until the server closes (requests send `Connection: close`)."""
    chunks = []
    total = 0
    while True:
        try:
            data = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
        total += len(data)
        if total > limit:
            raise AssertionError("answer too large")
    return parse_response(b"".join(chunks))


def parse_response(data):
    if not data:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    _, status, *reason = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = dechunk(body)
    elif "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return Response(int(status), " ".join(reason), headers, body)


def dechunk(body):
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


def request(url, method, target, headers=(), body=b"", content_length=True, timeout=30, source=None):
    """Sends one request to the server at `url` and returns its answer (None if it answered
    nothing before closing). `target` is sent exactly as given. With `content_length` True a
    correct Content-Length is added; pass False to leave it out, or a value to send that."""
    host, port = address_of(url)
    all_headers = [("Host", f"{host}:{port}")]
    all_headers += list(headers)
    if content_length is True:
        all_headers.append(("Content-Length", str(len(body))))
    elif content_length is not False:
        all_headers.append(("Content-Length", str(content_length)))
    all_headers.append(("Connection", "close"))
    with connect(url, timeout=timeout, source=source) as sock:
        sock.sendall(head_bytes(method, target, all_headers) + body)
        return read_response(sock)


def send_raw(url, data, timeout=30, half_close=False):
    """Sends `data` as it is (a whole hand-written request) and returns the parsed answer."""
    with connect(url, timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_response(sock)


def abort(sock):
    """Closes with a TCP reset instead of a FIN: the client vanishes, as a killed process does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_for(predicate, timeout=10, interval=0.05, message="condition"):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)
