#!/usr/bin/env python3
"""A stub of the part of GitHub's REST API that action/post.py uses, on a
loopback port, for tests/ci_examples.rs: issue comments (list, create,
update) and issues (list open by label, create, update), paginated as
GitHub does, with bearer-token checking.

    github_stub.py --token T [--repo owner/name] [--noise N]

Prints the port on its first line, then serves until killed. `GET /_state`
returns every comment and issue, and the log of requests, as JSON.
`--noise N` seeds N unrelated comments on pull request 7 and N unrelated
open drift-labelled pull requests, so the client must page.
"""

import argparse
import json
import re
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock

parser = argparse.ArgumentParser()
parser.add_argument("--token", required=True)
parser.add_argument("--repo", default="acme/stack")
parser.add_argument("--noise", type=int, default=0)
args = parser.parse_args()

lock = Lock()
state = {"comments": [], "issues": [], "log": []}
next_id = [1000]


def new_id():
    next_id[0] += 1
    return next_id[0]


for n in range(args.noise):
    state["comments"].append({"id": new_id(), "issue": 7, "body": f"unrelated comment {n}"})
    # Pull requests show up in the issues list too; the client must skip them.
    state["issues"].append(
        {
            "number": new_id(),
            "title": f"a pull request {n}",
            "body": "<!-- infra-drift:dev --> quoted in a pull request",
            "state": "open",
            "labels": [{"name": "infra-drift"}],
            "pull_request": {"url": "x"},
        }
    )

prefix = f"/repos/{args.repo}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *_):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = url.path
        if path == "/_state":
            with lock:
                return self.reply(200, state)
        authorized = self.headers.get("Authorization") == f"Bearer {args.token}"
        with lock:
            state["log"].append({"method": method, "path": self.path, "authorized": authorized})
        if not authorized:
            return self.reply(401, {"message": "Bad credentials"})
        if not path.startswith(prefix):
            return self.reply(404, {"message": "Not Found"})
        rest = path[len(prefix):]
        page = int(query.get("page", 1))
        per_page = min(int(query.get("per_page", 30)), 100)

        def paged(items):
            return items[(page - 1) * per_page : page * per_page]

        with lock:
            if m := re.fullmatch(r"/issues/(\d+)/comments", rest):
                number = int(m.group(1))
                if method == "GET":
                    items = [c for c in state["comments"] if c["issue"] == number]
                    return self.reply(200, paged(items))
                if method == "POST":
                    comment = {"id": new_id(), "issue": number, "body": self.body()["body"]}
                    state["comments"].append(comment)
                    return self.reply(201, comment)
            if m := re.fullmatch(r"/issues/comments/(\d+)", rest):
                comment = next((c for c in state["comments"] if c["id"] == int(m.group(1))), None)
                if comment is None:
                    return self.reply(404, {"message": "Not Found"})
                if method == "PATCH":
                    comment["body"] = self.body()["body"]
                    return self.reply(200, comment)
            if rest == "/issues":
                if method == "GET":
                    wanted = query.get("state", "open")
                    label = query.get("labels")
                    items = [
                        i
                        for i in state["issues"]
                        if (wanted == "all" or i["state"] == wanted)
                        and (label is None or any(l["name"] == label for l in i["labels"]))
                    ]
                    return self.reply(200, paged(items))
                if method == "POST":
                    body = self.body()
                    issue = {
                        "number": new_id(),
                        "title": body["title"],
                        "body": body.get("body", ""),
                        "state": "open",
                        "labels": [{"name": l} for l in body.get("labels", [])],
                    }
                    state["issues"].append(issue)
                    return self.reply(201, issue)
            if m := re.fullmatch(r"/issues/(\d+)", rest):
                issue = next((i for i in state["issues"] if i["number"] == int(m.group(1))), None)
                if issue is None:
                    return self.reply(404, {"message": "Not Found"})
                if method == "PATCH":
                    for key, value in self.body().items():
                        if key in ("title", "body", "state"):
                            issue[key] = value
                    return self.reply(200, issue)
        return self.reply(404, {"message": f"stub: no route for {method} {rest}"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
