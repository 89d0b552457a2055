"""The vps example's API: GET / answers {"version": VERSION}; GET /health
answers ok. PORT is the first argument. API_TOKEN (a secret) is read from
the environment and never printed."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("VERSION", "v1")
HAS_TOKEN = bool(os.environ.get("API_TOKEN"))


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            body = b"ok\n"
        else:
            body = (json.dumps({"version": VERSION, "token": HAS_TOKEN}) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Api)
server.daemon_threads = True
print(f"api {VERSION} on 127.0.0.1:{sys.argv[1]}", flush=True)
server.serve_forever()
