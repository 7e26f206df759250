"""A keep-alive HTTP/1.1 server for the client interop tests (client_interop.rs) that closes
any connection left idle longer than IDLE_MS, without announcing it: no Keep-Alive header, no
Connection: close, just a FIN once the wait for the next request times out.

Usage: python3 idle_closer.py IDLE_MS LOG_PATH
Prints "listening PORT" once it accepts connections. Appends one flushed line per event to
LOG_PATH: "conn C" when connection C is accepted, "req C METHOD PATH BODY" per request.

Routes: GET /get/ID -> "ok /get/ID"; POST /post (body = an id) -> "ok BODY";
GET /eof/N -> N bytes framed by closing the connection (no Content-Length, not chunked);
GET /not-modified -> 304 with Content-Length: 5 and no body; HEAD /ANY -> GET's head.
A request whose path (GET) or body (POST) contains "drop-once" is logged and then, the first
time only, answered by closing the connection without a byte of response.
"""
import http.server
import socketserver
import sys
import threading

IDLE = int(sys.argv[1]) / 1000
LOG = open(sys.argv[2], "a", buffering=1)
LOCK = threading.Lock()
CONNS = [0]
DROPPED = set()


def record(line):
    with LOCK:
        LOG.write(line + "\n")
        LOG.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The socket timeout: waiting this long for the next request line ends the connection.
    timeout = IDLE

    def setup(self):
        super().setup()
        with LOCK:
            CONNS[0] += 1
            self.conn_id = CONNS[0]
        record("conn %d" % self.conn_id)

    def do_HEAD(self):
        record("req %d HEAD %s -" % (self.conn_id, self.path))
        self.send_response(200)
        self.send_header("Content-Length", str(len(b"ok " + self.path.encode())))
        self.end_headers()

    def do_GET(self):
        if self.path == "/not-modified":
            record("req %d GET %s -" % (self.conn_id, self.path))
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            # The length of the representation the client already has (RFC 9110 8.6).
            self.send_header("Content-Length", "5")
            self.end_headers()
            return
        if self.path.startswith("/eof/"):
            n = int(self.path[len("/eof/"):])
            record("req %d GET %s -" % (self.conn_id, self.path))
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self.wfile.write(bytes(i * 31 % 251 for i in range(n)))
            return
        self.reply(b"-")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.reply(self.rfile.read(n))

    def reply(self, body):
        record("req %d %s %s %s" % (self.conn_id, self.command, self.path, body.decode()))
        key = self.path if self.command == "GET" else body.decode()
        if "drop-once" in key:
            with LOCK:
                first = key not in DROPPED
                DROPPED.add(key)
            if first:
                self.close_connection = True
                return
        out = b"ok " + (body if self.command == "POST" else self.path.encode())
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
print("listening", srv.server_address[1], flush=True)
srv.serve_forever()
