"""A tiny local site with an activation-like form, served over real HTTP, for the trace tests.

Pages: ``/`` (a name field and the activation link), ``/activate?token=…`` (password,
confirmation, secret answer, hidden token, "Validate"), ``/activated`` (a "Continue"
button). ``POST /activate`` with ``answer=bad-…`` re-renders the form with the answer echoed
into its ``value`` (what a careless portal does), to test failures inside a secret section.
"""
from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from secret_scan import TOKEN


_STYLE = "<style>body{font-family:sans-serif} label{display:block;margin:8px 0}</style>"


def _page(title: str, body: str) -> bytes:
    return f"<!doctype html><html><head><title>{title}</title>{_STYLE}</head><body><h1>{title}</h1>{body}</body></html>".encode()


def _activation_form(token: str, answer: str = "", error: str = "") -> bytes:
    alert = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    return _page(
        "Activate your user account",
        f"""{alert}<form method="post" action="/activate?token={token}">
  <input type="hidden" name="token" value="{token}">
  <label>Password <input id="password" name="password" type="password"></label>
  <label>Confirm password <input id="confirm" name="confirm" type="password"></label>
  <label>Answer <input id="answer" name="answer" type="text" value="{html.escape(answer)}"></label>
  <button type="submit">Validate</button>
</form>""",
    )


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def _send(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            self._send(_page("Supplier", f'<label>Company <input id="name"></label><a href="/activate?token={TOKEN}">Activate</a>'))
        elif url.path == "/activate":
            self._send(_activation_form(parse_qs(url.query).get("token", [""])[0]))
        elif url.path == "/activated":
            self._send(_page("Account activated", '<p id="done"></p><button onclick="document.getElementById(\'done\').textContent=\'Welcome\'">Continue</button>'))
        else:
            self._send(b"not found", 404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode())
        answer = form.get("answer", [""])[0]
        if answer.startswith("bad-"):
            self._send(_activation_form(TOKEN, answer, "The passwords do not match."), 200)
        else:
            self._send(b"", 303, {"Location": "/activated"})


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
