"""A tiny web app for the shop's services and infra's service tests.

GET /        answers "version VERSION" (200), or 500 for a share of requests
             when ERROR_RATE is set (0.2: every fifth request).
GET /health  200, or 500 when FAIL_HEALTH=1.
GET /smoke   200 "ok VERSION", or 500 when FAIL_SMOKE=1.
GET /hang    never answers (for health checks that time out).

With IGNORE_TERM=1 it ignores SIGTERM (saying so on stdout), so that a stop
takes the whole grace period before SIGKILL.

Settings come from the environment: PORT (or the first argument), VERSION,
ERROR_RATE, FAIL_HEALTH, FAIL_SMOKE, EXIT_AT_ONCE, IGNORE_TERM. Secrets it is given (like
STRIPE_KEY) are never printed.
"""

import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

if os.environ.get("EXIT_AT_ONCE"):
    print("app: told to exit at once (EXIT_AT_ONCE)", file=sys.stderr)
    sys.exit(3)

if os.environ.get("IGNORE_TERM") == "1":
    def ignore_term(signum, frame):
        print("app: ignoring SIGTERM (IGNORE_TERM)", flush=True)

    signal.signal(signal.SIGTERM, ignore_term)

PORT = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8080"))
VERSION = os.environ.get("VERSION", "v1")
ERROR_RATE = float(os.environ.get("ERROR_RATE", "0") or 0)
FAIL_HEALTH = os.environ.get("FAIL_HEALTH") == "1"
FAIL_SMOKE = os.environ.get("FAIL_SMOKE") == "1"

lock = threading.Lock()
served = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, text):
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.answer(500 if FAIL_HEALTH else 200, "health " + VERSION)
        elif self.path == "/smoke":
            self.answer(500 if FAIL_SMOKE else 200, "ok " + VERSION)
        elif self.path == "/hang":
            time.sleep(3600)
        else:
            with lock:
                served[0] += 1
                n = served[0]
            failing = ERROR_RATE > 0 and int(n * ERROR_RATE) != int((n - 1) * ERROR_RATE)
            self.answer(500 if failing else 200, "version " + VERSION)

    def log_message(self, format, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
server.daemon_threads = True
print(f"app {VERSION} listening on 127.0.0.1:{PORT}", flush=True)
server.serve_forever()
