#!/usr/bin/env python3
"""Connections that say part of the HTTP/2 preface, or nothing, and wait: the load of
bench/half_preface.sh. Opens CONNS connections to HOST:PORT, half of them sending
"PRI * HTTP/2.0\\r\\n" (the first 16 of the preface's 24 bytes), half nothing, waits SETTLE
seconds, then measures the server's CPU time (utime+stime of /proc/PID/stat) over SECONDS.
Prints: cpu_seconds<TAB>cpu_percent<TAB>connections_still_open

Usage: half_preface.py PID HOST:PORT [--conns 2000] [--settle 1] [--seconds 5]
"""
import argparse
import os
import socket
import time


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pid", type=int)
    ap.add_argument("addr")
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--settle", type=float, default=1)
    ap.add_argument("--seconds", type=float, default=5)
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    conns = []
    for i in range(args.conns):
        s = socket.create_connection((host, int(port)))
        if i % 2 == 0:
            s.sendall(b"PRI * HTTP/2.0\r\n")
        conns.append(s)
    time.sleep(args.settle)
    before = cpu_seconds(args.pid)
    time.sleep(args.seconds)
    used = cpu_seconds(args.pid) - before
    still = 0
    for s in conns:
        s.setblocking(False)
        try:
            still += s.recv(1) != b""
        except BlockingIOError:
            still += 1
        except OSError:
            pass
        s.close()
    print(f"{used:.2f}\t{100 * used / args.seconds:.1f}\t{still}")


if __name__ == "__main__":
    main()
