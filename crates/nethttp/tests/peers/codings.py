"""A keep-alive HTTP/1.1 server answering in every content coding the client decodes, each
encoded by Python's own libraries: gzip and zlib (stdlib) for gzip and deflate (zlib-wrapped,
and raw as some servers send it), brotli and zstandard (pip) for br and zstd. For the client
tests in client_codings.rs.

Usage: python3 codings.py
Prints "listening PORT" once it accepts connections.

GET /CODING/WHAT. CODING is gzip, x-gzip, br, zstd, deflate (zlib), raw-deflate (raw deflate
sent as `deflate`), gzip+br (stacked: br over gzip, `Content-Encoding: gzip, br`), or
compress (a coding the client does not decode: the text sent as it is, labelled `compress`).
WHAT is one of:
  text       TEXT encoded, with Content-Length
  chunked    the same, chunked in pieces of 1 to 997 bytes
  truncated  the encoded text less its last 5 bytes (Content-Length of what is sent)
  garbage    bytes that are no valid stream of that coding
  bomb       zeros encoded (1 GiB for br and zstd, 128 MiB for gzip and deflate: a few KB to
             130 KB on the wire)
Each body is made at its first request and kept.
Every answer carries `x-accept-encoding`, the Accept-Encoding the request came with.
"""
import gzip
import http.server
import socketserver
import threading
import zlib

import brotli
import zstandard

TEXT = "".join(
    "%d the quick brown fox jumps over the lazy dog\n" % i for i in range(20000)
).encode()
GARBAGE = b"this is not compressed data, whatever the coding says " * 8
MIB = bytes(1 << 20)


def zlib_stream(data, wbits):
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return c.compress(data) + c.flush()


def encode(coding, data):
    """`data` in `coding`, at the levels servers use on the fly (brotli's default 11 takes
    seconds a megabyte)."""
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(data, mtime=0)
    if coding == "br":
        return brotli.compress(data, quality=5)
    if coding == "zstd":
        return zstandard.ZstdCompressor(write_checksum=True).compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "raw-deflate":
        return zlib_stream(data, -15)
    if coding == "gzip+br":
        return brotli.compress(gzip.compress(data, mtime=0), quality=5)
    if coding == "compress":
        return data
    raise KeyError(coding)


def bomb(coding):
    """Zeros, encoded a MiB at a time (never the whole plain text in memory)."""
    if coding in ("br", "zstd"):
        count = 1024
        c = brotli.Compressor(quality=4) if coding == "br" else \
            zstandard.ZstdCompressor(level=3).compressobj()
        feed = c.process if coding == "br" else c.compress
        end = c.finish if coding == "br" else c.flush
    else:
        count = 128
        wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15, "raw-deflate": -15}[coding]
        c = zlib.compressobj(9, zlib.DEFLATED, wbits)
        feed, end = c.compress, c.flush
    return b"".join(feed(MIB) for _ in range(count)) + end()


# Each coding's TEXT and bomb, made at their first request and kept.
MADE = {}
MADE_LOCK = threading.Lock()


def made(key, make):
    with MADE_LOCK:
        if key not in MADE:
            MADE[key] = make()
        return MADE[key]


HEADER = {
    "raw-deflate": "deflate",
    "gzip+br": "gzip, br",
}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if len(parts) != 2:
            self.send_error(404)
            return
        coding, what = parts
        try:
            if what == "bomb":
                body = made(("bomb", coding), lambda: bomb(coding))
            elif what == "garbage":
                body = GARBAGE
            else:
                body = made(("text", coding), lambda: encode(coding, TEXT))
                if what == "truncated":
                    body = body[:-5]
        except KeyError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Encoding", HEADER.get(coding, coding))
        self.send_header("X-Accept-Encoding", self.headers.get("Accept-Encoding", "-"))
        try:
            if what == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                at, size = 0, 1
                while at < len(body):
                    piece = body[at:at + size]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    at += len(piece)
                    size = size * 7 % 997 + 1
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # The client stopped reading (a bomb past its limit) and closed.
            self.close_connection = True

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
print("listening", srv.server_address[1], flush=True)
srv.serve_forever()
