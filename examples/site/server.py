"""A third-party site that uses InsideOut on its sign-in page: Python's standard library only.

    python examples/site/server.py --insideout http://127.0.0.1:7860 --port 8000

GET / serves index.html with the InsideOut server's address and this site's sitekey filled in (`?lang=ko`,
`?theme=dark` set the widget's language and theme). POST /login sends the form's `insideout-response` to
{insideout}/api/v1/siteverify with this site's secret, server to server, and answers whether the visitor is
signed in. Without --sitekey/--secret (or INSIDEOUT_SITEKEY/INSIDEOUT_SECRET) it registers itself first with
`python -m insideout sites add example-site --origin http://127.0.0.1:8000`, which needs the app's
INSIDEOUT_DATA_DIR (and INSIDEOUT_SECRET_KEY, if the app has one) in the environment.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PAGE = (HERE / "index.html").read_text(encoding="utf-8")
MAX_FORM_BYTES = 16 * 1024


def insideout(*args: str) -> tuple[list[dict], str]:
    """Run `python -m insideout ARGS`: the JSON lines it printed, and its complaint if it failed."""
    command = [sys.executable, "-m", "insideout", *args]
    print("running:", " ".join(command[1:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    lines = []
    for line in done.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    problem = "" if done.returncode == 0 else (done.stderr.strip() or f"exit code {done.returncode}").splitlines()[-1]
    return lines, problem


def register(name: str, origin: str) -> tuple[str, str]:
    """(sitekey, secret) of this site, from the InsideOut command line: a new site, or, when one of this name
    exists already for this origin (a second run), the same site with a new secret (the old one stops working)."""
    lines, problem = insideout("sites", "add", name, "--origin", origin)
    if not problem:
        return lines[-1]["sitekey"], lines[-1]["secret"]
    if "exists already" not in problem:
        raise SystemExit(f"could not register the site: {problem}")
    sites, _ = insideout("sites", "list")
    mine = [s for s in sites if s.get("name") == name]
    if not mine or origin not in mine[0].get("origins", []):
        raise SystemExit(f"a site named {name!r} exists for other origins ({mine[0].get('origins') if mine else '?'}):"
                         f" pass --name, or --sitekey and --secret")
    lines, problem = insideout("sites", "rotate-secret", name)
    if problem:
        raise SystemExit(f"could not rotate the site's secret: {problem}")
    print(f"{name!r} was registered already: its secret was rotated (the old one no longer works)", flush=True)
    return lines[-1]["sitekey"], lines[-1]["secret"]


def siteverify(base: str, secret: str, response: str, remoteip: str | None) -> dict:
    """The InsideOut verdict on a token, or a refusal of our own when the server cannot be asked."""
    body = json.dumps({"secret": secret, "response": response, "remoteip": remoteip}).encode()
    request = urllib.request.Request(f"{base}/api/v1/siteverify", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as e:
        try:
            answer = json.loads(e.read())
        except ValueError:
            answer = {}
        return {"success": False, "error_codes": [answer.get("error") or f"http-{e.code}"]}
    except (urllib.error.URLError, OSError, ValueError) as e:
        return {"success": False, "error_codes": ["siteverify-unreachable"], "detail": str(e)}


RESULT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example Shop: {title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:440px;margin:0 auto;padding:24px 16px;color:#1b1b1b}}
dt{{font-weight:600}}dd{{margin:0 0 8px}}.ok{{color:#166534}}.no{{color:#b3261e}}</style></head>
<body><main><h1 id="result" class="{cls}">{title}</h1><p>{text}</p>
<h2>What siteverify said</h2><dl id="verdict">{rows}</dl>
<p><a href="/">Back to the sign-in page</a></p></main></body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "ExampleShop/1"
    config: argparse.Namespace  # set by main()

    def send_page(self, status: int, text: str) -> None:
        data = text.encode()
        base = self.config.insideout
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        # The widget needs its script, its API calls and its audio from the InsideOut server; nothing inline.
        self.send_header("Content-Security-Policy", f"default-src 'self'; script-src {base}; connect-src {base}; "
                         f"media-src {base}; style-src 'self' 'unsafe-inline'; form-action 'self'; "
                         "frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path not in ("/", "/index.html"):
            self.send_page(404, "<!doctype html><title>Not found</title><p>Not found</p>")
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        lang = "ko" if query.get("lang") == "ko" else "en"
        attrs = f' data-lang="{lang}"' if "lang" in query else ""
        if query.get("theme") in ("light", "dark", "auto"):
            attrs += f' data-theme="{query["theme"]}"'
        page = (PAGE.replace("{{base}}", html.escape(self.config.insideout))
                .replace("{{sitekey}}", html.escape(self.config.sitekey))
                .replace("{{widget_attrs}}", attrs))
        self.send_page(200, page)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/login":
            self.send_page(404, "<!doctype html><title>Not found</title><p>Not found</p>")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_FORM_BYTES:
            self.send_page(413, "<!doctype html><title>Too large</title><p>The form is too large.</p>")
            return
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace")).items()}
        username = form.get("username", "").strip() or "(no name)"
        verdict = siteverify(self.config.insideout, self.config.secret, form.get("insideout-response", ""),
                             self.client_address[0])
        codes = list(verdict.get("error_codes") or [])
        # A real site also checks that the token was earned on its own pages (and for the action it expects).
        if verdict.get("success") and verdict.get("hostname") not in (None, self.config.hostname):
            verdict["success"] = False
            codes.append("hostname-mismatch")
        ok = bool(verdict.get("success"))
        shown = ("success", "error_codes", "hostname", "method", "action", "challenge_ts", "sitekey")
        verdict["error_codes"] = codes
        rows = "".join(f"<dt>{k}</dt><dd id='v-{k}'>{html.escape(json.dumps(verdict.get(k)))}</dd>" for k in shown)
        title = "Signed in" if ok else "Refused"
        text = (f"Welcome, {html.escape(username)}. InsideOut vouched for this visit."
                if ok else f"The check did not pass: {html.escape(', '.join(codes) or 'no reason given')}.")
        self.send_page(200 if ok else 403, RESULT.format(title=title, cls="ok" if ok else "no", text=text, rows=rows))
        print(f"POST /login {username!r}: {'signed in' if ok else 'refused'} "
              f"(method {verdict.get('method')}, errors {codes})", flush=True)

    def log_message(self, format: str, *args) -> None:  # quieter than the default: the lines above say enough
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--insideout", default=os.environ.get("INSIDEOUT_URL", "http://127.0.0.1:7860"),
                        help="the InsideOut server's origin (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--sitekey", default=os.environ.get("INSIDEOUT_SITEKEY"))
    parser.add_argument("--secret", default=os.environ.get("INSIDEOUT_SECRET"))
    parser.add_argument("--name", default="example-site", help="the site's name when it registers itself")
    args = parser.parse_args(argv)
    args.insideout = args.insideout.rstrip("/")
    origin = f"http://{args.host}:{args.port}"
    args.hostname = args.host
    server = ThreadingHTTPServer((args.host, args.port), Handler)  # the port first: then register for it
    if not (args.sitekey and args.secret):
        args.sitekey, args.secret = register(args.name, origin)
        print(f"site {args.name!r} for {origin}: sitekey {args.sitekey} (the secret stays in this process)",
              flush=True)
    Handler.config = args
    print(f"Example Shop on {origin}/ (InsideOut at {args.insideout}, sitekey {args.sitekey})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
