#!/usr/bin/env python3
"""A tiny JSON API for the rest-api example: objects kept in memory.

    python3 examples/rest-api/server.py --port 8765 [--token SECRET] [--latency-ms N] [--quiet]
                                        [--faults SHARE [--seed N] [--fault-timeout-ms N]]

Routes, for any collection name (`/teams`, `/projects`...):
  POST   /<collection>        create from the JSON body; answers 201 with the object and its "id"
  GET    /<collection>        list the objects
  GET    /<collection>/<id>   read one (404 when there is none)
  PUT    /<collection>/<id>   replace its fields with the body
  PATCH  /<collection>/<id>   merge the body into it
  DELETE /<collection>/<id>   delete it (204; 404 when there is none)

With --token, every request must send `Authorization: Bearer <token>` (401
otherwise). --latency-ms delays every answer, as a distant API would (used by
bench/drift_http.sh); --quiet logs nothing per request. Python 3 standard
library only; listens on 127.0.0.1.

--faults 0.1 answers that share of the requests, before they have any
effect, with a fault: a timeout (no answer for --fault-timeout-ms, default
2000, then the connection is closed), a 429 with `Retry-After: 1`, a 429
without it, or a 503, in equal parts. Which requests are hit depends only on
--seed (default 0), the method, the path and how many times that method and
path were asked before, so a run replays the same faults whatever the order
of concurrent requests. `GET /_faults` answers the count per kind (and is
never faulted).
"""

import argparse
import hashlib
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OBJECTS = {}  # (collection, id) -> dict
LOCK = threading.Lock()
NEXT_ID = itertools.count(1)
FAULT_KINDS = ["timeout", "429-retry-after", "429", "503"]
FAULTS = {kind: 0 for kind in FAULT_KINDS}  # injected so far, by kind
ASKED = {}  # (method, path) -> how many times


class Handler(BaseHTTPRequestHandler):
    token = None
    latency = 0.0
    quiet = False
    faults = 0.0
    seed = 0
    fault_timeout = 2.0
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, Nagle and delayed
    # ACKs add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # one short line per request
        if not self.quiet:
            print("%s %s" % (self.command, self.path), flush=True)

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length == 0:
            return {}
        try:
            value = json.loads(self.rfile.read(length))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def fault(self):
        """The injected fault of this request, or None."""
        if not self.faults:
            return None
        key = (self.command, self.path)
        with LOCK:
            nth = ASKED.get(key, 0)
            ASKED[key] = nth + 1
        digest = hashlib.sha256(
            ("%d/%s/%s/%d" % (self.seed, self.command, self.path, nth)).encode()
        ).digest()
        roll = int.from_bytes(digest[:8], "big") / 2.0**64
        if roll >= self.faults:
            return None
        return FAULT_KINDS[digest[8] % 4]

    def route(self):
        if self.latency:
            time.sleep(self.latency)
        if self.token and self.headers.get("Authorization") != "Bearer " + self.token:
            self.reply(401, {"message": "missing or wrong bearer token"})
            return None
        if self.command == "GET" and self.path == "/_faults":
            with LOCK:
                self.reply(200, dict(FAULTS))
            return None
        kind = self.fault()
        if kind is not None:
            with LOCK:
                FAULTS[kind] += 1
            # The body is read (and dropped), so the connection stays usable.
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if kind == "timeout":
                time.sleep(self.fault_timeout)
                self.close_connection = True
            elif kind == "429-retry-after":
                self.send_response(429)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif kind == "429":
                self.reply(429, {"message": "too many requests"})
            else:
                self.reply(503, {"message": "unavailable"})
            return None
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if not parts or len(parts) > 2:
            self.reply(404, {"message": "no such route"})
            return None
        return parts[0], (parts[1] if len(parts) == 2 else None)

    def do_GET(self):
        route = self.route()
        if route is None:
            return
        collection, oid = route
        with LOCK:
            if oid is None:
                items = [o for (c, _), o in OBJECTS.items() if c == collection]
                self.reply(200, items)
            elif (collection, oid) in OBJECTS:
                self.reply(200, OBJECTS[(collection, oid)])
            else:
                self.reply(404, {"message": "no %s with id %s" % (collection, oid)})

    def do_POST(self):
        route = self.route()
        if route is None:
            return
        collection, oid = route
        body = self.body()
        if oid is not None or body is None:
            self.reply(400, {"message": "POST a JSON object to /<collection>"})
            return
        with LOCK:
            oid = str(next(NEXT_ID))
            obj = dict(body, id=oid)
            OBJECTS[(collection, oid)] = obj
            self.reply(201, obj)

    def write(self, merge):
        route = self.route()
        if route is None:
            return
        collection, oid = route
        body = self.body()
        if oid is None or body is None:
            self.reply(400, {"message": "send a JSON object to /<collection>/<id>"})
            return
        with LOCK:
            if (collection, oid) not in OBJECTS:
                self.reply(404, {"message": "no %s with id %s" % (collection, oid)})
                return
            base = OBJECTS[(collection, oid)] if merge else {}
            obj = dict(base, **body)
            obj["id"] = oid
            OBJECTS[(collection, oid)] = obj
            self.reply(200, obj)

    def do_PUT(self):
        self.write(merge=False)

    def do_PATCH(self):
        self.write(merge=True)

    def do_DELETE(self):
        route = self.route()
        if route is None:
            return
        collection, oid = route
        with LOCK:
            if OBJECTS.pop((collection, oid), None) is None:
                self.reply(404, {"message": "no %s with id %s" % (collection, oid)})
            else:
                self.reply(204)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=None, help="require this bearer token")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay every answer")
    parser.add_argument("--quiet", action="store_true", help="no line per request")
    parser.add_argument("--faults", type=float, default=0, help="share of requests to fault")
    parser.add_argument("--seed", type=int, default=0, help="seed of the faults")
    parser.add_argument("--fault-timeout-ms", type=float, default=2000, help="a timeout's wait")
    args = parser.parse_args()
    if not 0 <= args.faults <= 1:
        parser.error("--faults is a share of requests, from 0 to 1")
    Handler.faults = args.faults
    Handler.seed = args.seed
    Handler.fault_timeout = args.fault_timeout_ms / 1000.0
    Handler.token = args.token
    Handler.latency = args.latency_ms / 1000.0
    Handler.quiet = args.quiet
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening on http://127.0.0.1:%d" % args.port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
