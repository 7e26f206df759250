# A scripted misbehaving HTTP/2 server for the client's RFC 9113 conformance cases (h2specd's).
"""HTTP/2 client conformance cases (RFC 9113): a raw-frame server that misbehaves on purpose.

Used by tests/h2_client_conformance.rs. It is the client-side mirror of h2_conformance.py:
h2specd's client cases (and a few more) written with Python's `hyperframe` and `hpack`.

Usage: python3 h2_client_conformance.py CASE [--tls CERT KEY]

It listens on 127.0.0.1 (port 0) and prints one line, {"port": N}. The client under test then
connects (h2c by prior knowledge, or TLS with ALPN h2 when --tls is given) and sends its
request. The case answers the connection preface, reads the request, marks the point where
the misbehaviour starts, then misbehaves in exactly one way (built by hand where hyperframe
will not build an invalid frame). Further connections (a client resending a request
elsewhere) are served normally: SETTINGS, ACKs, a 200 "hello\\n" to each request.

Every frame the client sends is recorded, on every connection. When standard input reaches
EOF (the test's client is done), the script keeps recording until every connection is closed
or nothing has arrived for QUIET seconds, then prints one JSON line: per connection, whether
the client's preface was valid, its SETTINGS, its requests, every frame it sent (with the
index where the case's misbehaviour began) and how the connection ended. The test asserts on
it. Every wait is bounded: the whole run ends within CASE_BUDGET seconds whatever happens.

Each case cites the RFC 9113 section it exercises and the h2specd case it mirrors, if any.
"""
import json
import os
import select
import socket
import ssl
import struct
import sys
import time
import traceback

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    ExtensionFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# §7 error codes.
ERROR_NAMES = {
    0x0: "NO_ERROR",
    0x1: "PROTOCOL_ERROR",
    0x2: "INTERNAL_ERROR",
    0x3: "FLOW_CONTROL_ERROR",
    0x4: "SETTINGS_TIMEOUT",
    0x5: "STREAM_CLOSED",
    0x6: "FRAME_SIZE_ERROR",
    0x7: "REFUSED_STREAM",
    0x8: "CANCEL",
    0x9: "COMPRESSION_ERROR",
    0xA: "CONNECT_ERROR",
    0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY",
    0xD: "HTTP_1_1_REQUIRED",
}
NO_ERROR, INTERNAL_ERROR, CANCEL = 0x0, 0x2, 0x8

# §6 frame types and flags (for frames built by hand).
T_DATA, T_HEADERS, T_PRIORITY, T_RST_STREAM, T_SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
T_PUSH_PROMISE, T_PING, T_GOAWAY, T_WINDOW_UPDATE, T_CONTINUATION = 0x5, 0x6, 0x7, 0x8, 0x9
F_END_STREAM, F_ACK, F_END_HEADERS, F_PADDED = 0x1, 0x1, 0x4, 0x8

# §6.5.2 setting identifiers.
S_ENABLE_PUSH = 0x2
S_MAX_CONCURRENT_STREAMS = 0x3
S_INITIAL_WINDOW_SIZE = 0x4
S_MAX_FRAME_SIZE = 0x5

CASE_BUDGET = 12.0  # the whole run
STEP = 3.0  # one wait inside a case (the client's request, a PING ACK)
QUIET = 0.5  # after the test is done: this long without a byte ends the recording
HELLO = b"hello\n"


class Closed(Exception):
    """The client closed the connection while the case waited for it."""


class Timeout(Exception):
    """The client did not do what the case waited for within STEP."""


def err_name(code):
    return ERROR_NAMES.get(code, "0x%x" % code)


def raw_frame(ftype, flags, stream_id, payload):
    """A frame built by hand (§4.1): any length, type, flags and stream, R bit included."""
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([ftype, flags])
        + struct.pack(">I", stream_id & 0xFFFFFFFF)
        + payload
    )


def hpack_int(value, prefix_bits, first_byte=0):
    """An HPACK integer (RFC 7541 §5.1)."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = [first_byte | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A 'literal never indexed, new name' field (RFC 7541 §6.2.3), no Huffman: the bytes go
    out exactly as given (uppercase, pseudo-fields anywhere) and the client's dynamic table is
    never touched, so no case can desynchronise it."""
    name = name.encode("latin-1") if isinstance(name, str) else name
    value = value.encode("latin-1") if isinstance(value, str) else value
    return b"\x10" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def block(fields):
    return b"".join(literal(n, v) for n, v in fields)


def status_fields(status="200", extra=()):
    return [(":status", status)] + list(extra)


def describe(f):
    """A received frame as JSON-friendly fields."""
    d = {"type": type(f).__name__.replace("Frame", "").upper(), "stream": f.stream_id}
    if isinstance(f, GoAwayFrame):
        d.update(type="GOAWAY", code=err_name(f.error_code), last_stream=f.last_stream_id)
        if f.additional_data:
            d["debug"] = bytes(f.additional_data).decode("latin-1")
    elif isinstance(f, RstStreamFrame):
        d.update(type="RST_STREAM", code=err_name(f.error_code))
    elif isinstance(f, SettingsFrame):
        d.update(ack="ACK" in f.flags, settings={str(k): v for k, v in f.settings.items()})
    elif isinstance(f, PingFrame):
        d.update(ack="ACK" in f.flags, payload=bytes(f.opaque_data).hex())
    elif isinstance(f, WindowUpdateFrame):
        d.update(type="WINDOW_UPDATE", increment=f.window_increment)
    elif isinstance(f, DataFrame):
        d.update(len=len(f.data), end_stream="END_STREAM" in f.flags)
    elif isinstance(f, HeadersFrame):
        d.update(end_stream="END_STREAM" in f.flags, end_headers="END_HEADERS" in f.flags)
    elif isinstance(f, ExtensionFrame):
        d.update(type="EXTENSION", frame_type=f.type)
    return d


class Conn:
    """One accepted connection. A case drives it step by step (`mode` "case"); a connection
    the client opened later is served normally (`mode` "normal") by `pump`."""

    def __init__(self, sock, index, mode):
        self.sock = sock
        self.index = index
        self.mode = mode
        self.buf = b""
        self.preface_ok = None
        self.frames = []
        self.mark_at = None
        self.closed = None  # None while open; "EOF" or "reset" once the client closed it
        self.dec = hpack.Decoder(max_header_list_size=1 << 20)
        self.header_acc = None  # (stream, end_stream, block) of a client field block
        self.requests = []
        self.client_settings = None
        self.max_frame = 16384
        self.alpn = sock.selected_alpn_protocol() if isinstance(sock, ssl.SSLSocket) else None
        self.sent_ok = set()
        self.unread = []  # frames parsed that the case has not looked at yet

    # --- writing ---------------------------------------------------------------------------

    def send(self, *parts):
        """Writes frames (bytes or hyperframe frames). A client that already closed is not an
        error: what it sent before closing is still to be read, and reading finds the close."""
        data = b"".join(p.serialize() if isinstance(p, Frame) else p for p in parts)
        self.sock.settimeout(STEP)
        try:
            self.sock.sendall(data)
        except OSError:  # a reset, a broken pipe, TLS closed, or a client that stopped reading
            pass

    def headers(self, sid, fields, end_stream=False, end_headers=True, raw=None):
        flags = (F_END_STREAM if end_stream else 0) | (F_END_HEADERS if end_headers else 0)
        hb = raw if raw is not None else block(fields)
        return raw_frame(T_HEADERS, flags, sid, hb)

    def data(self, sid, payload, end_stream=True):
        return raw_frame(T_DATA, F_END_STREAM if end_stream else 0, sid, payload)

    def ok(self, sid, body=HELLO):
        """A plain 200 with `body` (§8.1)."""
        self.sent_ok.add(sid)
        self.send(
            self.headers(sid, status_fields("200", [("content-length", str(len(body)))])),
            self.data(sid, body),
        )

    def mark(self):
        """Frames recorded from here on are the client's reaction to the misbehaviour."""
        self.mark_at = len(self.frames)

    # --- reading ---------------------------------------------------------------------------

    def readable_now(self):
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def fill(self, until):
        """Reads what is there (waiting until `until`); False on timeout."""
        wait = until - time.monotonic()
        if wait <= 0 and not self.readable_now():
            return False
        self.sock.settimeout(max(wait, 0.001))
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            self.closed = "reset"
            return True
        if not chunk:
            self.closed = "EOF"
            return True
        self.buf += chunk
        return True

    def parse(self):
        """Every complete frame in the buffer, recorded (and answered in "normal" mode)."""
        out = []
        if self.preface_ok is None:
            if len(self.buf) < len(PREFACE):
                return out
            self.preface_ok = self.buf[: len(PREFACE)] == PREFACE
            self.buf = self.buf[len(PREFACE):]
            if self.mode == "normal":
                self.send(SettingsFrame(0, {S_MAX_CONCURRENT_STREAMS: 100}))
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                break
            head, body = self.buf[:9], self.buf[9 : 9 + length]
            self.buf = self.buf[9 + length :]
            try:
                f, _ = Frame.parse_frame_header(memoryview(head))
                f.parse_body(memoryview(body))
                d = describe(f)
            except Exception as e:  # a frame hyperframe refuses: keep its bytes
                f = None
                d = {"type": "INVALID", "raw": (head + body)[:64].hex(), "why": str(e)}
            self.frames.append(d)
            if f is not None:
                self.on_frame(f, d)
            out.append(d)
        return out

    def on_frame(self, f, d):
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            if self.client_settings is None:
                self.client_settings = d["settings"]
                self.max_frame = f.settings.get(S_MAX_FRAME_SIZE, 16384)
            if self.mode == "normal":
                self.send(SettingsFrame(0, flags=["ACK"]))
        elif isinstance(f, PingFrame) and "ACK" not in f.flags and self.mode == "normal":
            self.send(PingFrame(0, bytes(f.opaque_data), flags=["ACK"]))
        elif isinstance(f, (HeadersFrame, ContinuationFrame)):
            if isinstance(f, HeadersFrame):
                self.header_acc = (f.stream_id, "END_STREAM" in f.flags, b"")
            if self.header_acc is None:
                return
            sid, es, acc = self.header_acc
            self.header_acc = (sid, es, acc + bytes(f.data))
            if "END_HEADERS" in f.flags:
                sid, es, acc = self.header_acc
                self.header_acc = None
                fields = [[n, v] for n, v in self.dec.decode(acc, raw=False)]
                self.requests.append({"stream": sid, "headers": fields, "end_stream": es})
                if self.mode == "normal" and sid not in self.sent_ok:
                    self.ok(sid)

    def pump(self, until):
        """Reads and handles whatever arrives before `until`; the frames parsed."""
        if self.closed:
            return []
        self.fill(until)
        return self.parse()

    def next_frame(self, until):
        """The next frame the case has not looked at yet; raises Closed or Timeout."""
        while not self.unread:
            if self.closed:
                raise Closed()
            if not self.fill(until):
                raise Timeout()
            self.unread.extend(self.parse())
        return self.unread.pop(0)

    def wait_for(self, pred, what, timeout=STEP):
        """The first frame (not yet looked at) matching `pred`; raises Timeout or Closed."""
        until = time.monotonic() + timeout
        while True:
            try:
                d = self.next_frame(until)
            except Timeout:
                raise Timeout("waited %.1fs for %s" % (timeout, what))
            if pred(d):
                return d

    # --- the connection preface and the request --------------------------------------------

    def read_preface(self):
        """§3.4: reads the client's connection preface and its first frame (which must be
        SETTINGS; the test checks it)."""
        until = time.monotonic() + STEP
        while self.preface_ok is None:
            if self.closed:
                raise Closed()
            if not self.fill(until):
                raise Timeout("waited for the client's connection preface")
            self.unread.extend(self.parse())
        self.wait_for(lambda d: True, "the client's first frame")

    def handshake(self):
        """§3.4: reads the client's preface, then sends the server's (a SETTINGS frame) and
        ACKs the client's SETTINGS (§6.5.3)."""
        self.read_preface()
        self.send(SettingsFrame(0, {S_MAX_CONCURRENT_STREAMS: 100}),
                  SettingsFrame(0, flags=["ACK"]))

    def request(self, n=1):
        """Waits for `n` complete requests; their stream identifiers."""
        until = time.monotonic() + STEP
        while len(self.requests) < n:
            try:
                self.next_frame(until)
            except Timeout:
                raise Timeout("waited %.1fs for %d request(s)" % (STEP, n))
        return [r["stream"] for r in self.requests[:n]]

    def settings_acked(self):
        """Waits (if need be) until the client has ACKed the server's SETTINGS."""
        until = time.monotonic() + STEP
        while not any(d["type"] == "SETTINGS" and d.get("ack") for d in self.frames):
            try:
                self.next_frame(until)
            except Timeout:
                raise Timeout("waited %.1fs for the client's SETTINGS ACK" % STEP)

    def report(self):
        return {
            "index": self.index,
            "alpn": self.alpn,
            "preface_ok": self.preface_ok,
            "client_settings": self.client_settings,
            "requests": self.requests,
            "mark": self.mark_at,
            "frames": self.frames,
            "closed": self.closed,
        }


class Server:
    def __init__(self, tls):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.conns = []
        self.deadline = time.monotonic() + CASE_BUDGET
        self.tls = None
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls[0], tls[1])
            ctx.set_alpn_protocols(["h2"])
            self.tls = ctx

    def accept(self, mode="case", timeout=STEP):
        self.listener.settimeout(timeout)
        try:
            sock, _ = self.listener.accept()
        except socket.timeout:
            raise Timeout("no connection from the client")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            sock.settimeout(STEP)
            sock = self.tls.wrap_socket(sock, server_side=True)
        c = Conn(sock, len(self.conns), mode)
        self.conns.append(c)
        return c

    def first(self, server_preface=None):
        """The client's connection, its handshake done and its request read: (conn, stream).
        With `server_preface`, those bytes are the server's preface, sent once the request is
        in (a client need not wait for the server's preface to send it), so the client's
        reaction is to the preface alone."""
        c = self.accept()
        if server_preface is not None:
            c.read_preface()
            (sid,) = c.request()
            c.mark()
            c.send(server_preface)
            return c, sid
        c.handshake()
        (sid,) = c.request()
        # §6.5.3: the client ACKs the server's SETTINGS; waiting for it here keeps that ACK
        # out of the frames recorded as the client's reaction to the case.
        c.settings_acked()
        c.mark()
        return c, sid

    def watch(self):
        """Records until the test is done (stdin EOF) and then every connection closed or
        QUIET seconds passed without a byte; serves any new connection normally."""
        done = False
        last = time.monotonic()
        stdin_open = True
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                return
            live = [c for c in self.conns if not c.closed]
            if done and (not live or now - last >= QUIET):
                return
            ready = [c for c in live if c.readable_now()]
            if not ready:
                rlist = [c.sock for c in live] + [self.listener]
                if stdin_open:
                    rlist.append(sys.stdin)
                r, _, _ = select.select(rlist, [], [], min(0.05, self.deadline - now))
                if sys.stdin in r:
                    if not os.read(sys.stdin.fileno(), 4096):
                        stdin_open = False
                        done = True
                        last = time.monotonic()
                if self.listener in r:
                    try:
                        self.accept(mode="normal", timeout=0.5)
                    except (Timeout, ssl.SSLError, OSError):
                        pass
                    last = time.monotonic()
                ready = [c for c in live if c.sock in r]
            for c in ready:
                c.pump(time.monotonic() + 0.01)
                last = time.monotonic()


# =============================================================================================
# Cases. Each gets the server, takes the client's connection (`srv.first()`), misbehaves once
# and returns; the recording goes on in `watch`. The frames the client must answer with are
# asserted by the test, which knows each case by name.

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def ping_then_ok(c, sid, payload=b"\0" * 8):
    """A PING after the misbehaviour: the client's PING ACK shows it read past it and the
    connection still works (h2specd's check); then the response."""
    c.send(PingFrame(0, payload))
    try:
        c.wait_for(lambda d: d["type"] == "PING" and d.get("ack"), "a PING ACK")
    finally:
        c.ok(sid)


# --- §3.4 connection preface ---------------------------------------------------------------


@case
def preface_and_response(srv):
    """§3.4 (h2specd 1/1): the client sends the connection preface and SETTINGS as its first
    frame; a plain response is read."""
    c, sid = srv.first()
    c.ok(sid)


@case
def server_preface_not_settings(srv):
    """§3.4 (RFC 7540 §3.5): the server's preface MUST be a SETTINGS frame; anything else is
    an invalid preface, a connection error PROTOCOL_ERROR (GOAWAY MAY be omitted). Here a
    PING comes first, then SETTINGS, then the answer if the client still asks."""
    c, sid = srv.first(server_preface=PingFrame(0, b"notsttng").serialize()
                       + SettingsFrame(0, {S_MAX_CONCURRENT_STREAMS: 100}).serialize()
                       + SettingsFrame(0, flags=["ACK"]).serialize())
    c.ok(sid)


@case
def server_preface_http1(srv):
    """§3.4: a server that answers the h2c preface in HTTP/1.1 does not speak HTTP/2: its
    first bytes are no SETTINGS frame. The client gives up at once (connection error
    PROTOCOL_ERROR, GOAWAY MAY be omitted) rather than read them as a frame."""
    c, sid = srv.first(
        server_preface=b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c.sock.shutdown(socket.SHUT_WR)


@case
def server_preface_http1_at_once(srv):
    """§3.4: as server_preface_http1, with the HTTP/1.1 answer sent as the connection opens,
    so it may reach the client before its request goes out. The request fails all the same,
    and is not resent: another connection would end the same way."""
    c = srv.accept()
    c.mark()
    c.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    c.read_preface()


# --- §4 frames ------------------------------------------------------------------------------


@case
def unknown_frame_type(srv):
    """§4.1, §5.5 (h2specd 4.1/1, 5.5/1): a frame of unknown type MUST be ignored."""
    c, sid = srv.first()
    c.send(raw_frame(0x16, 0, 0, b"\0" * 8))
    ping_then_ok(c, sid)


@case
def unknown_flags(srv):
    """§4.1 (h2specd 4.1/2): undefined flags MUST be ignored: a PING with flags 0x16 (ACK
    clear) is still a PING to answer."""
    c, sid = srv.first()
    c.send(raw_frame(T_PING, 0x16, 0, b"\0" * 8))
    c.wait_for(lambda d: d["type"] == "PING", "a PING ACK")
    c.ok(sid)


@case
def reserved_bit(srv):
    """§4.1 (h2specd 4.1/3): the reserved bit of the stream identifier MUST be ignored: a PING
    on stream 0 with R set is a PING on stream 0."""
    c, sid = srv.first()
    c.send(raw_frame(T_PING, 0x16, 0x80000000, b"\0" * 8))
    c.wait_for(lambda d: d["type"] == "PING", "a PING ACK")
    c.ok(sid)


@case
def data_max_frame_size(srv):
    """§4.2 (h2specd 4.2/1): a frame of exactly SETTINGS_MAX_FRAME_SIZE MUST be accepted."""
    c, sid = srv.first()
    body = b"x" * c.max_frame
    c.send(c.headers(sid, status_fields("200", [("content-length", str(len(body)))])),
           c.data(sid, body))
    c.send(PingFrame(0, b"\0" * 8))


@case
def data_exceeds_max_frame_size(srv):
    """§4.2 (h2specd 4.2/2): a DATA frame over the client's SETTINGS_MAX_FRAME_SIZE MUST get
    FRAME_SIZE_ERROR (a stream error is enough for DATA)."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields()), c.data(sid, b"x" * (c.max_frame + 1)))


@case
def headers_exceeds_max_frame_size(srv):
    """§4.2 (h2specd 4.2/3): a HEADERS frame over SETTINGS_MAX_FRAME_SIZE can alter the
    connection's state: connection error FRAME_SIZE_ERROR."""
    c, sid = srv.first()
    fields = status_fields("200", [("x-dummy%d" % i, "x" * 4000) for i in range(5)])
    c.send(c.headers(sid, fields, end_stream=True))


@case
def hpack_invalid(srv):
    """§4.3 (h2specd 4.3/1): a field block that does not decode (a literal with incremental
    indexing cut before its name) MUST be a connection error COMPRESSION_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, None, end_stream=True, raw=b"\x40"))


@case
def headers_then_other_stream(srv):
    """§4.3: a field block MUST be sent as a contiguous sequence of frames; a frame of another
    stream (a CONTINUATION on stream +2) before END_HEADERS is a connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_headers=False),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid + 2, block([("x-a", "1")])))


# --- §5.1 stream states ---------------------------------------------------------------------


@case
def idle_data(srv):
    """§5.1 idle (h2specd 5.1/1): DATA on an idle stream: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.data(2, b"test"))


@case
def idle_rst_stream(srv):
    """§5.1 idle, §6.4 (h2specd 5.1/2, 6.4/2): RST_STREAM on an idle stream: connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(RstStreamFrame(2, CANCEL))


@case
def idle_window_update(srv):
    """§5.1 idle (h2specd 5.1/3): WINDOW_UPDATE on an idle stream: connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(WindowUpdateFrame(2, 100))


@case
def idle_continuation(srv):
    """§5.1 idle (h2specd 5.1/4): CONTINUATION on an idle stream: connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_CONTINUATION, F_END_HEADERS, 2, block(status_fields())))


@case
def data_after_rst(srv):
    """§5.1 closed (h2specd 5.1/5): DATA after the server's RST_STREAM: stream error
    STREAM_CLOSED."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields()), RstStreamFrame(sid, CANCEL), c.data(sid, b"test"))


@case
def headers_after_rst(srv):
    """§5.1 closed (h2specd 5.1/6): HEADERS after the server's RST_STREAM: stream error
    STREAM_CLOSED."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields()), RstStreamFrame(sid, CANCEL),
           c.headers(sid, [("x-trailer", "1")], end_stream=True))


@case
def continuation_after_rst(srv):
    """§5.1 closed (h2specd 5.1/7): CONTINUATION after the server's RST_STREAM: stream error
    STREAM_CLOSED (h2specd also takes PROTOCOL_ERROR)."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields()), RstStreamFrame(sid, CANCEL),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block([("x-dummy", "1")])))


@case
def data_after_end_stream(srv):
    """§5.1 closed, §6.1 (h2specd 5.1/8, 6.1/2): DATA after the response's END_STREAM:
    STREAM_CLOSED (§5.1: a connection error; §6.1: a stream error)."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True), c.data(sid, b"test"))


@case
def headers_after_end_stream(srv):
    """§5.1 closed (h2specd 5.1/9): a second response on a stream the first one ended (the
    stream identifier reused): connection error STREAM_CLOSED."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True),
           c.headers(sid, status_fields(), end_stream=True))


@case
def continuation_after_end_stream(srv):
    """§5.1 closed (h2specd 5.1/10): CONTINUATION after a complete HEADERS with END_STREAM:
    connection error STREAM_CLOSED (h2specd also takes PROTOCOL_ERROR)."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block([("x-dummy", "1")])))


@case
def headers_unopened_odd_stream(srv):
    """§5.1.1 (h2specd 5.1.1/1): HEADERS on stream 101, which the client never opened: an
    unexpected stream identifier, connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(101, status_fields(), end_stream=True))


@case
def headers_even_stream(srv):
    """§5.1.1, §8.4: a server opens streams only by PUSH_PROMISE; HEADERS on the idle even
    stream 2 is an unexpected stream identifier, connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(2, status_fields(), end_stream=True))


@case
def push_promise_disabled(srv):
    """§5.1.2, §6.5.2, §8.4: the client advertised SETTINGS_ENABLE_PUSH = 0 (no streams for
    the server to open); a PUSH_PROMISE is then a connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    promised = struct.pack(">I", 2) + block(
        [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"), (":path", "/p")])
    c.send(raw_frame(T_PUSH_PROMISE, F_END_HEADERS, sid, promised))


# --- §5.4.1 connection errors, §6.8 GOAWAY -------------------------------------------------


@case
def conn_error_closes(srv):
    """§5.4.1 (h2specd 5.4.1/1, 5.4.1/2): after a connection error (a PING on stream 3) the
    client SHOULD send GOAWAY and MUST close the TCP connection."""
    c, sid = srv.first()
    c.send(raw_frame(T_PING, 0, 3, b"\0" * 8))


@case
def goaway_last_stream_retry(srv):
    """§6.8, §8.7: GOAWAY(NO_ERROR, last stream = the first request's): that request
    completes on this connection; the second, beyond the last stream, was not processed and
    is resent on a new connection (served normally by `watch`)."""
    c = srv.accept()
    c.handshake()
    first, second = sorted(c.request(2))
    c.settings_acked()
    c.mark()
    c.send(GoAwayFrame(0, last_stream_id=first, error_code=NO_ERROR))
    c.ok(first)


@case
def goaway_then_close_processed(srv):
    """§6.8, §8.7: GOAWAY(NO_ERROR) naming the request's stream as processed, then the
    connection closes without an answer. The request may have been processed: the client
    must not take it for an unprocessed one and resend it (the test sends a POST)."""
    c, sid = srv.first()
    c.send(GoAwayFrame(0, last_stream_id=sid, error_code=NO_ERROR))
    c.sock.shutdown(socket.SHUT_WR)


@case
def goaway_error_unprocessed(srv):
    """§6.8, §8.7: GOAWAY(INTERNAL_ERROR, last stream 0), then the connection closes: the
    request was not processed, so the client may resend it on a new connection whatever its
    method (the test sends a POST); the new connection is served normally."""
    c, sid = srv.first()
    c.send(GoAwayFrame(0, last_stream_id=0, error_code=INTERNAL_ERROR))
    c.sock.shutdown(socket.SHUT_WR)


# --- §6.1 DATA, §6.2 HEADERS, §6.3 PRIORITY, §6.4 RST_STREAM ------------------------------


@case
def data_stream_0(srv):
    """§6.1 (h2specd 6.1/1): DATA on stream 0: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.data(0, b"test"))


@case
def data_bad_padding(srv):
    """§6.1 (h2specd 6.1/3): DATA whose pad length (6) is not less than its payload (5):
    connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields("200", [("content-length", "4")])),
           raw_frame(T_DATA, F_END_STREAM | F_PADDED, sid, b"\x06Test"))


@case
def headers_then_priority(srv):
    """§6.2, §4.3 (h2specd 6.2/1): HEADERS without END_HEADERS followed by a PRIORITY (not a
    CONTINUATION): connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_headers=False),
           PriorityFrame(sid, depends_on=0, stream_weight=255),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block([("x-dummy", "1")])))


@case
def headers_stream_0(srv):
    """§6.2 (h2specd 6.2/2): HEADERS on stream 0: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(0, status_fields(), end_stream=True))


@case
def headers_bad_padding(srv):
    """§6.2 (h2specd 6.2/3): HEADERS whose pad length (17) exceeds what follows it:
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_HEADERS, F_PADDED, sid, b"\x11" + block(status_fields())))


@case
def priority_stream_0(srv):
    """§6.3 (h2specd 6.3/1): PRIORITY on stream 0: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_PRIORITY, 0, 0, b"\x00\x00\x00\x00\xff"))


@case
def priority_bad_length(srv):
    """§6.3 (h2specd 6.3/2): a PRIORITY frame of 4 octets: stream error FRAME_SIZE_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True),
           raw_frame(T_PRIORITY, 0, sid, b"\x80\x00\x00\x01"))


@case
def rst_stream_0(srv):
    """§6.4 (h2specd 6.4/1): RST_STREAM on stream 0: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_RST_STREAM, 0, 0, struct.pack(">I", CANCEL)))


@case
def rst_stream_bad_length(srv):
    """§6.4 (h2specd 6.4/3): a RST_STREAM of 3 octets: connection error FRAME_SIZE_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True),
           raw_frame(T_RST_STREAM, 0, sid, b"\x00\x00\x00"))


# --- §6.5 SETTINGS --------------------------------------------------------------------------


@case
def settings_ack_with_payload(srv):
    """§6.5 (h2specd 6.5/1): SETTINGS with ACK and a payload: connection error
    FRAME_SIZE_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_SETTINGS, F_ACK, 0, b"\x00"))


@case
def settings_nonzero_stream(srv):
    """§6.5 (h2specd 6.5/2): SETTINGS on stream 1: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_SETTINGS, 0, 1, b"\x00\x03\x00\x00\x00\x64"))


@case
def settings_bad_length(srv):
    """§6.5 (h2specd 6.5/3): SETTINGS of 3 octets (not a multiple of 6): connection error
    FRAME_SIZE_ERROR (h2specd also takes PROTOCOL_ERROR)."""
    c, sid = srv.first()
    c.send(raw_frame(T_SETTINGS, 0, 0, b"\x00\x03\x00"))


@case
def settings_enable_push_1(srv):
    """§6.5.2: a server MUST NOT send SETTINGS_ENABLE_PUSH = 1; a client MUST treat it as a
    connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(SettingsFrame(0, {S_ENABLE_PUSH: 1}))
    try:
        c.wait_for(lambda d: d["type"] in ("SETTINGS", "GOAWAY"), "the client's answer")
    finally:
        c.ok(sid)


@case
def settings_initial_window_too_big(srv):
    """§6.5.2 (h2specd 6.5.2/1): SETTINGS_INITIAL_WINDOW_SIZE = 2^31: connection error
    FLOW_CONTROL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_SETTINGS, 0, 0, struct.pack(">HI", S_INITIAL_WINDOW_SIZE, 2**31)))


@case
def settings_max_frame_size_too_small(srv):
    """§6.5.2 (h2specd 6.5.2/2): SETTINGS_MAX_FRAME_SIZE = 16383: connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_SETTINGS, 0, 0, struct.pack(">HI", S_MAX_FRAME_SIZE, 16383)))


@case
def settings_max_frame_size_too_big(srv):
    """§6.5.2 (h2specd 6.5.2/3): SETTINGS_MAX_FRAME_SIZE = 2^24: connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_SETTINGS, 0, 0, struct.pack(">HI", S_MAX_FRAME_SIZE, 2**24)))


@case
def settings_unknown_ignored(srv):
    """§6.5.2 (h2specd 6.5.2/4): an unknown setting MUST be ignored."""
    c, sid = srv.first()
    c.send(raw_frame(T_SETTINGS, 0, 0, struct.pack(">HI", 0xFF, 1)))
    ping_then_ok(c, sid)


@case
def settings_acked(srv):
    """§6.5.3 (h2specd 6.5.3/1): a SETTINGS frame MUST be answered by SETTINGS with ACK."""
    c, sid = srv.first()
    c.send(SettingsFrame(0, {S_MAX_CONCURRENT_STREAMS: 100}))
    try:
        c.wait_for(lambda d: d["type"] == "SETTINGS" and d.get("ack"), "a SETTINGS ACK")
    finally:
        c.ok(sid)


# --- §6.7 PING ------------------------------------------------------------------------------


@case
def ping_acked(srv):
    """§6.7 (h2specd 6.7/1): a PING MUST be answered by a PING ACK with the same payload."""
    c, sid = srv.first()
    ping_then_ok(c, sid, b"h2spec\0\0")


@case
def ping_ack_not_answered(srv):
    """§6.7 (h2specd 6.7/2): a PING with ACK MUST NOT be answered; the next PING is."""
    c, sid = srv.first()
    c.send(PingFrame(0, b"invalid\0", flags=["ACK"]))
    ping_then_ok(c, sid, b"h2spec\0\0")


@case
def ping_nonzero_stream(srv):
    """§6.7 (h2specd 6.7/3): PING on stream 1: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_PING, 0, 1, b"\0" * 8))


@case
def ping_bad_length(srv):
    """§6.7 (h2specd 6.7/4): a PING of 6 octets: connection error FRAME_SIZE_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_PING, 0, 0, b"\0" * 6))


@case
def goaway_nonzero_stream(srv):
    """§6.8 (h2specd 6.8/1): GOAWAY on stream 1: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_GOAWAY, 0, 1, b"\0" * 8))


# --- §6.9 WINDOW_UPDATE ---------------------------------------------------------------------


@case
def window_update_zero_conn(srv):
    """§6.9 (h2specd 6.9/1): a connection WINDOW_UPDATE of 0: connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_WINDOW_UPDATE, 0, 0, b"\0\0\0\0"))


@case
def window_update_zero_stream(srv):
    """§6.9 (h2specd 6.9/2): a stream WINDOW_UPDATE of 0: stream error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields()), raw_frame(T_WINDOW_UPDATE, 0, sid, b"\0\0\0\0"))


@case
def window_update_bad_length(srv):
    """§6.9 (h2specd 6.9/3): a WINDOW_UPDATE of 3 octets: connection error FRAME_SIZE_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_WINDOW_UPDATE, 0, 0, b"\0\0\x01"))


@case
def window_overflow_conn(srv):
    """§6.9.1 (h2specd 6.9.1/1): WINDOW_UPDATEs taking the connection window past 2^31-1:
    GOAWAY FLOW_CONTROL_ERROR."""
    c, sid = srv.first()
    c.send(WindowUpdateFrame(0, 2**31 - 1), WindowUpdateFrame(0, 2**31 - 1))


@case
def window_overflow_stream(srv):
    """§6.9.1 (h2specd 6.9.1/2): WINDOW_UPDATEs taking a stream window past 2^31-1:
    RST_STREAM FLOW_CONTROL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields()),
           WindowUpdateFrame(sid, 2**31 - 1), WindowUpdateFrame(sid, 2**31 - 1))


# --- §6.10 CONTINUATION ---------------------------------------------------------------------


@case
def continuation_sequence_accepted(srv):
    """§6.10 (h2specd 6.10/1): HEADERS then two CONTINUATION frames, the last with
    END_HEADERS, MUST be accepted."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True, end_headers=False),
           raw_frame(T_CONTINUATION, 0, sid, block([("x-dummy0", "1")])),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block([("x-dummy1", "1")])),
           PingFrame(0, b"\0" * 8))


@case
def continuation_then_data(srv):
    """§6.10 (h2specd 6.10/2): a CONTINUATION without END_HEADERS followed by DATA:
    connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_headers=False),
           raw_frame(T_CONTINUATION, 0, sid, block([("x-dummy", "1")])),
           c.data(sid, b"test"))


@case
def continuation_stream_0(srv):
    """§6.10 (h2specd 6.10/3): CONTINUATION on stream 0: connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True, end_headers=False),
           raw_frame(T_CONTINUATION, F_END_HEADERS, 0, block([("x-dummy", "1")])))


@case
def continuation_after_end_headers(srv):
    """§6.10 (h2specd 6.10/4): CONTINUATION after a HEADERS with END_HEADERS: connection error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block([("x-dummy", "1")])))


@case
def continuation_after_continuation_end_headers(srv):
    """§6.10 (h2specd 6.10/5): CONTINUATION after a CONTINUATION with END_HEADERS: connection
    error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_stream=True, end_headers=False),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block([("x-dummy0", "1")])),
           raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block([("x-dummy1", "1")])))


@case
def continuation_after_data(srv):
    """§6.10 (h2specd 6.10/6): DATA inside an open field block, then CONTINUATION frames:
    connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields(), end_headers=False),
           c.data(sid, b"test"),
           raw_frame(T_CONTINUATION, 0, sid, block([("x-dummy0", "1")])),
           raw_frame(T_CONTINUATION, F_END_HEADERS, 0, block([("x-dummy1", "1")])))


@case
def continuation_without_headers(srv):
    """§6.10: a CONTINUATION on the request's open stream with no HEADERS before it:
    connection error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(raw_frame(T_CONTINUATION, F_END_HEADERS, sid, block(status_fields())))


# --- §8.1 HTTP message framing, §8.2 fields, §8.3 pseudo-fields ----------------------------


def malformed(srv, fields, end_stream=False):
    """§8.1.1: a malformed response MUST be a stream error PROTOCOL_ERROR. The HEADERS leave
    the stream open (no END_STREAM), so the client has a stream to reset (§5.1: no frames
    but PRIORITY on a closed one)."""
    c, sid = srv.first()
    c.send(c.headers(sid, fields, end_stream=end_stream))
    return c, sid


@case
def response_uppercase_header(srv):
    """§8.2: a field name with uppercase letters makes the response malformed."""
    malformed(srv, status_fields("200", [("X-Upper", "1")]))


@case
def response_pseudo_after_regular(srv):
    """§8.3: a pseudo-header field after a regular one makes the response malformed."""
    malformed(srv, [("x-a", "1"), (":status", "200")])


@case
def response_missing_status(srv):
    """§8.3.2: a response without :status is malformed."""
    malformed(srv, [("x-a", "1")])


@case
def response_connection_header(srv):
    """§8.2.2: a connection-specific field (connection: keep-alive) makes the response
    malformed."""
    malformed(srv, status_fields("200", [("connection", "keep-alive")]))


@case
def content_length_more_data(srv):
    """§8.1.1: content-length 4 with 6 bytes of DATA: malformed, stream error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields("200", [("content-length", "4")])), c.data(sid, HELLO))


@case
def content_length_less_data(srv):
    """§8.1.1: content-length 10 with 6 bytes of DATA then END_STREAM: malformed, stream
    error PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields("200", [("content-length", "10")])), c.data(sid, HELLO))


@case
def informational_then_final(srv):
    """§8.1: a 103 (interim, no END_STREAM) then the final 200 and its content: handled."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields("103", [("link", "</style.css>; rel=preload")])))
    c.ok(sid)


@case
def trailers_with_pseudo(srv):
    """§8.1, §8.3: a trailer section with a pseudo-header field is malformed: stream error
    PROTOCOL_ERROR."""
    c, sid = srv.first()
    c.send(c.headers(sid, status_fields()), c.data(sid, HELLO, end_stream=False),
           c.headers(sid, [(":status", "200"), ("x-trailer", "1")], end_stream=True))


# =============================================================================================


def main(argv):
    args = argv[1:]
    tls = None
    if "--tls" in args:
        i = args.index("--tls")
        tls = args[i + 1 : i + 3]
        args = args[:i] + args[i + 3 :]
    if len(args) != 1 or args[0] not in CASES:
        print(__doc__, file=sys.stderr)
        print("cases: %s" % " ".join(CASES), file=sys.stderr)
        return 2
    name = args[0]
    srv = Server(tls)
    print(json.dumps({"port": srv.port}), flush=True)
    error = None
    try:
        CASES[name](srv)
    except (Closed, Timeout) as e:
        # The client closed or did not do what the case waited for: its behaviour, recorded.
        error = "%s: %s" % (type(e).__name__, e)
    except Exception as e:  # a bug in the case: the test shows it
        error = "script error: %s: %s" % (type(e).__name__, traceback.format_exc()[-600:])
    srv.watch()
    report = {"case": name, "error": error, "conns": [c.report() for c in srv.conns]}
    print(json.dumps(report), flush=True)
    for c in srv.conns:
        try:
            c.sock.close()
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
