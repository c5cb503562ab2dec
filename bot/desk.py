"""The captcha desk of a batch: one local web page where a person answers every waiting captcha.

Why: on the live portal every sign-up needs a person to read a captcha. A batch of hundreds
runs in the background; nobody should sit at a terminal answering one prompt after another
while the other suppliers wait behind the prompt's lock (`bot.captcha.PromptDesk`). The desk
gives the person an inbox instead, as RPA suites do: every supplier waiting for a person is a
card (SIRET, company, login e-mail, the image, an answer field, "Another image", how long it
has waited); the answer goes straight to the worker that waits for it, and the suppliers not
waiting keep running.

How: `WebDesk.answer` (the `bot.captcha.CaptchaDesk` protocol) queues a request and blocks the
calling worker until the page posts an answer, or CHORUS_DESK_TIMEOUT_S passes (None: the
supplier ends ``captcha_required``, which ``--retry-failed`` takes up again). ``""`` is
"another image", as for the other desks. The page is Starlette served by uvicorn in a thread
(as the sandbox does); it polls ``waiting`` every second with ``fetch`` (simpler than SSE and
enough for a person's pace), keeps the cards already shown (a half-typed answer survives), and
keeps the keyboard focus on the oldest answer field unless the person is in another card:
type, Enter, type, Enter.

Security: the desk shows personal data and lets its visitor type into sign-ups, so:

- it listens on 127.0.0.1 unless ``--desk-host`` says otherwise (a printed warning then);
- every path starts with a random token (``http://127.0.0.1:PORT/<token>/``): without it,
  the page, the images and the answer endpoint all answer 403 (compared in constant time);
  the token is registered as a secret, so no log line can show it;
- images and answers are never logged (uvicorn's access log is off; log lines name the
  supplier and the try, never what was typed), answers are registered as secrets at once,
  and the answers are sent as JSON with ``no-store``/``no-referrer`` headers.

Attaching (`chorus-bot desk`): the batch writes its desk address into ``desk.url``, a 0600
file in its run folder (``ARTIFACTS_DIR/<run_id>/``, 0700), removed when the desk stops.
`chorus-bot desk` finds the running batch through the journal (its lock says a batch runs,
its runs table names the latest run) and prints that file. Why a file rather than a column
of the journal's runs table: the address carries the token, a secret, and the journal holds
no secret in clear (`status`, reports and `report --run` read it freely); a private file
beside the run's artifacts is readable only by the account that runs the bot and goes away
with the desk.

Notice: a log line each time a supplier starts waiting, and CHORUS_DESK_NOTIFY_COMMAND (run
with the desk address as last argument) when the desk goes from nobody waiting to somebody:
one message per wave of captchas, not one per supplier, so a team chat is not flooded.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from loguru import logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.errors import ConfigError
from bot.models import Supplier
from bot.private import write_private
from bot.secrets import registry
from bot.settings import Settings, env_name
from bot.tracing import make_run_dir, run_dir

DEFAULT_HOST = "127.0.0.1"
ADDRESS_FILE = "desk.url"  # in the run folder, 0600, while the desk runs
ENV_URL = "CHORUS_DESK_URL"  # what the notify command is told, on top of the address argument
# A supplier asked again within this many seconds of its last answer (a refused answer,
# "another image") keeps its place in the queue and its waiting time.
SAME_WAIT_S = 120.0
NOTIFY_TIMEOUT_S = 30.0
_STDERR_CHARS = 200
_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; form-action 'none'",
}

def desk_address(settings: Settings, run_id: str) -> str | None:
    """The address of run `run_id`'s desk, from its private file; None when it has none."""
    try:
        return (run_dir(settings, run_id) / ADDRESS_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only reaches this machine."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def notify_argv(command: str | None) -> list[str] | None:
    """CHORUS_DESK_NOTIFY_COMMAND split into argv (None when unset); ConfigError if it cannot run."""
    name = env_name("desk_notify_command")
    if command is None or not command.strip():
        return None
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{name}: cannot be parsed ({exc})") from None
    if not argv:
        return None
    if shutil.which(argv[0]) is None:
        raise ConfigError(f"{name}: '{argv[0]}' is not an executable program")
    return argv


@dataclass
class _Request:
    """One captcha image waiting for a person."""

    id: str
    image: Path
    login_email: str
    siret: str
    company: str
    attempt: int
    attempts: int
    since: float  # time.monotonic() when the supplier started waiting
    answer: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def public(self, now: float) -> dict:
        """What the page shows: never the image's path, never an answer."""
        return {
            "id": self.id, "siret": self.siret, "company": self.company, "login_email": self.login_email,
            "attempt": self.attempt, "attempts": self.attempts, "waited_s": round(now - self.since, 1),
            "image": f"image/{self.id}",
        }


class WebDesk:
    """The desk's queue and its web page (see the module doc). Thread-safe: every worker calls
    `answer` from its own thread, the page's handlers run on uvicorn's."""

    def __init__(self, settings: Settings, *, host: str = DEFAULT_HOST, port: int = 0,
                 suppliers: Iterable[Supplier] = ()) -> None:
        self.timeout_s = settings.desk_timeout_s
        self.host = host
        self.port = port
        self.token = secrets.token_urlsafe(24)
        registry.add(self.token, label="desk token")
        self._notify = notify_argv(settings.desk_notify_command)
        self._directory = {s.email.casefold(): (s.siret, s.company_name or "") for s in suppliers}
        self._lock = threading.Lock()
        self._waiting: dict[str, _Request] = {}
        self._last: dict[str, tuple[float, float]] = {}  # email -> (since, answered at)
        self._closed = False
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._address_file: Path | None = None

    # -- the address -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The address to open, token included (a secret: print it, never log it)."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/{self.token}/"

    @property
    def local(self) -> bool:
        return is_loopback(self.host)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> "WebDesk":
        """Bind the socket (a taken port is a ConfigError) and serve the page in a thread."""
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError:
                sock.close()
                raise
        except OSError as exc:
            raise ConfigError(f"the captcha desk cannot listen on {self.host}:{self.port}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        sock.listen(64)
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app(), log_config=None, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="captcha-desk", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError("the captcha desk did not start (see the error above)")
            time.sleep(0.02)  # bounded start-up poll: uvicorn has no "started" event to wait on
        return self

    def stop(self) -> None:
        """Release every waiting worker (no answer), stop serving, remove the address file."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = list(self._waiting.values()), {}
        for request in waiting:
            request.done.set()
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT_S)
            if thread.is_alive():
                server.force_exit = True
                thread.join(_STOP_TIMEOUT_S)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._address_file is not None:
            with contextlib.suppress(FileNotFoundError):
                self._address_file.unlink()
            self._address_file = None

    @contextlib.contextmanager
    def serving(self) -> Iterator["WebDesk"]:
        """Started for the `with` block (`run_batch(web_desk=...)` attaches it to the run)."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def attach(self, settings: Settings, run_id: str) -> None:
        """Record the address in the run folder, for `chorus-bot desk` (see the module doc)."""
        self._address_file = write_private(make_run_dir(settings, run_id) / ADDRESS_FILE, self.url + "\n")

    # -- the queue ---------------------------------------------------------------------------

    def waiting_count(self) -> int:
        with self._lock:
            return len(self._waiting)

    def answer(self, image: Path, *, login_email: str, attempt: int, attempts: int) -> str | None:
        """Queue the image and wait for the person (see `bot.captcha.CaptchaDesk`)."""
        siret, company = self._directory.get(login_email.casefold(), ("", ""))
        now = time.monotonic()
        with self._lock:
            if self._closed:
                return None
            since, answered = self._last.pop(login_email.casefold(), (now, float("-inf")))
            request = _Request(
                id=secrets.token_hex(8), image=image, login_email=login_email, siret=siret, company=company,
                attempt=attempt, attempts=attempts, since=since if now - answered <= SAME_WAIT_S else now,
            )
            self._waiting[request.id] = request
            count = len(self._waiting)
        logger.info(f"captcha: waiting for a person at the desk (try {attempt} of {attempts}; "
                    f"{count} supplier(s) waiting)")
        if count == 1 and self._notify:
            self._run_notify(count)
        request.done.wait(self.timeout_s)
        with self._lock:  # an answer taken before this pop counts, even a split second late
            self._waiting.pop(request.id, None)
            if request.answer is not None:
                self._last[login_email.casefold()] = (request.since, time.monotonic())
            closed = self._closed
        if request.answer is None:
            if closed:
                logger.warning("captcha: the desk stopped before anybody answered")
            else:
                logger.warning(f"captcha: nobody answered at the desk within {self.timeout_s:g} s"
                               f" (try {attempt} of {attempts})")
            return None
        logger.info("captcha: the person asked for another image" if request.answer == ""
                    else "captcha: answered at the desk")
        return request.answer

    def _take(self, request_id: str, answer: str) -> bool:
        """Hand `answer` to the worker waiting on `request_id`; False if it no longer waits."""
        with self._lock:
            request = self._waiting.pop(request_id, None)
            if request is None:
                return False
            if answer:
                registry.add(answer, label="captcha")
            request.answer = answer
        request.done.set()
        return True

    def _snapshot(self) -> list[dict]:
        now = time.monotonic()
        with self._lock:
            requests = sorted(self._waiting.values(), key=lambda r: (r.since, r.id))
            return [r.public(now) for r in requests]

    def _image(self, request_id: str) -> bytes | None:
        """The PNG of a supplier still waiting; None when it no longer waits."""
        with self._lock:
            request = self._waiting.get(request_id)
            path = request.image if request is not None else None
        try:
            return path.read_bytes() if path is not None else None
        except OSError:
            return None

    # -- the notice --------------------------------------------------------------------------

    def _run_notify(self, count: int) -> None:
        """Start CHORUS_DESK_NOTIFY_COMMAND with the address; a thread reaps it (never blocks a
        worker). Its environment: the bot's without the bot's own CHORUS_ settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
        env[ENV_URL] = self.url
        assert self._notify is not None
        try:
            proc = subprocess.Popen([*self._notify, self.url], env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            logger.warning(f"desk notify command could not start: {registry.mask(str(exc))}")
            return
        threading.Thread(target=_reap, args=(proc,), name="desk-notify", daemon=True).start()

    # -- the web page ------------------------------------------------------------------------

    def app(self) -> Starlette:
        def guarded(handler):
            async def endpoint(request: Request) -> Response:
                given = request.path_params.get("token", "")
                if not secrets.compare_digest(given.encode(), self.token.encode()):
                    return _forbidden()
                response = await handler(request)
                response.headers.update(_HEADERS)
                return response
            return endpoint

        async def page(request: Request) -> Response:
            return Response(PAGE, media_type="text/html; charset=utf-8")

        async def to_page(request: Request) -> Response:
            return RedirectResponse(f"/{self.token}/", status_code=303)

        async def script(request: Request) -> Response:
            return Response(SCRIPT, media_type="text/javascript; charset=utf-8")

        async def waiting(request: Request) -> Response:
            return JSONResponse({"waiting": self._snapshot(), "timeout_s": self.timeout_s})

        async def image(request: Request) -> Response:
            png = self._image(request.path_params["id"])
            if png is None:
                return PlainTextResponse("no longer waiting", status_code=404)
            return Response(png, media_type="image/png")

        async def answer(request: Request) -> Response:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return JSONResponse({"error": "expected a JSON object"}, status_code=400)
            typed = body.get("answer", "")
            if not isinstance(typed, str):
                return JSONResponse({"error": "answer: expected text"}, status_code=400)
            typed = "" if body.get("another") is True else typed.strip()
            if not typed and body.get("another") is not True:
                return JSONResponse({"error": "type the characters shown, or ask for another image"},
                                    status_code=400)
            if not self._take(request.path_params["id"], typed):
                return JSONResponse({"error": "this supplier no longer waits"}, status_code=404)
            return Response(status_code=204)

        async def forbidden(request: Request) -> Response:
            return _forbidden()

        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return Starlette(routes=[
            Route("/{token}", guarded(to_page)),
            Route("/{token}/", guarded(page)),
            Route("/{token}/desk.js", guarded(script)),
            Route("/{token}/waiting", guarded(waiting)),
            Route("/{token}/image/{id}", guarded(image)),
            Route("/{token}/answer/{id}", guarded(answer), methods=["POST"]),
            Route("/{rest:path}", forbidden, methods=methods),
        ])


def _forbidden() -> Response:
    return PlainTextResponse("403: this address needs the desk's token (chorus-bot desk prints it)",
                             status_code=403, headers=_HEADERS)


def _reap(proc: subprocess.Popen) -> None:
    try:
        _, err = proc.communicate(timeout=NOTIFY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 9)
        proc.communicate()
        logger.warning(f"desk notify command still ran after {NOTIFY_TIMEOUT_S:g} s; it was killed")
        return
    if proc.returncode != 0:
        lines = [line.strip() for line in err.decode("utf-8", errors="replace").splitlines() if line.strip()]
        first = registry.mask(lines[0])[:_STDERR_CHARS] if lines else ""
        logger.warning(f"desk notify command exited with code {proc.returncode}" + (f": {first}" if first else ""))


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Captcha desk</title>
<style>
  body { font: 16px/1.4 system-ui, sans-serif; margin: 0; background: #f4f6fa; color: #1f2a44; }
  header.top { background: #1f2a44; color: #fff; padding: .8rem 1.5rem; }
  header.top h1 { margin: 0; font-size: 1.3rem; }
  header.top p { margin: .2rem 0 0; opacity: .85; font-size: .9rem; }
  main { padding: 1rem 1.5rem; }
  #status { font-weight: 600; }
  #waiting { display: grid; grid-template-columns: repeat(auto-fill, minmax(21rem, 1fr)); gap: 1rem; }
  article { background: #fff; border: 1px solid #d5dbe7; border-radius: 8px; padding: .8rem 1rem; }
  article:focus-within { border-color: #2f5fd0; box-shadow: 0 0 0 3px #c9d8fb; }
  article h2 { font-size: 1.05rem; margin: 0; font-variant-numeric: tabular-nums; }
  .company { margin: .1rem 0; font-weight: 600; }
  .email, .meta { margin: .1rem 0; color: #5a6480; font-size: .9rem; }
  .meta .late { color: #b3261e; font-weight: 600; }
  article img { display: block; margin: .6rem 0; max-width: 100%; border: 1px solid #e3e7ef; }
  label { display: block; font-size: .9rem; margin-bottom: .3rem; }
  input { font: 1.3rem/1.2 ui-monospace, monospace; letter-spacing: .15em; text-transform: uppercase;
          width: 10rem; padding: .25rem .4rem; }
  button { font: inherit; padding: .3rem .7rem; margin-left: .3rem; }
  .error { color: #b3261e; font-size: .9rem; min-height: 1.2em; margin: .3rem 0 0; }
</style>
</head>
<body>
<header class="top">
  <h1>Captcha desk</h1>
  <p>Type the characters shown and press Enter; the next field takes the focus. New captchas appear by themselves.</p>
</header>
<main>
  <p id="status" role="status" aria-live="polite">Loading…</p>
  <section id="waiting" aria-label="Suppliers waiting for a person"></section>
</main>
<script src="desk.js"></script>
</body>
</html>
"""

SCRIPT = r"""
"use strict";
const list = document.getElementById("waiting");
const statusLine = document.getElementById("status");
const shown = new Map();  // request id -> {card, since, timeout}
let timeoutS = 0;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function spacedSiret(siret) {
  return siret.length === 14 ? `${siret.slice(0, 3)} ${siret.slice(3, 6)} ${siret.slice(6, 9)} ${siret.slice(9)}` : siret;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return m ? `${m} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

function card(r) {
  const who = r.siret ? `SIRET ${spacedSiret(r.siret)}` : r.login_email;
  const input = el("input", {name: "answer", autocomplete: "off", autocapitalize: "characters",
                             spellcheck: "false", "aria-describedby": `meta-${r.id}`});
  const another = el("button", {type: "button"}, "Another image");
  const error = el("p", {class: "error", role: "alert"});
  const waited = el("span", {class: "waited"});
  const form = el("form", {},
    el("label", {}, "Characters shown in the image", el("br"), input),
    el("button", {type: "submit"}, "Send"), another, error);
  const article = el("article", {"data-id": r.id, "aria-labelledby": `who-${r.id}`},
    el("h2", {id: `who-${r.id}`}, who),
    ...(r.company ? [el("p", {class: "company"}, r.company)] : []),
    el("p", {class: "email"}, r.login_email),
    el("img", {src: r.image, alt: `Captcha image for ${who}`, width: "180", height: "60"}),
    form,
    el("p", {class: "meta", id: `meta-${r.id}`}, `try ${r.attempt} of ${r.attempts} · waiting `, waited));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const typed = input.value.trim();
    if (!typed) { error.textContent = "Type the characters shown, or press Another image."; return; }
    send(r.id, {answer: typed}, error);
  });
  another.addEventListener("click", () => send(r.id, {another: true}, error));
  return {card: article, since: performance.now() / 1000 - r.waited_s, waited};
}

async function send(id, body, error) {
  const entry = shown.get(id);
  if (!entry) return;
  entry.card.querySelectorAll("input, button").forEach((n) => { n.disabled = true; });
  let answer;
  try {
    answer = await fetch(`answer/${id}`, {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(body), cache: "no-store"});
  } catch (e) {
    answer = null;
  }
  if (answer && (answer.status === 204 || answer.status === 404)) {
    drop(id);
    focusOldest();
    return;
  }
  entry.card.querySelectorAll("input, button").forEach((n) => { n.disabled = false; });
  error.textContent = answer ? `Not sent (HTTP ${answer.status}).` : "Not sent: the desk does not answer.";
}

function drop(id) {
  const entry = shown.get(id);
  if (entry) { entry.card.remove(); shown.delete(id); }
}

function focusOldest() {
  const active = document.activeElement;
  if (active && active !== document.body && list.contains(active) && !active.disabled) return;
  const first = list.querySelector("article input:not([disabled])");
  if (first) first.focus();
}

function tick() {
  const now = performance.now() / 1000;
  for (const entry of shown.values()) {
    const seconds = now - entry.since;
    entry.waited.textContent = duration(seconds);
    entry.waited.className = timeoutS && seconds > timeoutS * 0.8 ? "waited late" : "waited";
  }
}

function render(waiting) {
  const ids = new Set(waiting.map((r) => r.id));
  for (const id of [...shown.keys()]) if (!ids.has(id)) drop(id);
  waiting.forEach((r, index) => {
    if (shown.has(r.id)) return;
    const entry = card(r);
    shown.set(r.id, entry);
    const next = waiting.slice(index + 1).find((o) => shown.has(o.id) && o.id !== r.id);
    list.insertBefore(entry.card, next ? shown.get(next.id).card : null);
  });
  const n = waiting.length;
  statusLine.textContent = n ? `${n} supplier${n > 1 ? "s" : ""} waiting for a person`
                             : "Nobody is waiting. New captchas appear here by themselves.";
  document.title = n ? `(${n}) Captcha desk` : "Captcha desk";
  tick();
  focusOldest();
}

async function refresh() {
  try {
    const answer = await fetch("waiting", {cache: "no-store"});
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    const body = await answer.json();
    timeoutS = body.timeout_s;
    render(body.waiting);
  } catch (e) {
    // Nobody can answer a card the desk no longer serves (the batch ended, or stopped waiting
    // for it a moment before it ended): drop them all; the next answer brings back any still waiting.
    for (const id of [...shown.keys()]) drop(id);
    document.title = "Captcha desk";
    statusLine.textContent = "The desk does not answer: the batch may have ended.";
  }
}

refresh();
setInterval(refresh, 1000);
setInterval(tick, 1000);
"""
