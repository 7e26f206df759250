#!/usr/bin/env python3
"""HTTP/2 conformance cases (RFC 9113) for the nethttp server, in raw frames.

Used by tests/h2_conformance.rs. Speaks h2c by prior knowledge over plain TCP to 127.0.0.1.

Usage: python3 h2_conformance.py PORT [--max-concurrent-streams=N] [--max-header-list-size=N]
                                      [CASE ...]
With no CASE (or "all") every case runs. Each case opens its own connection, sends the client
preface and SETTINGS and ACKs the server's SETTINGS (unless the case is about the preface),
then sends exact frames (built with hyperframe, or by hand where hyperframe refuses to build
an invalid frame) and reads the server's frames back under a per-case deadline. One line per
case: "PASS name [(note)]" or "FAIL name: expected ..., got ...". Exit status 1 if any failed.

Every case cites the RFC 9113 section whose requirement it asserts. Where the RFC allows more
than one answer (e.g. a stream error MAY be escalated to a connection error, §5.4.1) the case
accepts each allowed answer and says in its PASS note which one it saw.
"""
import select
import socket
import struct
import sys
import time
import traceback

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# §7 error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
SETTINGS_TIMEOUT = 0x4
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
CONNECT_ERROR = 0xA
ENHANCE_YOUR_CALM = 0xB
INADEQUATE_SECURITY = 0xC
HTTP_1_1_REQUIRED = 0xD
ERROR_NAMES = {
    v: k
    for k, v in dict(globals()).items()
    if isinstance(v, int) and k.isupper() and not k.startswith("_") and k != "PREFACE"
}

# §6 frame types and flags (for frames built by hand).
T_DATA, T_HEADERS, T_PRIORITY, T_RST_STREAM, T_SETTINGS = 0x0, 0x1, 0x2, 0x3, 0x4
T_PING, T_GOAWAY, T_WINDOW_UPDATE, T_CONTINUATION = 0x6, 0x7, 0x8, 0x9
F_END_STREAM, F_ACK, F_END_HEADERS, F_PADDED = 0x1, 0x1, 0x4, 0x8

# §6.5.2 setting identifiers.
S_ENABLE_PUSH = 0x2
S_MAX_CONCURRENT_STREAMS = 0x3
S_INITIAL_WINDOW_SIZE = 0x4
S_MAX_FRAME_SIZE = 0x5
S_MAX_HEADER_LIST_SIZE = 0x6

CASE_BUDGET = 3.0
MAX_WINDOW = 2**31 - 1

CONFIG = {"max_concurrent_streams": None, "max_header_list_size": None, "port": None}


def err_name(code):
    return ERROR_NAMES.get(code, "0x%x" % code)


class Failed(Exception):
    """A case's assertion failed; the message says what was expected and what came."""


def raw_frame(ftype, flags, stream_id, payload):
    """A frame built by hand (§4.1), for the invalid frames hyperframe will not serialize."""
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes([ftype, flags])
        + struct.pack(">I", stream_id & 0x7FFFFFFF)
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
    """A 'literal never indexed, new name' field (RFC 7541 §6.2.3), no Huffman: the bytes are
    sent exactly as given (uppercase, CR/LF...) and the dynamic table is untouched."""
    name = name.encode("latin-1") if isinstance(name, str) else name
    value = value.encode("latin-1") if isinstance(value, str) else value
    return b"\x10" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def block(fields):
    """A field block of never-indexed literals, so no case can desynchronise the dynamic
    table and every later request on the connection still decodes."""
    return b"".join(literal(n, v) for n, v in fields)


def request_fields(method="GET", path="/", extra=()):
    return [
        (":method", method),
        (":scheme", "http"),
        (":authority", "127.0.0.1"),
        (":path", path),
    ] + list(extra)


def describe(f):
    """A short text for a received frame."""
    if isinstance(f, GoAwayFrame):
        dbg = (" debug=%r" % f.additional_data) if f.additional_data else ""
        return "GOAWAY(%s, last_stream=%d%s)" % (err_name(f.error_code), f.last_stream_id, dbg)
    if isinstance(f, RstStreamFrame):
        return "RST_STREAM(stream=%d, %s)" % (f.stream_id, err_name(f.error_code))
    if isinstance(f, SettingsFrame):
        if "ACK" in f.flags:
            return "SETTINGS(ACK)"
        return "SETTINGS(%s)" % ", ".join("0x%x=%d" % kv for kv in sorted(f.settings.items()))
    if isinstance(f, HeadersFrame):
        status = dict(getattr(f, "decoded", [])).get(":status", "?")
        es = ", END_STREAM" if "END_STREAM" in f.flags else ""
        return "HEADERS(stream=%d, :status=%s%s)" % (f.stream_id, status, es)
    if isinstance(f, DataFrame):
        es = ", END_STREAM" if "END_STREAM" in f.flags else ""
        return "DATA(stream=%d, %d bytes%s)" % (f.stream_id, len(f.data), es)
    if isinstance(f, WindowUpdateFrame):
        return "WINDOW_UPDATE(stream=%d, +%d)" % (f.stream_id, f.window_increment)
    if isinstance(f, PingFrame):
        return "PING(%s%r)" % ("ACK, " if "ACK" in f.flags else "", f.opaque_data)
    return "%s(stream=%d)" % (type(f).__name__, f.stream_id)


class Conn:
    """One client connection with a deadline shared by every read and write of the case."""

    def __init__(self, budget=CASE_BUDGET):
        self.deadline = time.monotonic() + budget
        self.sock = socket.create_connection(("127.0.0.1", CONFIG["port"]), timeout=budget)
        self.buf = b""
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 20
        self.partial = None
        self.next_stream = 1
        self.seen = []
        self.closed = None  # None while open; "EOF" or "reset" once the server closed
        self.server_settings = None
        self.first_frame = None
        self.bytes_sent = 0

    def remaining(self):
        return self.deadline - time.monotonic()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # --- writing ---------------------------------------------------------------------------

    def send(self, data):
        """Writes `data`; False if the server already closed (EPIPE / ECONNRESET)."""
        if isinstance(data, Frame):
            data = data.serialize()
        self.sock.settimeout(max(0.01, self.remaining()))
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        except socket.timeout:
            raise Failed("the server stopped reading: a write blocked until the deadline; "
                         "received so far: %s" % self.seen_text())
        self.bytes_sent += len(data)
        return True

    def stream(self):
        sid = self.next_stream
        self.next_stream += 2
        return sid

    def headers(self, sid, fields, end_stream=True, end_headers=True, raw_block=None):
        flags = (F_END_STREAM if end_stream else 0) | (F_END_HEADERS if end_headers else 0)
        hb = raw_block if raw_block is not None else block(fields)
        return self.send(raw_frame(T_HEADERS, flags, sid, hb))

    def data(self, sid, payload, end_stream=True):
        f = DataFrame(sid, payload)
        if end_stream:
            f.flags.add("END_STREAM")
        return self.send(f)

    # --- reading ---------------------------------------------------------------------------

    def _fill(self, until):
        """Reads more bytes; False on timeout. Sets self.closed on EOF/reset."""
        wait = until - time.monotonic()
        if wait <= 0:
            return False
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            self.closed = "reset"
            return True
        if not chunk:
            self.closed = "EOF"
            return True
        self.buf += chunk
        return True

    def frame(self, timeout=None):
        """The next frame, or None once the server has closed; raises Failed at the deadline
        (or after `timeout` seconds if sooner). HEADERS get a `.decoded` field list."""
        until = self.deadline if timeout is None else min(self.deadline, time.monotonic() + timeout)
        while True:
            if len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) >= 9 + length:
                    body = self.buf[9 : 9 + length]
                    self.buf = self.buf[9 + length :]
                    f.parse_body(memoryview(body))
                    self._decode(f)
                    if self.first_frame is None:
                        self.first_frame = f
                    self.seen.append(describe(f))
                    return f
            if self.closed:
                return None
            if not self._fill(until):
                raise TimeoutError()

    def _decode(self, f):
        if isinstance(f, HeadersFrame):
            self.partial = (f, f.data)
        elif isinstance(f, ContinuationFrame) and self.partial:
            self.partial = (self.partial[0], self.partial[1] + f.data)
        else:
            return
        if "END_HEADERS" in f.flags:
            head, data = self.partial
            self.partial = None
            head.decoded = self.dec.decode(data)

    def seen_text(self):
        text = ", ".join(self.seen) if self.seen else "no frames"
        if self.closed:
            text += ", then the connection closed (%s)" % self.closed
        return text

    # --- the connection preface (§3.4) ------------------------------------------------------

    def handshake(self, settings=None):
        """Client preface + SETTINGS; waits for the server's SETTINGS and ACKs it (§6.5.3)."""
        self.send(PREFACE + SettingsFrame(0, settings or {}).serialize())
        while True:
            try:
                f = self.frame()
            except TimeoutError:
                raise Failed("expected the server's SETTINGS, got %s" % self.seen_text())
            if f is None:
                raise Failed("expected the server's SETTINGS, got %s" % self.seen_text())
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                self.server_settings = dict(f.settings)
                self.send(SettingsFrame(0, flags=["ACK"]))
                return

    # --- expectations ----------------------------------------------------------------------

    def expect_closed(self, after):
        """§5.4.1: after a GOAWAY for an error the endpoint MUST close the TCP connection."""
        try:
            while self.frame() is not None:
                pass
        except TimeoutError:
            raise Failed("expected the connection closed after %s, got %s and it stayed open"
                         % (after, self.seen_text()))

    def expect_conn_error(self, code, allow_no_goaway=False):
        """A connection error (§5.4.1): GOAWAY with `code`, then the connection closes.
        `allow_no_goaway`: the RFC lets the GOAWAY be omitted (invalid preface, §3.4)."""
        while True:
            try:
                f = self.frame()
            except TimeoutError:
                raise Failed("expected GOAWAY(%s), got %s and no GOAWAY within the deadline"
                             % (err_name(code), self.seen_text()))
            if f is None:
                if allow_no_goaway:
                    return "closed without GOAWAY, allowed"
                raise Failed("expected GOAWAY(%s), got %s without a GOAWAY"
                             % (err_name(code), self.seen_text()))
            if isinstance(f, GoAwayFrame):
                if f.error_code != code:
                    raise Failed("expected GOAWAY(%s), got %s"
                                 % (err_name(code), self.seen_text()))
                self.expect_closed(describe(f))
                return None

    def expect_stream_error(self, sid, codes, usable_after=True, response_allowed=False):
        """A stream error (§5.4.2): RST_STREAM on `sid` with one of `codes`. §5.4.1 lets an
        endpoint treat a stream error as a connection error, so GOAWAY with one of `codes`
        also passes (noted). `response_allowed`: §8.1.1 lets a server answer a malformed
        request before resetting the stream. `usable_after`: the connection must then still
        serve a request (a stream error leaves the connection alone)."""
        if isinstance(codes, int):
            codes = (codes,)
        want = " or ".join(err_name(c) for c in codes)
        first_seen = len(self.seen)

        def expected_rst():
            return "expected RST_STREAM(stream=%d, %s), got %s" % (sid, want, self.seen_text())

        ended_at = None
        while True:
            timeout = None if ended_at is None else max(0.0, ended_at + 0.5 - time.monotonic())
            try:
                f = self.frame(timeout)
            except TimeoutError:
                raise Failed(expected_rst())
            if f is None:
                raise Failed(expected_rst())
            if isinstance(f, GoAwayFrame):
                if f.error_code in codes:
                    self.expect_closed(describe(f))
                    return ("connection error %s instead of a stream error, allowed by §5.4.1"
                            % describe(f))
                raise Failed(expected_rst())
            if isinstance(f, RstStreamFrame) and f.stream_id == sid:
                if f.error_code not in codes:
                    raise Failed(expected_rst())
                rst = describe(f)
                break
            if isinstance(f, (HeadersFrame, DataFrame)) and f.stream_id == sid:
                if not response_allowed:
                    raise Failed(expected_rst())
                if "END_STREAM" in f.flags:
                    # The stream is closed by the response; a RST_STREAM may still follow.
                    ended_at = time.monotonic()
        note = rst
        responses = [s for s in self.seen[first_seen:] if s.startswith("HEADERS(stream=%d," % sid)]
        if responses:
            note += ", after answering %s (allowed by §8.1.1)" % responses[0]
        if usable_after:
            self.expect_get_ok("after the stream error")
        return note

    def read_response(self, sid, what="a response"):
        """Headers (dict) and body of the response on `sid`, up to END_STREAM."""
        head = None
        body = b""
        while True:
            try:
                f = self.frame()
            except TimeoutError:
                raise Failed("expected %s on stream %d, got %s" % (what, sid, self.seen_text()))
            if f is None or isinstance(f, GoAwayFrame) or (
                isinstance(f, RstStreamFrame) and f.stream_id == sid
            ):
                raise Failed("expected %s on stream %d, got %s" % (what, sid, self.seen_text()))
            if f.stream_id != sid:
                continue
            if isinstance(f, HeadersFrame):
                if head is None:
                    head = dict(f.decoded)
            elif isinstance(f, DataFrame):
                body += f.data
                if f.flow_controlled_length:
                    # Give the credit back so a long body cannot stall (§6.9).
                    self.send(WindowUpdateFrame(0, f.flow_controlled_length))
            if "END_STREAM" in f.flags:
                return head, body

    def expect_get_ok(self, when=""):
        sid = self.stream()
        self.headers(sid, request_fields())
        head, body = self.read_response(sid, "a 200 response to GET / " + when)
        if head.get(":status") != "200" or body != b"hello h2\n":
            raise Failed("expected 200 'hello h2\\n' %s, got :status %s body %r"
                         % (when, head.get(":status"), body))


def open_post(c, path="/echo", extra=()):
    """Opens a stream with a POST whose body has not come yet (the stream stays "open")."""
    sid = c.stream()
    c.headers(sid, request_fields("POST", path, extra), end_stream=False)
    return sid


# =============================================================================================
# Cases. Each returns None or a note for its PASS line, and raises Failed.

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# --- §3.4 connection preface, §6.5 SETTINGS --------------------------------------------------


@case
def server_preface_settings(c):
    """§3.4: the server's preface is a SETTINGS frame, the first frame it sends; §6.5.2: it
    advertises the configured SETTINGS_MAX_CONCURRENT_STREAMS (and MAX_HEADER_LIST_SIZE)."""
    c.handshake()
    f = c.first_frame
    if not isinstance(f, SettingsFrame) or "ACK" in f.flags or f.stream_id != 0:
        raise Failed("expected a SETTINGS frame first, got %s" % c.seen_text())
    s = c.server_settings
    want = CONFIG["max_concurrent_streams"]
    if want is not None and s.get(S_MAX_CONCURRENT_STREAMS) != want:
        raise Failed("expected SETTINGS_MAX_CONCURRENT_STREAMS=%d, got %s" % (want, describe(f)))
    want = CONFIG["max_header_list_size"]
    if want is not None and s.get(S_MAX_HEADER_LIST_SIZE) != want:
        raise Failed("expected SETTINGS_MAX_HEADER_LIST_SIZE=%d, got %s" % (want, describe(f)))
    return describe(f)


@case
def settings_acked(c):
    """§6.5.3: a SETTINGS frame without ACK MUST be answered by a SETTINGS frame with ACK."""
    c.handshake({S_MAX_FRAME_SIZE: 16384, S_INITIAL_WINDOW_SIZE: 100000})
    while True:
        try:
            f = c.frame()
        except TimeoutError:
            f = None
        if f is None:
            raise Failed("expected SETTINGS(ACK), got %s" % c.seen_text())
        if isinstance(f, SettingsFrame) and "ACK" in f.flags:
            return None


@case
def normal_get(c):
    """§8.1: a plain GET gets its response: 200 and the body, with content-length."""
    c.handshake()
    sid = c.stream()
    c.headers(sid, request_fields())
    head, body = c.read_response(sid)
    if head.get(":status") != "200" or body != b"hello h2\n" or head.get("content-length") != "9":
        raise Failed("expected 200 with content-length 9 and 'hello h2\\n', got %r %r"
                     % (head, body))


@case
def post_echo(c):
    """§8.1: a request with content in DATA frames: the handler reads it all."""
    c.handshake()
    sid = open_post(c, extra=[("content-length", "9")])
    c.data(sid, b"ping-", end_stream=False)
    c.data(sid, b"pong")
    head, body = c.read_response(sid)
    if head.get(":status") != "200" or body != b"ping-pong":
        raise Failed("expected 200 'ping-pong', got %r %r" % (head, body))


@case
def bad_preface(c):
    """§3.4: an invalid connection preface MUST be treated as a connection error of type
    PROTOCOL_ERROR; the GOAWAY MAY be omitted since the peer is not speaking HTTP/2. On a port
    that also serves HTTP/1.1 the bytes are not HTTP/2 at all, so an HTTP/1.1 error response
    followed by a close is the same outcome. Either way: no HTTP/2 session, connection closed."""
    c.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + SettingsFrame(0).serialize())
    while not c.closed:
        if not c._fill(c.deadline):
            raise Failed("expected the connection closed, got %r and it stayed open" % c.buf[:200])
    raw = c.buf
    if not raw:
        return "closed without GOAWAY, allowed"
    if raw.startswith(b"HTTP/1."):
        return "not HTTP/2: answered %r and closed" % raw.split(b"\r\n", 1)[0].decode("latin-1")
    # HTTP/2 frames: they may only be the server's SETTINGS, then GOAWAY(PROTOCOL_ERROR).
    return c.expect_conn_error(PROTOCOL_ERROR, allow_no_goaway=True)


@case
def first_frame_not_settings(c):
    """§3.4: the client preface MUST be followed by a SETTINGS frame; anything else is an
    invalid preface: connection error PROTOCOL_ERROR (GOAWAY MAY be omitted)."""
    c.send(PREFACE + PingFrame(0, b"12345678").serialize())
    return c.expect_conn_error(PROTOCOL_ERROR, allow_no_goaway=True)


@case
def settings_nonzero_stream(c):
    """§6.5: SETTINGS on a stream other than 0 MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.send(raw_frame(T_SETTINGS, 0, 1, b""))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def settings_ack_with_payload(c):
    """§6.5: SETTINGS with ACK and a non-zero length MUST be a connection error
    FRAME_SIZE_ERROR."""
    c.handshake()
    c.send(raw_frame(T_SETTINGS, F_ACK, 0, struct.pack(">HI", S_ENABLE_PUSH, 0)))
    return c.expect_conn_error(FRAME_SIZE_ERROR)


@case
def settings_bad_length(c):
    """§6.5: SETTINGS whose length is not a multiple of 6 MUST be a connection error
    FRAME_SIZE_ERROR."""
    c.handshake()
    c.send(raw_frame(T_SETTINGS, 0, 0, struct.pack(">HI", S_ENABLE_PUSH, 0)[:5]))
    return c.expect_conn_error(FRAME_SIZE_ERROR)


@case
def settings_enable_push_2(c):
    """§6.5.2: SETTINGS_ENABLE_PUSH other than 0 or 1 MUST be a connection error
    PROTOCOL_ERROR."""
    c.handshake()
    c.send(SettingsFrame(0, {S_ENABLE_PUSH: 2}))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def settings_initial_window_too_big(c):
    """§6.5.2: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 MUST be a connection error
    FLOW_CONTROL_ERROR."""
    c.handshake()
    c.send(SettingsFrame(0, {S_INITIAL_WINDOW_SIZE: 2**31}))
    return c.expect_conn_error(FLOW_CONTROL_ERROR)


@case
def settings_max_frame_size_too_small(c):
    """§6.5.2: SETTINGS_MAX_FRAME_SIZE below 2^14 MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.send(SettingsFrame(0, {S_MAX_FRAME_SIZE: 2**14 - 1}))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def settings_max_frame_size_too_big(c):
    """§6.5.2: SETTINGS_MAX_FRAME_SIZE above 2^24-1 MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.send(SettingsFrame(0, {S_MAX_FRAME_SIZE: 2**24}))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def settings_unknown_ignored(c):
    """§6.5.2: an unknown setting identifier MUST be ignored: ACKed, connection unaffected."""
    c.handshake()
    c.send(SettingsFrame(0, {0xFF: 1, 0x4242: 7}))
    while True:
        try:
            f = c.frame()
        except TimeoutError:
            f = None
        if f is None or isinstance(f, GoAwayFrame):
            raise Failed("expected SETTINGS(ACK), got %s" % c.seen_text())
        if isinstance(f, SettingsFrame) and "ACK" in f.flags:
            # The first ACK may be for the preface's SETTINGS; the request proves the rest.
            break
    c.expect_get_ok("after unknown settings")


# --- §6.7 PING ----------------------------------------------------------------------------


@case
def ping_ack(c):
    """§6.7: a PING without ACK MUST be answered by a PING with ACK and the same payload."""
    c.handshake()
    c.send(PingFrame(0, b"\x01\x02\x03\x04\xfe\xfd\xfc\xfb"))
    while True:
        try:
            f = c.frame()
        except TimeoutError:
            f = None
        if f is None or isinstance(f, GoAwayFrame):
            raise Failed("expected PING(ACK) with the same payload, got %s" % c.seen_text())
        if isinstance(f, PingFrame):
            if "ACK" in f.flags and f.opaque_data == b"\x01\x02\x03\x04\xfe\xfd\xfc\xfb":
                return None
            raise Failed("expected PING(ACK) with the same payload, got %s" % c.seen_text())


@case
def ping_unknown_flags_ignored(c):
    """§4.1: unused flags MUST be ignored: a PING with flags 0xfe (ACK clear) is still
    answered with PING(ACK)."""
    c.handshake()
    c.send(raw_frame(T_PING, 0xFE, 0, b"flagtest"))
    while True:
        try:
            f = c.frame()
        except TimeoutError:
            f = None
        if f is None or isinstance(f, GoAwayFrame):
            raise Failed("expected PING(ACK, b'flagtest'), got %s" % c.seen_text())
        if isinstance(f, PingFrame) and "ACK" in f.flags and f.opaque_data == b"flagtest":
            return None


@case
def ping_bad_length(c):
    """§6.7: a PING whose length is not 8 MUST be a connection error FRAME_SIZE_ERROR."""
    c.handshake()
    c.send(raw_frame(T_PING, 0, 0, b"123456"))
    return c.expect_conn_error(FRAME_SIZE_ERROR)


@case
def ping_nonzero_stream(c):
    """§6.7: a PING on a stream other than 0 MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.send(raw_frame(T_PING, 0, 1, b"12345678"))
    return c.expect_conn_error(PROTOCOL_ERROR)


# --- §4 frame format, §6.3 PRIORITY, §6.4 RST_STREAM, padding ---------------------------


@case
def unknown_frame_ignored(c):
    """§4.1, §5.5: frames of unknown type MUST be ignored and discarded."""
    c.handshake()
    # By hand: hyperframe 6.1's ExtensionFrame.serialize() writes a length of 0.
    c.send(raw_frame(0x2A, 0x5, 0, b"unknown extension payload"))
    c.expect_get_ok("after an unknown frame type")


def headers_block_of(total, sid_fields):
    """A field block of exactly `total` bytes: the request fields plus one padding field."""
    base = block(sid_fields)
    n = total - len(base) - 10
    while True:
        hb = base + literal("x-pad", "a" * n)
        if len(hb) == total:
            return hb
        n += total - len(hb)


@case
def frame_too_large_headers(c):
    """§4.2: a frame over SETTINGS_MAX_FRAME_SIZE (16384 here) MUST get FRAME_SIZE_ERROR, and
    for a frame carrying a field block it MUST be a connection error."""
    c.handshake()
    limit = c.server_settings.get(S_MAX_FRAME_SIZE, 16384)
    c.headers(1, None, raw_block=headers_block_of(limit + 1, request_fields()))
    return c.expect_conn_error(FRAME_SIZE_ERROR)


@case
def frame_too_large_data(c):
    """§4.2: a DATA frame over SETTINGS_MAX_FRAME_SIZE MUST get FRAME_SIZE_ERROR (stream or
    connection error)."""
    c.handshake()
    limit = c.server_settings.get(S_MAX_FRAME_SIZE, 16384)
    sid = open_post(c)
    c.send(raw_frame(T_DATA, 0, sid, b"x" * (limit + 1)))
    return c.expect_stream_error(sid, FRAME_SIZE_ERROR)


@case
def priority_bad_length(c):
    """§6.3: a PRIORITY frame whose length is not 5 MUST be a stream error FRAME_SIZE_ERROR."""
    c.handshake()
    sid = open_post(c)
    c.send(raw_frame(T_PRIORITY, 0, sid, b"\x00\x00\x00\x00"))
    return c.expect_stream_error(sid, FRAME_SIZE_ERROR)


@case
def rst_stream_bad_length(c):
    """§6.4: a RST_STREAM whose length is not 4 MUST be a connection error FRAME_SIZE_ERROR."""
    c.handshake()
    sid = open_post(c)
    c.send(raw_frame(T_RST_STREAM, 0, sid, b"\x00\x00\x08"))
    return c.expect_conn_error(FRAME_SIZE_ERROR)


@case
def data_bad_padding(c):
    """§6.1: DATA whose pad length is >= the payload length MUST be a connection error
    PROTOCOL_ERROR."""
    c.handshake()
    sid = open_post(c)
    c.send(raw_frame(T_DATA, F_PADDED | F_END_STREAM, sid, bytes([10]) + b"abc"))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def headers_bad_padding(c):
    """§6.2: HEADERS whose pad length is >= the payload length MUST be a connection error
    PROTOCOL_ERROR."""
    c.handshake()
    hb = block(request_fields())
    pad = len(hb) + 1
    c.send(raw_frame(T_HEADERS, F_PADDED | F_END_HEADERS | F_END_STREAM, 1, bytes([pad]) + hb))
    return c.expect_conn_error(PROTOCOL_ERROR)


# --- §5.1 stream states, §5.1.1 stream identifiers --------------------------------------


@case
def data_stream_0(c):
    """§6.1: DATA on stream 0 MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.send(raw_frame(T_DATA, F_END_STREAM, 0, b"hello"))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def headers_stream_0(c):
    """§6.2: HEADERS on stream 0 MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.headers(0, request_fields())
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def headers_even_stream(c):
    """§5.1.1: client streams MUST be odd; an unexpected stream identifier MUST be a
    connection error PROTOCOL_ERROR."""
    c.handshake()
    c.headers(2, request_fields())
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def stream_id_decreasing(c):
    """§5.1.1: a new stream's identifier MUST be greater than every stream the client opened;
    an unexpected stream identifier MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.headers(5, request_fields())
    c.read_response(5)
    c.headers(3, request_fields())
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def data_idle_stream(c):
    """§5.1 (idle): any frame other than HEADERS or PRIORITY on an idle stream MUST be a
    connection error PROTOCOL_ERROR."""
    c.handshake()
    c.data(1, b"hello")
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def rst_stream_idle(c):
    """§6.4: RST_STREAM on an idle stream MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.send(RstStreamFrame(1, CANCEL))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def data_half_closed_remote(c):
    """§5.1 (half-closed remote) and §6.1: DATA after the client's END_STREAM MUST be a stream
    error STREAM_CLOSED (§5.4.1 allows a connection error)."""
    c.handshake()
    sid = c.stream()
    c.headers(sid, request_fields("GET", "/slow"))
    c.data(sid, b"late")
    return c.expect_stream_error(sid, STREAM_CLOSED, response_allowed=False)


@case
def data_closed_stream(c):
    """§6.1: DATA on a stream that is not open or half-closed (local) MUST be a stream error
    STREAM_CLOSED; §5.1 (closed) also allows a connection error STREAM_CLOSED. The stream is
    closed by END_STREAM both ways (no RST_STREAM, so nothing may be ignored)."""
    c.handshake()
    sid = c.stream()
    c.headers(sid, request_fields())
    c.read_response(sid)
    c.data(sid, b"late")
    return c.expect_stream_error(sid, STREAM_CLOSED)


# --- §6.9 WINDOW_UPDATE ---------------------------------------------------------------------


@case
def window_update_zero_conn(c):
    """§6.9: a WINDOW_UPDATE increment of 0 on the connection MUST be a connection error
    PROTOCOL_ERROR."""
    c.handshake()
    c.send(raw_frame(T_WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def window_update_zero_stream(c):
    """§6.9: a WINDOW_UPDATE increment of 0 on a stream MUST be a stream error
    PROTOCOL_ERROR."""
    c.handshake()
    sid = open_post(c)
    c.send(raw_frame(T_WINDOW_UPDATE, 0, sid, struct.pack(">I", 0)))
    return c.expect_stream_error(sid, PROTOCOL_ERROR)


@case
def window_overflow_conn(c):
    """§6.9.1: a WINDOW_UPDATE making the connection window exceed 2^31-1 MUST be answered by
    GOAWAY FLOW_CONTROL_ERROR."""
    c.handshake()
    c.send(WindowUpdateFrame(0, MAX_WINDOW))
    return c.expect_conn_error(FLOW_CONTROL_ERROR)


@case
def window_overflow_stream(c):
    """§6.9.1: a WINDOW_UPDATE making a stream window exceed 2^31-1 MUST be answered by
    RST_STREAM FLOW_CONTROL_ERROR."""
    c.handshake()
    sid = open_post(c)
    c.send(WindowUpdateFrame(sid, MAX_WINDOW))
    return c.expect_stream_error(sid, FLOW_CONTROL_ERROR)


# --- §4.3 field blocks, §6.10 CONTINUATION -------------------------------------------------


@case
def continuation_without_headers(c):
    """§6.10: CONTINUATION not preceded by HEADERS/PUSH_PROMISE/CONTINUATION without
    END_HEADERS MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    c.send(raw_frame(T_CONTINUATION, F_END_HEADERS, 1, block(request_fields())))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def headers_then_other_frame(c):
    """§6.2 / §4.3: HEADERS without END_HEADERS MUST be followed by CONTINUATION on the same
    stream; any other frame MUST be a connection error PROTOCOL_ERROR."""
    c.handshake()
    hb = block(request_fields())
    c.send(raw_frame(T_HEADERS, F_END_STREAM, 1, hb[:10]))
    c.send(PingFrame(0, b"12345678"))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def continuation_other_stream(c):
    """§6.2 / §6.10: a CONTINUATION for a different stream than the HEADERS before it MUST be
    a connection error PROTOCOL_ERROR."""
    c.handshake()
    hb = block(request_fields())
    c.send(raw_frame(T_HEADERS, F_END_STREAM, 1, hb[:10]))
    c.send(raw_frame(T_CONTINUATION, F_END_HEADERS, 3, hb[10:]))
    return c.expect_conn_error(PROTOCOL_ERROR)


@case
def continuation_flood(c):
    """CONTINUATION flood (§6.10 has no bound, §10.5 lets an endpoint refuse abusive header
    blocks, §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE): HEADERS without END_HEADERS followed by
    an endless run of CONTINUATION frames. The server must end the connection (GOAWAY, or
    close) before the client has sent 1 MiB, and keep serving new connections."""
    c.handshake()
    limit = 1 << 20
    c.send(raw_frame(T_HEADERS, F_END_STREAM, 1, block(request_fields())))
    fields = [("x-flood-%03d" % i, "v" * 80) for i in range(10)]
    chunk = raw_frame(T_CONTINUATION, 0, 1, block(fields))
    frames = 0
    outcome = None
    while outcome is None:
        if c.bytes_sent >= limit:
            raise Failed("expected GOAWAY or close before 1 MiB of CONTINUATION, got %s after "
                         "%d frames (%d bytes)" % (c.seen_text(), frames, c.bytes_sent))
        if not c.send(chunk * 8):
            outcome = "write failed (connection closed)"
            break
        frames += 8
        # A short pause per batch so the server's answer is seen soon after it is sent.
        while select.select([c.sock], [], [], 0.01)[0]:
            try:
                f = c.frame(0.05)
            except TimeoutError:
                break
            if f is None:
                outcome = "connection closed"
                break
            if isinstance(f, GoAwayFrame):
                outcome = describe(f)
                break
    # Whatever the server sent next: it must close.
    try:
        while c.frame() is not None:
            pass
    except TimeoutError:
        raise Failed("expected the connection closed after %s, got %s" % (outcome, c.seen_text()))
    goaways = [s for s in c.seen if s.startswith("GOAWAY")]
    note = "%s after %d CONTINUATION frames (%d bytes sent)" % (
        goaways[0] if goaways else outcome, frames, c.bytes_sent)
    fresh = Conn()
    try:
        fresh.handshake()
        fresh.expect_get_ok("on a fresh connection after the flood")
    finally:
        fresh.close()
    return note


@case
def hpack_invalid_index(c):
    """§4.3: a field block that fails to decompress (here an indexed field beyond the static
    and empty dynamic table, RFC 7541 §2.3.3) MUST be a connection error COMPRESSION_ERROR."""
    c.handshake()
    c.headers(1, None, raw_block=block(request_fields()) + hpack_int(70, 7, 0x80))
    return c.expect_conn_error(COMPRESSION_ERROR)


# --- §8.1.1 malformed requests, §8.2 fields, §8.3 pseudo-header fields -----------------------


def malformed(c, fields):
    """Sends a GET with `fields` as its whole field block; §8.1.1: a malformed request MUST be
    treated as a stream error PROTOCOL_ERROR (a response MAY be sent first)."""
    c.handshake()
    sid = c.stream()
    c.headers(sid, fields)
    return c.expect_stream_error(sid, PROTOCOL_ERROR, response_allowed=True)


@case
def uppercase_header_name(c):
    """§8.2 / §8.2.1: a field name with uppercase characters MUST be treated as malformed."""
    return malformed(c, request_fields(extra=[("X-Upper", "1")]))


@case
def header_value_crlf(c):
    """§8.2.1: a field value containing CR or LF MUST be treated as malformed."""
    return malformed(c, request_fields(extra=[("x-bad", "a\r\nx-smuggled: 1")]))


@case
def header_value_leading_space(c):
    """§8.2.1: a field value starting with whitespace MUST be treated as malformed."""
    return malformed(c, request_fields(extra=[("x-space", " leading")]))


@case
def connection_specific_header(c):
    """§8.2.2: connection-specific fields (connection: keep-alive) MUST be treated as
    malformed."""
    return malformed(c, request_fields(extra=[("connection", "keep-alive")]))


@case
def transfer_encoding_header(c):
    """§8.2.2: transfer-encoding is connection-specific (RFC 9110 §7.6.1): malformed."""
    return malformed(c, request_fields(extra=[("transfer-encoding", "chunked")]))


@case
def te_not_trailers(c):
    """§8.2.2: TE MUST NOT contain any value other than "trailers": malformed otherwise."""
    return malformed(c, request_fields(extra=[("te", "gzip")]))


@case
def te_trailers_allowed(c):
    """§8.2.2: TE: trailers is allowed in a request (a control for te_not_trailers)."""
    c.handshake()
    sid = c.stream()
    c.headers(sid, request_fields(extra=[("te", "trailers")]))
    head, body = c.read_response(sid)
    if head.get(":status") != "200":
        raise Failed("expected 200, got %r" % head)


@case
def missing_method(c):
    """§8.3.1: a request MUST include exactly one :method; without it it is malformed."""
    fields = [f for f in request_fields() if f[0] != ":method"]
    return malformed(c, fields)


@case
def missing_scheme(c):
    """§8.3.1: a (non-CONNECT) request MUST include exactly one :scheme; malformed without."""
    fields = [f for f in request_fields() if f[0] != ":scheme"]
    return malformed(c, fields)


@case
def missing_path(c):
    """§8.3.1: a (non-CONNECT) request MUST include exactly one :path; malformed without."""
    fields = [f for f in request_fields() if f[0] != ":path"]
    return malformed(c, fields)


@case
def empty_path(c):
    """§8.3.1: :path MUST NOT be empty for http/https URIs: malformed."""
    return malformed(c, request_fields(path=""))


@case
def pseudo_after_regular(c):
    """§8.3: pseudo-header fields MUST come before regular fields; otherwise malformed."""
    fields = request_fields()
    fields = fields[:3] + [("x-regular", "1")] + fields[3:]
    return malformed(c, fields)


@case
def duplicate_pseudo(c):
    """§8.3 / §8.3.1: a repeated pseudo-header field (two :path) MUST be treated as
    malformed."""
    return malformed(c, request_fields() + [(":path", "/other")])


@case
def unknown_pseudo(c):
    """§8.3: an undefined pseudo-header field MUST be treated as malformed."""
    fields = request_fields()
    return malformed(c, fields[:1] + [(":unknown", "x")] + fields[1:])


@case
def response_pseudo_in_request(c):
    """§8.3: pseudo-header fields defined for responses (:status) MUST NOT appear in requests;
    malformed."""
    fields = request_fields()
    return malformed(c, fields[:1] + [(":status", "200")] + fields[1:])


@case
def trailers_with_pseudo(c):
    """§8.1: a trailer section MUST NOT include pseudo-header fields; malformed."""
    c.handshake()
    sid = open_post(c)
    c.data(sid, b"abc", end_stream=False)
    c.headers(sid, [(":path", "/trailer")], end_stream=True)
    return c.expect_stream_error(sid, PROTOCOL_ERROR, response_allowed=True)


@case
def content_length_too_long(c):
    """§8.1.1: content-length not equal to the sum of the DATA payloads is malformed: stream
    error PROTOCOL_ERROR (here less DATA than announced)."""
    c.handshake()
    sid = open_post(c, extra=[("content-length", "10")])
    c.data(sid, b"abcde")
    return c.expect_stream_error(sid, PROTOCOL_ERROR, response_allowed=True)


@case
def content_length_too_short(c):
    """§8.1.1: content-length not equal to the sum of the DATA payloads is malformed: stream
    error PROTOCOL_ERROR (here more DATA than announced)."""
    c.handshake()
    sid = open_post(c, extra=[("content-length", "2")])
    c.data(sid, b"abcde")
    return c.expect_stream_error(sid, PROTOCOL_ERROR, response_allowed=True)


# --- §5.1.2 concurrency, rapid reset --------------------------------------------------------


@case
def max_concurrent_streams(c):
    """§5.1.2: a HEADERS frame exceeding the advertised SETTINGS_MAX_CONCURRENT_STREAMS MUST be
    a stream error PROTOCOL_ERROR or REFUSED_STREAM; the open streams carry on."""
    c.handshake()
    n = c.server_settings.get(S_MAX_CONCURRENT_STREAMS)
    if n is None or n > 20:
        raise Failed("expected a small SETTINGS_MAX_CONCURRENT_STREAMS, got %r" % n)
    opened = [open_post(c) for _ in range(n)]
    extra = c.stream()
    c.headers(extra, request_fields())
    note = c.expect_stream_error(extra, (REFUSED_STREAM, PROTOCOL_ERROR), usable_after=False)
    if note.startswith("connection error"):
        return note  # escalated to GOAWAY (§5.4.1 allows it): the open streams are gone
    for sid in opened:
        c.data(sid, b"still open %d" % sid)
        head, body = c.read_response(sid, "the echo on an open stream")
        if head.get(":status") != "200" or body != b"still open %d" % sid:
            raise Failed("expected 200 echo on stream %d, got %r %r" % (sid, head, body))
    return note


@case
def rapid_reset(c):
    """CVE-2023-44487 rapid reset (RFC 9113 §10.5: an endpoint MAY treat abusive use as a
    connection error ENHANCE_YOUR_CALM): up to 1000 HEADERS + RST_STREAM(CANCEL) pairs. The
    server must answer GOAWAY(ENHANCE_YOUR_CALM) and close, then serve a fresh connection."""
    c.handshake()
    goaway = None
    pairs = 0
    while goaway is None and pairs < 1000:
        batch = b""
        for _ in range(50):
            sid = c.stream()
            batch += raw_frame(T_HEADERS, F_END_STREAM | F_END_HEADERS, sid,
                               block(request_fields("GET", "/slow")))
            batch += RstStreamFrame(sid, CANCEL).serialize()
        if not c.send(batch):
            break
        pairs += 50
        while select.select([c.sock], [], [], 0.005)[0]:
            try:
                f = c.frame(0.05)
            except TimeoutError:
                break
            if f is None:
                break
            if isinstance(f, GoAwayFrame):
                goaway = f
                break
        if c.closed:
            break
    while goaway is None:
        try:
            f = c.frame()
        except TimeoutError:
            raise Failed("expected GOAWAY(ENHANCE_YOUR_CALM) after %d reset streams, got %s"
                         % (pairs, c.seen_text()[-300:]))
        if f is None:
            raise Failed("expected GOAWAY(ENHANCE_YOUR_CALM) after %d reset streams, got %s "
                         "without a GOAWAY" % (pairs, c.seen_text()[-300:]))
        if isinstance(f, GoAwayFrame):
            goaway = f
    if goaway.error_code != ENHANCE_YOUR_CALM:
        raise Failed("expected GOAWAY(ENHANCE_YOUR_CALM), got %s" % describe(goaway))
    c.expect_closed(describe(goaway))
    fresh = Conn()
    try:
        fresh.handshake()
        fresh.expect_get_ok("on a fresh connection after the rapid reset")
    finally:
        fresh.close()
    return "%s after %d pairs sent" % (describe(goaway), pairs)


BUDGETS = {"rapid_reset": 8.0, "continuation_flood": 5.0}


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    for a in argv[1:]:
        if a.startswith("--max-concurrent-streams="):
            CONFIG["max_concurrent_streams"] = int(a.split("=", 1)[1])
        elif a.startswith("--max-header-list-size="):
            CONFIG["max_header_list_size"] = int(a.split("=", 1)[1])
        elif a.startswith("--"):
            print("unknown option %s" % a, file=sys.stderr)
            return 2
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    CONFIG["port"] = int(args[0])
    names = args[1:]
    if not names or names == ["all"]:
        names = list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print("unknown case(s): %s" % ", ".join(unknown), file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        c = None
        try:
            c = Conn(BUDGETS.get(name, CASE_BUDGET))
            note = CASES[name](c)
            print("PASS %s%s" % (name, " (%s)" % note if note else ""))
        except Failed as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
        except Exception as e:  # a bug in the case or an I/O surprise: still a failure
            failed += 1
            where = traceback.format_exc().strip().splitlines()[-3:]
            print("FAIL %s: unexpected %s: %s [%s]"
                  % (name, type(e).__name__, e, " | ".join(where)))
        finally:
            if c is not None:
                c.close()
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
