"""Who answers the portal's captcha: always a person, never the bot (CHORUS_CAPTCHA).

Why a person: the bot registers suppliers on their behalf; reading the image itself would
defeat the very check the portal puts there. So the sign-up flow saves the image, hands it
to a *desk* and types what the desk returns. Two desks:

- `CommandDesk` (``command``): runs CHORUS_CAPTCHA_COMMAND, a site's own way to reach a
  person (a chat message, a ticket, a small web page), and reads the answer on its stdout.
- `PromptDesk` (``prompt``): asks the operator at the terminal, for attended runs.

An answer is the characters the person typed (stripped); ``""`` asks the portal for another
image (the caller presses "Another image" and asks again); ``None`` is no answer at all
(timeout, the command failed, nobody there), on which the caller ends the supplier
``captcha_required``. Whatever a person typed is registered as a secret the moment it exists
(the trace records what the bot fills in) and is never logged.
"""
from __future__ import annotations

import base64
import contextlib
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Protocol

from loguru import logger

from bot.errors import ConfigError
from bot.secrets import registry
from bot.settings import CaptchaSolver, Settings, env_name

# What a command is told, on top of the image's path as its last argument.
ENV_IMAGE = "CHORUS_CAPTCHA_IMAGE"
ENV_LOGIN_EMAIL = "CHORUS_CAPTCHA_LOGIN_EMAIL"
ENV_ATTEMPT = "CHORUS_CAPTCHA_ATTEMPT"
ENV_ATTEMPTS = "CHORUS_CAPTCHA_ATTEMPTS"

# After a kill, how long to wait for the command's pipes to close (a descendant that left
# the process group could hold them open forever).
_REAP_S = 5.0
# A command's stderr line in a warning is cut here: a diagnosis, not a dump.
_STDERR_CHARS = 200
# kitty's graphics protocol: base64 payload per escape sequence, at most.
_KITTY_CHUNK = 4096

Hold = Callable[[], AbstractContextManager[Any]]


class CaptchaDesk(Protocol):
    """Someone who looks at a captcha image and types its characters."""

    def answer(self, image: Path, *, login_email: str, attempt: int, attempts: int) -> str | None:
        """The characters typed (stripped); "" for another image; None for no answer."""
        ...


def desk_for(settings: Settings, *, hold: Hold | None = None) -> CaptchaDesk | None:
    """The desk CHORUS_CAPTCHA names, or None for ``none``; a ConfigError if it cannot work.

    Checked before a batch starts, so a bad setting stops the run at once rather than the
    first supplier that meets a captcha. ``hold`` is passed to `PromptDesk` (see there).
    """
    solver = CaptchaSolver(settings.captcha)
    if solver is CaptchaSolver.none:
        return None
    if solver is CaptchaSolver.command:
        return CommandDesk(_checked_command(settings.captcha_command), settings.captcha_timeout_s)
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise ConfigError(f"{env_name('captcha')}=prompt needs a terminal; use command or none")
    return PromptDesk(settings.captcha_timeout_s, hold=hold)


def _checked_command(command: str | None) -> str:
    name = env_name("captcha_command")
    if not command:
        raise ConfigError(f"{name} is not set ({env_name('captcha')}=command runs it)")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{name}: cannot be parsed ({exc})") from None
    if not argv:
        raise ConfigError(f"{name} is not set ({env_name('captcha')}=command runs it)")
    if shutil.which(argv[0]) is None:
        raise ConfigError(f"{name}: '{argv[0]}' is not an executable program")
    return command


def _remember(answer: str) -> str:
    """Register what a person typed: the trace of the fill must not show it either."""
    registry.add(answer, label="captcha")
    return answer


# --- the command ---------------------------------------------------------------------------------


class CommandDesk:
    """Runs CHORUS_CAPTCHA_COMMAND once per image; its first stdout line is the answer.

    The command gets the image's path as its last argument and in CHORUS_CAPTCHA_IMAGE, the
    log-in e-mail and the try (1-based, of CHORUS_CAPTCHA_ATTEMPTS) in the environment. It
    inherits the bot's environment *without* the bot's own CHORUS_ settings (the IMAP
    password and the secret key may be among them). It runs in its own process group, so a
    timeout kills whatever it started too. Keeps no state: batch workers call it at once.
    """

    def __init__(self, command: str, timeout_s: float) -> None:
        self.argv = shlex.split(command)
        self.timeout_s = timeout_s

    def answer(self, image: Path, *, login_email: str, attempt: int, attempts: int) -> str | None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHORUS_")}
        env |= {ENV_IMAGE: str(image), ENV_LOGIN_EMAIL: login_email,
                ENV_ATTEMPT: str(attempt), ENV_ATTEMPTS: str(attempts)}
        try:
            proc = subprocess.Popen(
                [*self.argv, str(image)], env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as exc:
            logger.warning(f"captcha command could not start: {registry.mask(str(exc))}")
            return None
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            logger.warning(f"captcha command gave no answer within {self.timeout_s:g} s (try {attempt}"
                           f" of {attempts}); it was killed")
            return None
        if proc.returncode != 0:
            how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
                   else f"exited with code {proc.returncode}")
            logger.warning(f"captcha command {how} (try {attempt} of {attempts}){_first_line(err)}")
            return None
        lines = out.decode("utf-8", errors="replace").splitlines()
        return _remember(lines[0].strip() if lines else "")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=_REAP_S)
    except subprocess.TimeoutExpired:  # a descendant outside the group holds the pipes
        proc.kill()
        proc.wait()


def _first_line(err: bytes) -> str:
    """": <first stderr line, masked, cut>" or "": enough to tell what went wrong."""
    lines = [line.strip() for line in err.decode("utf-8", errors="replace").splitlines()]
    first = next((line for line in lines if line), "")
    if not first:
        return ""
    first = registry.mask(first)
    return ": " + (first if len(first) <= _STDERR_CHARS else first[:_STDERR_CHARS] + "…")


# --- the terminal --------------------------------------------------------------------------------


def inline_protocol(environ: Mapping[str, str]) -> str | None:
    """The inline image protocol the terminal speaks: "iterm", "kitty", or None (path only).

    From the environment the terminal sets itself; inside tmux or screen neither is set
    (they would need pass-through), so only the path is shown there.
    """
    if environ.get("TERM_PROGRAM") == "iTerm.app":
        return "iterm"
    if environ.get("TERM") == "xterm-kitty":
        return "kitty"
    return None


def _image_kind(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def inline_image(protocol: str | None, image: Path) -> str:
    """The escape sequence(s) that draw `image` in the terminal, or "" when it cannot.

    iTerm2 (OSC 1337) draws PNG, JPEG and GIF; kitty's graphics protocol, sent as PNG
    (f=100) in 4096-character chunks, only PNG. Anything else (an SVG) shows as its path.
    """
    if protocol is None:
        return ""
    try:
        data = image.read_bytes()
    except OSError:
        return ""
    kind = _image_kind(data)
    payload = base64.b64encode(data).decode("ascii")
    if protocol == "iterm" and kind:
        name = base64.b64encode(image.name.encode()).decode("ascii")
        return f"\033]1337;File=name={name};size={len(data)};inline=1:{payload}\a\n"
    if protocol == "kitty" and kind == "png":
        chunks = [payload[i : i + _KITTY_CHUNK] for i in range(0, len(payload), _KITTY_CHUNK)]
        out = []
        for n, chunk in enumerate(chunks):
            keys = "a=T,f=100," if n == 0 else ""
            out.append(f"\033_G{keys}m={int(n < len(chunks) - 1)};{chunk}\033\\")
        return "".join(out) + "\n"
    return ""


class PromptDesk:
    """Asks the operator at the terminal, one prompt at a time for the whole batch.

    The prompt goes to the real terminal, never through rich's redirection of stderr (it
    would hold a line without a newline back, and strip the image's escape sequences); the
    batch's live progress bar would still redraw over it, hence ``hold``: a context manager
    factory the caller gives to pause whatever else draws on the terminal while a person
    answers. The lock keeps two workers' prompts, and their typed lines, apart.

    The answer is one line read from the input's file descriptor with `select` and the
    timeout; a typed-ahead line left over from an earlier, timed-out prompt is dropped first.
    """

    def __init__(
        self, timeout_s: float, *, input: IO[Any] | None = None, output: IO[str] | None = None,
        environ: Mapping[str, str] | None = None, hold: Hold | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self._input = input
        self._output = output
        self._environ = environ
        self._hold = hold or contextlib.nullcontext
        self._lock = threading.Lock()
        self._pending = b""  # read past a line's end (a pipe may deliver several at once)

    def answer(self, image: Path, *, login_email: str, attempt: int, attempts: int) -> str | None:
        with self._lock, self._hold():
            out = _unproxied(self._output if self._output is not None else sys.stderr)
            fd = (self._input if self._input is not None else sys.stdin).fileno()
            tty = out.isatty()
            if os.isatty(fd):
                self._pending = b""
                with contextlib.suppress(OSError):
                    termios.tcflush(fd, termios.TCIFLUSH)
            environ = self._environ if self._environ is not None else os.environ
            picture = inline_image(inline_protocol(environ), image) if tty else ""
            out.write(
                ("\a" if tty else "")
                + f"\ncaptcha for {login_email} (try {attempt} of {attempts}): {image}\n"
                + picture
                + f"type the characters shown, or an empty line for another image ({self.timeout_s:g} s): "
            )
            out.flush()
            line = self._read_line(fd)
            if line is None:
                out.write(f"\nno answer within {self.timeout_s:g} s\n")
                out.flush()
                logger.warning(f"captcha: no answer at the terminal within {self.timeout_s:g} s"
                               f" (try {attempt} of {attempts})")
                return None
            return _remember(line.strip())

    def _read_line(self, fd: int) -> str | None:
        """One line from `fd` within the timeout (None: timeout, or end of input)."""
        deadline = time.monotonic() + self.timeout_s
        buffer = self._pending
        while b"\n" not in buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._pending = buffer
                return None
            chunk = os.read(fd, 4096)
            if not chunk:  # end of input: nobody there; a last unterminated line still counts
                self._pending = b""
                return buffer.decode("utf-8", errors="replace") if buffer.strip() else None
            buffer += chunk
        line, _, self._pending = buffer.partition(b"\n")
        return line.decode("utf-8", errors="replace")


def _unproxied(stream: IO[str]) -> IO[str]:
    """The file under rich's stdout/stderr redirection (a live progress bar), if any."""
    return getattr(stream, "rich_proxied_file", stream)
