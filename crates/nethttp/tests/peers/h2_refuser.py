"""A raw HTTP/2 (h2c, prior knowledge) server written with the Python `h2` library, for the
client's HTTP/2 interop tests (client_h2_interop.rs): it turns requests away in the ways RFC
9113 §8.7 says guarantee they were not processed, so a client may resend them whatever the
method.

Usage: python3 h2_refuser.py MODE LOG_PATH
MODE:
  refuse-first  the first request (over all connections) is answered RST_STREAM(REFUSED_STREAM),
                every later one 200;
  refuse-all    every request is answered RST_STREAM(REFUSED_STREAM);
  goaway-second on the first connection, the first request is answered 200 and the second
                with GOAWAY(last_stream_id = the first one's stream, NO_ERROR), after which the
                connection is closed gracefully; every request on later connections gets 200;
  late-settings-5 a server slow to start, as seen across a long round trip: it sends its
                SETTINGS (MAX_CONCURRENT_STREAMS = 5) 300 ms after accepting, holds each
                request 200 ms before answering 200, and answers a request that would make
                more than 5 open on its connection RST_STREAM(REFUSED_STREAM), as hyper, h2 and
                nginx do.
Prints "listening PORT" once it accepts connections. Appends one flushed line per event to
LOG_PATH: "conn C" when connection C is accepted, "req C STREAM METHOD PATH BODY ACTION" per
complete request, ACTION being ok, refused or goaway. A 200 answer's body is "ok BODY".
"""
import collections
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

MODE = sys.argv[1]
LOG = open(sys.argv[2], "a", buffering=1)
LOCK = threading.Lock()
COUNT = {"conns": 0, "reqs": 0}


def record(line):
    with LOCK:
        LOG.write(line + "\n")
        LOG.flush()


def decide(conn_id, handled_here):
    """What to do with a complete request: ok, refused or goaway."""
    with LOCK:
        COUNT["reqs"] += 1
        n = COUNT["reqs"]
    if MODE == "refuse-all":
        return "refused"
    if MODE == "refuse-first":
        return "refused" if n == 1 else "ok"
    if MODE == "goaway-second":
        return "goaway" if conn_id == 1 and handled_here == 1 else "ok"
    if MODE == "late-settings-5":
        return "ok"
    raise SystemExit("unknown mode " + MODE)


def serve(sock, conn_id):
    config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    late = MODE == "late-settings-5"
    max_open = 5
    if late:
        time.sleep(0.3)
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_open,
        })
    conn.initiate_connection()
    if late:
        # Enforced here, by refusing, rather than by the library's error.
        conn.local_settings._settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = \
            collections.deque([1000])
    sock.sendall(conn.data_to_send())
    streams = {}
    held = []  # (due time, stream id, body) of requests being "processed"
    handled = 0
    last_ok = 0
    try:
        while True:
            if held:
                sock.settimeout(max(0.001, held[0][0] - time.monotonic()))
            else:
                sock.settimeout(None)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                data = None
            if data == b"":
                return
            now = time.monotonic()
            while held and held[0][0] <= now:
                _, sid, out = held.pop(0)
                conn.send_headers(sid, [(":status", "200"), ("content-length", str(len(out)))])
                conn.send_data(sid, out, end_stream=True)
            if data is None:
                sock.sendall(conn.data_to_send())
                continue
            going_away = False
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    h = dict(ev.headers)
                    streams[ev.stream_id] = [h[":method"], h[":path"], b""]
                elif isinstance(ev, h2.events.DataReceived):
                    if ev.stream_id in streams:
                        streams[ev.stream_id][2] += ev.data
                    try:
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    except Exception:
                        pass
                if isinstance(ev, (h2.events.RequestReceived, h2.events.StreamEnded)):
                    ended = ev.stream_ended if isinstance(ev, h2.events.RequestReceived) else ev
                    if ended is None or ev.stream_id not in streams:
                        continue
                    method, path, body = streams.pop(ev.stream_id)
                    action = decide(conn_id, handled)
                    if late and len(held) >= max_open:
                        action = "refused"
                    record("req %d %d %s %s %s %s" % (
                        conn_id, ev.stream_id, method, path, body.decode() or "-", action))
                    if action == "refused":
                        conn.reset_stream(ev.stream_id, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
                    elif action == "goaway":
                        conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR,
                                              last_stream_id=last_ok)
                        going_away = True
                        break
                    else:
                        handled += 1
                        last_ok = ev.stream_id
                        out = b"ok " + body
                        if late:
                            held.append((time.monotonic() + 0.2, ev.stream_id, out))
                            continue
                        conn.send_headers(ev.stream_id, [
                            (":status", "200"),
                            ("content-length", str(len(out))),
                            ("content-type", "text/plain"),
                        ])
                        conn.send_data(ev.stream_id, out, end_stream=True)
            sock.sendall(conn.data_to_send())
            if going_away:
                # Close gracefully: stop writing, read until the client closes (bounded), so
                # the GOAWAY is not lost to a reset.
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(5)
                while sock.recv(65536):
                    pass
                return
    except (OSError, h2.exceptions.ProtocolError):
        return
    finally:
        sock.close()


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("listening", srv.getsockname()[1], flush=True)
    while True:
        sock, _ = srv.accept()
        with LOCK:
            COUNT["conns"] += 1
            conn_id = COUNT["conns"]
        record("conn %d" % conn_id)
        threading.Thread(target=serve, args=(sock, conn_id), daemon=True).start()


main()
