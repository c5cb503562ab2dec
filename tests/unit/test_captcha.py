"""Who answers the captcha: a real command run as a subprocess, a prompt on real pipes and ptys."""
from __future__ import annotations

import base64
import contextlib
import io
import os
import select
import shlex
import struct
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from loguru import logger

from bot.captcha import CommandDesk, PromptDesk, desk_for, inline_image, inline_protocol
from bot.errors import ConfigError
from bot.secrets import registry
from bot.settings import Settings

EMAIL = "ap+7@ssc.example"


@pytest.fixture
def warnings():
    """The messages logged at WARNING and above while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING", format="{message}")
    yield lines
    logger.remove(sink)


def png(path: Path, size: int = 1) -> Path:
    """A real PNG of size x size noisy grey pixels (noise: it does not compress)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + os.urandom(size) for _ in range(size))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def command(tmp_path: Path, body: str) -> str:
    """CHORUS_CAPTCHA_COMMAND running `body` as a Python script."""
    script = tmp_path / "desk.py"
    script.write_text(body)
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting for a reaper)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    return False


# --- the command ---------------------------------------------------------------------------------


def test_command_gets_the_image_and_who_asks_and_its_first_line_is_the_answer(tmp_path, monkeypatch, warnings):
    monkeypatch.setenv("CHORUS_IMAP_PASSWORD", "imap-password-never-passed-on")
    image = tmp_path / "captcha 1.png"
    image.write_text("k7Qp2\n")
    desk = CommandDesk(command(tmp_path, """
import os, sys
path = sys.argv[-1]
env = os.environ
seen = [os.path.basename(path), str(env["CHORUS_CAPTCHA_IMAGE"] == path), env["CHORUS_CAPTCHA_LOGIN_EMAIL"],
        env["CHORUS_CAPTCHA_ATTEMPT"], env["CHORUS_CAPTCHA_ATTEMPTS"], str("CHORUS_IMAP_PASSWORD" in env)]
print("  " + open(path).read().strip() + "-" + "|".join(seen) + "  ")
print("a second line is not the answer")
"""), timeout_s=10)

    answer = desk.answer(image, login_email=EMAIL, attempt=2, attempts=3)

    assert answer == f"k7Qp2-captcha 1.png|True|{EMAIL}|2|3|False"
    assert answer in registry.values()  # the trace of the fill masks it
    assert warnings == []


@pytest.mark.parametrize("body", ["print()", "print('   ')", "pass"], ids=["empty line", "blank line", "no output"])
def test_an_empty_answer_from_the_command_asks_for_another_image(tmp_path, body):
    desk = CommandDesk(command(tmp_path, body), timeout_s=10)
    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=1, attempts=3) == ""


def test_a_failing_command_is_no_answer_and_one_warning_without_the_answer(tmp_path, warnings):
    registry.add("tok-9f8e7d6c5b4a", label="test")
    desk = CommandDesk(command(tmp_path, """
import sys
print("QZ7X2-typed-but-failed")
sys.stderr.write("desk unreachable: tok-9f8e7d6c5b4a refused\\nTraceback line two\\n")
sys.exit(1)
"""), timeout_s=10)

    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=1, attempts=3) is None

    assert len(warnings) == 1
    assert "exited with code 1" in warnings[0]
    assert "desk unreachable: ******** refused" in warnings[0]
    assert "tok-9f8e7d6c5b4a" not in warnings[0]
    assert "Traceback line two" not in warnings[0]
    assert "QZ7X2" not in warnings[0]


def test_a_command_that_hangs_is_killed_with_what_it_started(tmp_path, warnings):
    pids = tmp_path / "pids"
    desk = CommandDesk(command(tmp_path, f"""
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
"""), timeout_s=1)

    started = time.monotonic()
    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=1, attempts=3) is None
    assert time.monotonic() - started < 5

    assert len(warnings) == 1 and "no answer within 1 s" in warnings[0]
    left = [int(pid) for pid in pids.read_text().split()]
    deadline = time.monotonic() + 3  # the grandchild is reaped by whoever adopts it
    while not all(gone(pid) for pid in left) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in left)


def test_a_command_that_cannot_start_is_no_answer(tmp_path, warnings):
    desk = CommandDesk(str(tmp_path / "no-such-desk"), timeout_s=10)
    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=1, attempts=3) is None
    assert len(warnings) == 1 and "could not start" in warnings[0]


# --- choosing the desk ---------------------------------------------------------------------------


def test_no_desk_when_nobody_answers():
    assert desk_for(settings(captcha="none")) is None


def test_the_command_desk_needs_its_command(tmp_path):
    with pytest.raises(ConfigError) as err:
        desk_for(settings(captcha="command", captcha_command=None))
    assert "CHORUS_CAPTCHA_COMMAND" in str(err.value) and "\n" not in str(err.value)

    for bad in (str(tmp_path / "no-such-desk"), "desk 'unclosed"):
        with pytest.raises(ConfigError, match="CHORUS_CAPTCHA_COMMAND"):
            desk_for(settings(captcha="command", captcha_command=bad))

    desk = desk_for(settings(captcha="command", captcha_command=command(tmp_path, "print(1)"), captcha_timeout_s=7))
    assert isinstance(desk, CommandDesk) and desk.timeout_s == 7


def test_the_prompt_needs_a_terminal(monkeypatch):
    read, write = os.pipe()
    with os.fdopen(read, "rb", buffering=0) as pipe, os.fdopen(write, "wb"):
        monkeypatch.setattr(sys, "stdin", pipe)
        with pytest.raises(ConfigError) as err:
            desk_for(settings(captcha="prompt"))
    assert str(err.value) == "CHORUS_CAPTCHA=prompt needs a terminal; use command or none"

    master, slave = os.openpty()
    with os.fdopen(master, "rb", buffering=0), os.fdopen(slave, "rb", buffering=0) as terminal:
        monkeypatch.setattr(sys, "stdin", terminal)
        assert isinstance(desk_for(settings(captcha="prompt")), PromptDesk)


# --- the terminal --------------------------------------------------------------------------------


@pytest.fixture
def keyboard():
    """(what the desk reads, what the test types into): a real pipe."""
    read, write = os.pipe()
    with os.fdopen(read, "rb", buffering=0) as desk_side, os.fdopen(write, "wb", buffering=0) as typing_side:
        yield desk_side, typing_side


def test_the_prompt_names_the_login_the_try_and_the_image_and_returns_the_line(tmp_path, keyboard, warnings):
    image = png(tmp_path / "captcha.png")
    out = io.StringIO()
    desk = PromptDesk(5, input=keyboard[0], output=out, environ={"TERM_PROGRAM": "iTerm.app"})
    keyboard[1].write(b"  Wx4Rt9Lm \n")

    assert desk.answer(image, login_email=EMAIL, attempt=2, attempts=3) == "Wx4Rt9Lm"

    shown = out.getvalue()
    assert f"captcha for {EMAIL} (try 2 of 3): {image}" in shown
    assert "\033" not in shown and "\a" not in shown  # not a terminal: no picture, no bell
    assert "Wx4Rt9Lm" in registry.values()
    assert warnings == []


def test_an_empty_line_at_the_prompt_asks_for_another_image(tmp_path, keyboard):
    desk = PromptDesk(5, input=keyboard[0], output=io.StringIO())
    keyboard[1].write(b"\n")
    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=1, attempts=3) == ""


def test_the_prompt_waits_for_the_line(tmp_path, keyboard):
    desk = PromptDesk(5, input=keyboard[0], output=io.StringIO())
    typist = threading.Timer(0.3, keyboard[1].write, args=[b"late1\n"])
    typist.start()
    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=1, attempts=3) == "late1"
    typist.join()


def test_no_line_in_time_is_no_answer(tmp_path, keyboard, warnings):
    out = io.StringIO()
    desk = PromptDesk(0.3, input=keyboard[0], output=out)
    keyboard[1].write(b"half a li")  # typed, never entered
    started = time.monotonic()

    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=3, attempts=3) is None

    assert 0.3 <= time.monotonic() - started < 2
    assert "no answer within 0.3 s" in out.getvalue()
    assert len(warnings) == 1 and "half a li" not in warnings[0]


def test_nobody_at_the_other_end_is_no_answer(tmp_path, keyboard):
    desk = PromptDesk(5, input=keyboard[0], output=io.StringIO())
    keyboard[1].close()
    assert desk.answer(png(tmp_path / "c.png"), login_email=EMAIL, attempt=1, attempts=3) is None


def test_inline_protocol_from_the_environment():
    assert inline_protocol({"TERM_PROGRAM": "iTerm.app", "TERM": "xterm-256color"}) == "iterm"
    assert inline_protocol({"TERM": "xterm-kitty"}) == "kitty"
    assert inline_protocol({"TERM_PROGRAM": "tmux", "TERM": "tmux-256color"}) is None
    assert inline_protocol({"TERM_PROGRAM": "Apple_Terminal"}) is None
    assert inline_protocol({}) is None


def test_kitty_gets_png_in_chunks_and_nothing_else(tmp_path):
    image = png(tmp_path / "big.png", size=80)
    sequences = inline_image("kitty", image)
    chunks = sequences.rstrip("\n").split("\033\\")[:-1]
    assert len(chunks) > 1
    assert chunks[0].startswith("\033_Ga=T,f=100,m=1;")
    assert all(c.startswith("\033_Gm=1;") for c in chunks[1:-1]) and chunks[-1].startswith("\033_Gm=0;")
    assert "".join(c.split(";", 1)[1] for c in chunks) == base64.b64encode(image.read_bytes()).decode()

    svg = tmp_path / "c.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert inline_image("kitty", svg) == "" and inline_image("iterm", svg) == ""
    assert inline_image(None, image) == ""


def prompt_on_a_terminal(tmp_path: Path, environ: dict[str, str]) -> tuple[str, Path]:
    """Run one prompt whose output is a real pty; what the terminal received, and the image."""
    image = png(tmp_path / "captcha.png")
    master, slave = os.openpty()
    received = bytearray()

    def screen() -> None:
        with contextlib.suppress(OSError):  # EIO once the slave side is closed
            while chunk := os.read(master, 4096):
                received.extend(chunk)

    reader = threading.Thread(target=screen)
    reader.start()
    read, write = os.pipe()
    os.write(write, b"abcdef\n")
    with os.fdopen(read, "rb", buffering=0) as keys, os.fdopen(slave, "w") as terminal:
        answer = PromptDesk(5, input=keys, output=terminal, environ=environ).answer(
            image, login_email=EMAIL, attempt=1, attempts=2)
    reader.join(5)
    os.close(write)
    os.close(master)
    assert answer == "abcdef"
    return received.decode(), image


def test_iterm_shows_the_image_inline(tmp_path):
    shown, image = prompt_on_a_terminal(tmp_path, {"TERM_PROGRAM": "iTerm.app"})
    payload = base64.b64encode(image.read_bytes()).decode()
    assert f"\033]1337;File=name={base64.b64encode(b'captcha.png').decode()};" in shown
    assert f"inline=1:{payload}\a" in shown
    assert f"(try 1 of 2): {image}" in shown


def test_kitty_shows_the_image_inline(tmp_path):
    shown, image = prompt_on_a_terminal(tmp_path, {"TERM": "xterm-kitty"})
    assert "\033_Ga=T,f=100,m=0;" + base64.b64encode(image.read_bytes()).decode() + "\033\\" in shown


def test_other_terminals_get_the_path_only(tmp_path):
    shown, image = prompt_on_a_terminal(tmp_path, {"TERM": "xterm-256color", "TERM_PROGRAM": "vscode"})
    assert f"(try 1 of 2): {image}" in shown
    assert "\033]1337" not in shown and "\033_G" not in shown


def test_two_workers_are_asked_one_after_the_other(tmp_path, keyboard):
    screen_read, screen_write = os.pipe()
    held: list[str] = []

    @contextlib.contextmanager
    def hold():  # stands in for pausing the progress bar
        held.append("pause")
        yield
        held.append("resume")

    answers: dict[str, str | None] = {}
    with os.fdopen(screen_write, "w") as screen:
        desk = PromptDesk(5, input=keyboard[0], output=screen, hold=hold)

        def worker(email: str) -> None:
            answers[email] = desk.answer(png(tmp_path / f"{email}.png"), login_email=email, attempt=1, attempts=3)

        threads = [threading.Thread(target=worker, args=(f"ap+{n}@ssc.example",)) for n in (1, 2)]
        for thread in threads:
            thread.start()

        def next_prompt() -> str:
            text, deadline = "", time.monotonic() + 5
            while not text.endswith(" s): ") and select.select([screen_read], [], [], deadline - time.monotonic())[0]:
                text += os.read(screen_read, 4096).decode()
            return text

        first = next_prompt()
        assert first.count("captcha for") == 1
        assert not select.select([screen_read], [], [], 0.3)[0]  # the other worker waits its turn
        keyboard[1].write(b"first1\n")
        second = next_prompt()
        assert second.count("captcha for") == 1
        keyboard[1].write(b"second2\n")
        for thread in threads:
            thread.join(5)
    os.close(screen_read)

    first_email = first.split("captcha for ")[1].split(" ")[0]
    second_email = second.split("captcha for ")[1].split(" ")[0]
    assert {first_email, second_email} == {"ap+1@ssc.example", "ap+2@ssc.example"}
    assert answers == {first_email: "first1", second_email: "second2"}
    assert held == ["pause", "resume", "pause", "resume"]
