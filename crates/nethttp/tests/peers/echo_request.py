"""An HTTP/1.1 server for the client helper tests (client_helpers.rs) that says, as JSON,
what it received, decoded by Python's own parsers: the query (urllib.parse), a form body
(urllib.parse), a JSON body (json), a multipart/form-data body (email.parser), and the
credentials of Authorization (base64 for Basic).

Usage: python3 echo_request.py
Prints "listening PORT" once it accepts connections.

Routes:
  ANY /echo...            -> 200, application/json: the description below
  GET /status/NNN         -> status NNN, a short JSON body
  GET /bad-json           -> 200, application/json, a body that is not JSON (cut short)
  GET /large/N            -> 200, N bytes of "x" with a Content-Length
  GET /large-chunked/N    -> 200, N bytes of "x" in 1000-byte chunks, no length
  GET /latin1             -> 200, text/plain, bytes that are not UTF-8
  GET /redirect?to=URL&code=N -> status N (default 302) with Location: URL

The description: {"method", "path", "query": [[k, v]...], "headers": {name: [values]},
"framing": "chunked" | "length" | "none", "body_size", "auth": {...} or null,
"form": [[k, v]...] or null, "json": any or null, "multipart": [{"name", "filename",
"content_type", "size", "crc32", "text"}] or null}; "text" is the part as UTF-8 when it is
that and at most 256 bytes.
"""
import base64
import email.parser
import email.policy
import http.server
import json
import sys
import urllib.parse
import zlib


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10

    def log_message(self, *args):
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return "chunked", body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is not None:
            return "length", self.rfile.read(int(length))
        return "none", b""

    def reply(self, status, body, content_type="application/json", extra=()):
        if status in (204, 304):
            # Bodiless statuses (RFC 9110 §15.3.5, §15.4.5): no content, no length.
            body = b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        framing, body = self.read_body()
        path = url.path
        params = dict(urllib.parse.parse_qsl(url.query))
        if path.startswith("/status/"):
            status = int(path[len("/status/"):])
            return self.reply(status, json.dumps({"status": status}).encode())
        if path == "/bad-json":
            return self.reply(200, b'{"ok": tru')
        if path.startswith("/large/"):
            return self.reply(200, b"x" * int(path[len("/large/"):]), "text/plain")
        if path.startswith("/large-chunked/"):
            n = int(path[len("/large-chunked/"):])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            while n > 0:
                k = min(n, 1000)
                self.wfile.write(b"%x\r\n%s\r\n" % (k, b"x" * k))
                n -= k
            self.wfile.write(b"0\r\n\r\n")
            return
        if path == "/latin1":
            return self.reply(200, "café".encode("latin-1"), "text/plain; charset=latin-1")
        if path == "/redirect":
            code = int(params.get("code", "302"))
            return self.reply(code, b"", "text/plain", [("Location", params["to"])])
        if path.startswith("/echo"):
            return self.reply(200, json.dumps(self.describe(url, framing, body)).encode())
        return self.reply(404, b'{"error": "no route"}')

    def describe(self, url, framing, body):
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        ctype = self.headers.get("Content-Type", "")
        essence = ctype.split(";")[0].strip().lower()
        out = {
            "method": self.command,
            "path": url.path,
            "query": urllib.parse.parse_qsl(url.query, keep_blank_values=True, strict_parsing=bool(url.query)),
            "headers": headers,
            "framing": framing,
            "body_size": len(body),
            "auth": auth(self.headers.get("Authorization")),
            "form": None,
            "json": None,
            "multipart": None,
        }
        if essence == "application/x-www-form-urlencoded":
            out["form"] = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        elif essence.endswith("json"):
            out["json"] = json.loads(body)
        elif essence == "multipart/form-data":
            out["multipart"] = multipart(ctype, body)
        return out

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def auth(value):
    if value is None:
        return None
    scheme, _, rest = value.partition(" ")
    if scheme == "Basic":
        user, _, password = base64.b64decode(rest, validate=True).decode().partition(":")
        return {"scheme": scheme, "user": user, "password": password}
    return {"scheme": scheme, "token": rest}


def multipart(ctype, body):
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    msg = parser.parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart() or msg.defects:
        raise ValueError("not a well-formed multipart body: %r" % (msg.defects,))
    parts = []
    for part in msg.iter_parts():
        data = part.get_payload(decode=True)
        try:
            text = data.decode() if len(data) <= 256 else None
        except UnicodeDecodeError:
            text = None
        parts.append({
            "name": part.get_param("name", header="content-disposition"),
            "filename": part.get_filename(),
            "content_type": part.get("Content-Type"),
            "size": len(data),
            "crc32": zlib.crc32(data),
            "text": text,
        })
    return parts


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("listening", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
