"""An HTTP/1.1 server that sets cookies and echoes them, for the client cookie-jar tests
(nethttp's client_cookies.rs and the CLI's get_cookies_cli.rs).

Usage: python3 cookie_server.py
Prints "listening PORT" once it accepts connections on 127.0.0.1.

Every GET answers 200 with the request's Cookie field as the body ("" when there is none),
whatever the path, after these query parameters:
  set=VALUE   (repeatable) a Set-Cookie field with that value, sent as given;
  to=URL      answer 302 to URL instead of 200 (its Set-Cookie fields still sent);
  many=N      N more Set-Cookie fields: "mK=v" for K in start..start+N (start= defaults to
              0), each padded to size= bytes.
"""
import http.server
import socketserver
import sys
from urllib.parse import parse_qs, urlsplit


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        body = (self.headers.get("Cookie") or "").encode()
        to = query.get("to", [None])[0]
        self.send_response(302 if to else 200)
        if to:
            self.send_header("Location", to)
        for value in query.get("set", []):
            self.send_header("Set-Cookie", value)
        many = int(query.get("many", ["0"])[0])
        size = int(query.get("size", ["0"])[0])
        start = int(query.get("start", ["0"])[0])
        for k in range(start, start + many):
            value = f"m{k}=v"
            self.send_header("Set-Cookie", value + "x" * max(0, size - len(value)))
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print("listening", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
