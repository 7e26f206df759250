#!/usr/bin/env python3
"""Hostile HTTP/2 peers against the handler batteries (FileServer, the JSON and form readers,
max_bytes), in raw frames built with hyperframe and hpack. Used by
tests/batteries_h2_hostile.rs. Speaks h2c by prior knowledge to 127.0.0.1.

Usage: python3 h2_hostile_bodies.py PORT MODE ARGS...

  noread STREAMS HOLD WINDOW PATH
      Opens STREAMS GET streams for PATH and never reads its socket for HOLD seconds (so it
      never sends WINDOW_UPDATE, nor acknowledges anything). WINDOW "default" leaves the
      RFC's 65,535-byte windows; "huge" grants 2^31-1 on every stream and the connection up
      front, with a 4 KiB receive buffer. Then reads what the server left until it closes.
  trickle INTERVAL PATH CONTENT_TYPE BODY
      POSTs BODY (declared in content-length) one byte per DATA frame every INTERVAL seconds,
      until the server answers or resets the stream.
  liar PATH CONTENT_TYPE DECLARED SEND HOW
      POSTs with content-length DECLARED and SEND bytes of DATA: HOW "one" sends them in one
      DATA frame with END_STREAM; "split" sends them, waits 200 ms, then an empty DATA frame
      with END_STREAM. Then a good JSON POST on the same connection.
  flood STREAMS BYTES DECLARED PATH...
      Opens STREAMS POST streams at once (paths taken in turn) and sends BYTES on each as
      fast as flow control allows, with content-length when DECLARED is "yes". Then a GET of
      /files/small.txt on the same connection.

Output, one line per event with the seconds since the connection opened:
  T response SID STATUS | T data SID REPR | T end SID | T rst SID CODE |
  T goaway CODE LAST_SID | T eof | T reset
and a last line "T summary sent=BYTES" (request body bytes sent).
"""
import select
import socket
import struct
import sys
import time

import hpack
from hyperframe.frame import (
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
MAX_WINDOW = 2**31 - 1
S_INITIAL_WINDOW_SIZE = 0x4
# Every run ends by this, whatever the server does.
BUDGET = 12.0


class Peer:
    def __init__(self, port, rcvbuf=None):
        self.t0 = time.monotonic()
        self.deadline = self.t0 + BUDGET
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(BUDGET)
        s.connect(("127.0.0.1", port))
        self.sock = s
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.closed = False
        self.port = port
        self.next_sid = 1
        # Flow control towards the server (what we may send).
        self.conn_window = 65535
        self.initial_window = 65535
        self.windows = {}
        self.sent = 0
        # What happened to each stream: status, body, ended, reset code.
        self.streams = {}
        # Whether each DATA frame is printed (not for megabytes of a file).
        self.show_data = True

    def out(self, msg):
        print("%.3f %s" % (time.monotonic() - self.t0, msg), flush=True)

    def send(self, data):
        if isinstance(data, Frame):
            data = data.serialize()
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def preface(self, settings=None):
        self.send(PREFACE + SettingsFrame(0, settings or {}).serialize())

    def open(self, method, path, fields=(), end_stream=False):
        sid = self.next_sid
        self.next_sid += 2
        block = self.enc.encode(
            [
                (":method", method),
                (":scheme", "http"),
                (":authority", "127.0.0.1:%d" % self.port),
                (":path", path),
            ]
            + list(fields)
        )
        f = HeadersFrame(sid, block)
        f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        self.send(f)
        self.windows[sid] = self.initial_window
        self.streams[sid] = {"status": None, "body": b"", "ended": False, "rst": None}
        return sid

    def data(self, sid, payload, end_stream=False):
        f = DataFrame(sid, payload)
        if end_stream:
            f.flags.add("END_STREAM")
        if self.send(f):
            self.sent += len(payload)
            self.conn_window -= len(payload)
            self.windows[sid] = self.windows.get(sid, 0) - len(payload)
            return True
        return False

    def done(self, sid):
        st = self.streams[sid]
        return st["ended"] or st["rst"] is not None

    # --- reading ----------------------------------------------------------------------------

    def pump(self, wait, ack=True):
        """Reads for at most `wait` seconds (less if a frame came), handling every whole frame.
        False once the connection is closed."""
        if self.closed:
            return False
        wait = max(0.0, min(wait, self.deadline - time.monotonic()))
        r, _, _ = select.select([self.sock], [], [], wait)
        if r:
            try:
                chunk = self.sock.recv(1 << 16)
            except ConnectionResetError:
                self.out("reset")
                self.closed = True
                return False
            if not chunk:
                self.out("eof")
                self.closed = True
                return False
            self.buf += chunk
        while len(self.buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                break
            body = self.buf[9 : 9 + length]
            self.buf = self.buf[9 + length :]
            f.parse_body(memoryview(body))
            self.handle(f, ack)
        return True

    def handle(self, f, ack):
        st = self.streams.get(f.stream_id)
        if isinstance(f, SettingsFrame):
            if "ACK" not in f.flags:
                if S_INITIAL_WINDOW_SIZE in f.settings:
                    new = f.settings[S_INITIAL_WINDOW_SIZE]
                    for sid in self.windows:
                        self.windows[sid] += new - self.initial_window
                    self.initial_window = new
                if ack:
                    self.send(SettingsFrame(0, flags=["ACK"]))
        elif isinstance(f, WindowUpdateFrame):
            if f.stream_id == 0:
                self.conn_window += f.window_increment
            elif f.stream_id in self.windows:
                self.windows[f.stream_id] += f.window_increment
        elif isinstance(f, PingFrame):
            if ack and "ACK" not in f.flags:
                self.send(PingFrame(0, f.opaque_data, flags=["ACK"]))
        elif isinstance(f, HeadersFrame):
            fields = dict(self.dec.decode(f.data))
            if st is not None and st["status"] is None:
                st["status"] = fields.get(":status")
                self.out("response %d %s" % (f.stream_id, st["status"]))
            if "END_STREAM" in f.flags:
                self.end(f.stream_id)
        elif isinstance(f, DataFrame):
            if st is not None:
                st["body"] += f.data
            if self.show_data:
                self.out("data %d %r" % (f.stream_id, bytes(f.data)))
            if "END_STREAM" in f.flags:
                self.end(f.stream_id)
            # Credit for what arrived (a peer that reads), unless told not to.
            if ack and f.flow_controlled_length:
                n = f.flow_controlled_length
                self.send(WindowUpdateFrame(0, n))
                if not (st and st["ended"]):
                    self.send(WindowUpdateFrame(f.stream_id, n))
        elif isinstance(f, RstStreamFrame):
            if st is not None:
                st["rst"] = f.error_code
            self.out("rst %d %d" % (f.stream_id, f.error_code))
        elif isinstance(f, GoAwayFrame):
            self.out("goaway %d %d" % (f.error_code, f.last_stream_id))

    def end(self, sid):
        st = self.streams.get(sid)
        if st is not None:
            st["ended"] = True
        self.out("end %d" % sid)

    def settle(self, sids, within):
        """Reads until every stream in `sids` has ended or been reset, for at most `within`."""
        until = time.monotonic() + within
        while time.monotonic() < until and not all(self.done(s) for s in sids):
            if not self.pump(until - time.monotonic()):
                break

    def summary(self):
        self.out("summary sent=%d" % self.sent)


def good_json(p):
    body = b'{"x":5,"y":6}'
    sid = p.open(
        "POST",
        "/json",
        [("content-type", "application/json"), ("content-length", str(len(body)))],
    )
    p.data(sid, body, end_stream=True)
    p.settle([sid], 3.0)


def noread(port, streams, hold, window, path):
    huge = window == "huge"
    p = Peer(port, rcvbuf=4096 if huge else None)
    p.show_data = False
    if huge:
        p.preface({S_INITIAL_WINDOW_SIZE: MAX_WINDOW})
        p.send(WindowUpdateFrame(0, MAX_WINDOW - 65535))
    else:
        p.preface()
    for _ in range(streams):
        p.open("GET", path, end_stream=True)
    p.out("sent %d" % streams)
    time.sleep(hold)
    # Now read what the server left, without answering anything, until it has closed.
    while p.pump(1.0, ack=False):
        if time.monotonic() > p.deadline:
            p.out("still open")
            break
    total = sum(len(s["body"]) for s in p.streams.values())
    for sid, st in sorted(p.streams.items()):
        p.out(
            "stream %d status=%s data=%d rst=%s"
            % (sid, st["status"], len(st["body"]), st["rst"])
        )
    p.out("total-data %d" % total)


def trickle(port, interval, path, ctype, body):
    p = Peer(port)
    p.preface()
    sid = p.open(
        "POST", path, [("content-type", ctype), ("content-length", str(len(body)))]
    )
    for i in range(len(body)):
        p.pump(interval)
        if p.done(sid) or p.closed:
            break
        p.data(sid, body[i : i + 1], end_stream=i == len(body) - 1)
    p.settle([sid], 3.0)
    # What follows the answer (a reset of the stream still being sent), briefly.
    p.pump(0.2)
    p.summary()


def liar(port, path, ctype, declared, send, how):
    p = Peer(port)
    p.preface()
    p.pump(0.1)
    sid = p.open("POST", path, [("content-type", ctype), ("content-length", str(declared))])
    payload = (b'{"x":1,"y":2,"p":"' + b"a" * send)[:send]
    if how == "one":
        p.data(sid, payload, end_stream=True)
    else:
        p.data(sid, payload)
        p.pump(0.2)
        p.data(sid, b"", end_stream=True)
    p.settle([sid], 3.0)
    p.pump(0.2)
    good_json(p)
    p.summary()


def flood(port, streams, nbytes, declared, paths):
    p = Peer(port)
    p.preface()
    # The server's SETTINGS and window first, so the flood uses all the credit it has.
    p.pump(0.2)
    ctypes = {
        "/json": "application/json",
        "/form": "application/x-www-form-urlencoded",
        "/capped": "application/octet-stream",
    }
    left = {}
    for i in range(streams):
        path = paths[i % len(paths)]
        fields = [("content-type", ctypes.get(path, "application/octet-stream"))]
        if declared == "yes":
            fields.append(("content-length", str(nbytes)))
        sid = p.open("POST", path, fields)
        left[sid] = nbytes
    p.out("opened %d" % streams)
    chunk = b"a" * 16384
    while time.monotonic() < p.deadline:
        sending = [s for s, n in left.items() if n > 0 and not p.done(s)]
        if not sending:
            break
        progressed = False
        for sid in sending:
            room = min(p.conn_window, p.windows[sid], left[sid], len(chunk))
            if room <= 0:
                continue
            last = left[sid] == room
            if not p.data(sid, chunk[:room], end_stream=last):
                break
            left[sid] -= room
            progressed = True
        # Read what came (answers, resets, credit); wait a little only when stalled.
        if not p.pump(0.0 if progressed else 0.05):
            break
    p.settle(list(left), 5.0)
    unanswered = [s for s in left if not p.done(s)]
    p.out("unanswered %d" % len(unanswered))
    sid = p.open("GET", "/files/small.txt", end_stream=True)
    p.settle([sid], 3.0)
    # A body on the same connection: it needs the credit the server gave back for the
    # bodies it read or threw away.
    good_json(p)
    p.out("window %d" % p.conn_window)
    p.summary()


def main():
    port = int(sys.argv[1])
    mode = sys.argv[2]
    a = sys.argv[3:]
    if mode == "noread":
        noread(port, int(a[0]), float(a[1]), a[2], a[3])
    elif mode == "trickle":
        trickle(port, float(a[0]), a[1], a[2], a[3].encode())
    elif mode == "liar":
        liar(port, a[0], a[1], int(a[2]), int(a[3]), a[4])
    elif mode == "flood":
        flood(port, int(a[0]), int(a[1]), a[2], a[3:])
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
