#!/usr/bin/env python3
"""Keeps one pull-request comment per environment (plan) or one issue per
environment (drift) up to date through the GitHub REST API, with only the
standard library.

plan:  finds the comment whose first line is `<!-- infra-plan:ENV -->` on
       the pull request and updates it, or creates it.
drift: exit 2 opens the issue labelled `infra-drift` that holds
       `<!-- infra-drift:ENV -->`, or updates the open one; exit 0 comments
       "in sync again" on the open one and closes it; anything else posts
       nothing (the job fails on its own).

Environment: GITHUB_TOKEN, GITHUB_REPOSITORY (owner/name), GITHUB_API_URL
(default https://api.github.com), GITHUB_EVENT_PATH (the pull request's
number), GITHUB_SERVER_URL and GITHUB_RUN_ID (a link to the run),
INFRA_COMMAND, INFRA_ENVIRONMENT, INFRA_EXITCODE, INFRA_REPORT, and
INFRA_PR_NUMBER to name the pull request outside a pull_request event.

The token is sent only in the Authorization header and never printed.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

# GitHub refuses comment and issue bodies over 65,536 characters.
MAX_BODY = 65_000
LABEL = "infra-drift"


class ApiError(Exception):
    pass


class GitHub:
    def __init__(self, api, repository, token):
        self.api = api.rstrip("/")
        self.repository = repository
        self.token = token

    def request(self, method, path, body=None):
        url = f"{self.api}/repos/{self.repository}{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "infra-action")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            try:
                detail = json.loads(detail).get("message", detail)
            except (ValueError, AttributeError):
                pass
            raise ApiError(f"{method} {path}: HTTP {error.code}: {detail}") from None
        except urllib.error.URLError as error:
            raise ApiError(f"{method} {path}: {error.reason}") from None
        return json.loads(text) if text else None

    def every(self, path, query):
        """Every item of a paginated list, 100 per page."""
        page = 1
        while True:
            params = urllib.parse.urlencode({**query, "per_page": 100, "page": page})
            items = self.request("GET", f"{path}?{params}")
            yield from items
            if len(items) < 100:
                return
            page += 1


def fit(body):
    if len(body) <= MAX_BODY:
        return body
    note = "\n\n_(cut to fit GitHub's size limit; the full report is in the job's log)_\n"
    return body[: MAX_BODY - len(note)] + note


def pull_request_number():
    if os.environ.get("INFRA_PR_NUMBER"):
        return int(os.environ["INFRA_PR_NUMBER"])
    event_path = os.environ.get("GITHUB_EVENT_PATH")
    if not event_path or not os.path.exists(event_path):
        return None
    with open(event_path, encoding="utf-8") as file:
        event = json.load(file)
    for key in ("pull_request", "issue"):
        if isinstance(event.get(key), dict) and "number" in event[key]:
            return int(event[key]["number"])
    return None


def post_plan(github, environment, report):
    number = pull_request_number()
    if number is None:
        print("not a pull request (and no INFRA_PR_NUMBER): the plan is in the log, no comment")
        return
    marker = f"<!-- infra-plan:{environment} -->"
    body = fit(f"{marker}\n{report}")
    comments = github.every(f"/issues/{number}/comments", {})
    mine = next((c for c in comments if (c.get("body") or "").startswith(marker)), None)
    if mine:
        github.request("PATCH", f"/issues/comments/{mine['id']}", {"body": body})
        print(f"updated the plan comment for {environment} on #{number}")
    else:
        github.request("POST", f"/issues/{number}/comments", {"body": body})
        print(f"commented the plan for {environment} on #{number}")


def post_drift(github, environment, report, exitcode):
    marker = f"<!-- infra-drift:{environment} -->"
    title = f"infra drift: {environment}"
    issues = github.every("/issues", {"state": "open", "labels": LABEL})
    mine = next(
        (
            i
            for i in issues
            if "pull_request" not in i and marker in (i.get("body") or "")
        ),
        None,
    )
    if exitcode == 2:
        run = ""
        if os.environ.get("GITHUB_RUN_ID"):
            server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
            run = f"\n_Found by [this run]({server}/{github.repository}/actions/runs/{os.environ['GITHUB_RUN_ID']})._\n"
        body = fit(f"{marker}\n{report}{run}")
        if mine:
            github.request("PATCH", f"/issues/{mine['number']}", {"title": title, "body": body})
            print(f"updated drift issue #{mine['number']} for {environment}")
        else:
            created = github.request(
                "POST", "/issues", {"title": title, "body": body, "labels": [LABEL]}
            )
            print(f"opened drift issue #{created['number']} for {environment}")
    elif exitcode == 0:
        if mine:
            github.request(
                "POST",
                f"/issues/{mine['number']}/comments",
                {"body": f"In sync again: `infra drift --env {environment}` found no drift."},
            )
            github.request("PATCH", f"/issues/{mine['number']}", {"state": "closed"})
            print(f"closed drift issue #{mine['number']} for {environment}: in sync again")
        else:
            print(f"{environment} is in sync; no drift issue is open")
    else:
        print(f"infra drift failed (exit {exitcode}): no issue posted")


def main():
    command = os.environ.get("INFRA_COMMAND", "plan")
    environment = os.environ.get("INFRA_ENVIRONMENT", "")
    repository = os.environ.get("GITHUB_REPOSITORY", "")
    if not environment or not repository:
        print("post.py: INFRA_ENVIRONMENT and GITHUB_REPOSITORY are needed", file=sys.stderr)
        return 1
    try:
        exitcode = int(os.environ.get("INFRA_EXITCODE", ""))
    except ValueError:
        print("post.py: INFRA_EXITCODE is not a number: did the run step run?", file=sys.stderr)
        return 1
    report_path = os.environ.get("INFRA_REPORT", "")
    report = ""
    if report_path and os.path.exists(report_path):
        with open(report_path, encoding="utf-8", errors="replace") as file:
            report = file.read()
    github = GitHub(
        os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        repository,
        os.environ.get("GITHUB_TOKEN", ""),
    )
    try:
        if command == "plan":
            post_plan(github, environment, report)
        elif command == "drift":
            post_drift(github, environment, report, exitcode)
        else:
            print(f"post.py: nothing to post for `{command}`", file=sys.stderr)
            return 1
    except ApiError as error:
        print(f"::error::GitHub API: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
