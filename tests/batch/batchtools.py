"""Helpers of the batch tests (the `bot` fixture is in conftest.py): batch files as French
Excel writes them, the real `chorus-bot` command in a subprocess (so that it can be
SIGKILLed), and what the machine shows about it (its Chromium processes, its IMAP sockets,
read from /proc).

Every test drives the real thing: the CLI, one real Chromium, the sandbox over HTTP and its
Dovecot over IMAP with TLS.
"""
from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bot.journal import Journal, JournalEntry

BOT = str(Path(sys.executable).with_name("chorus-bot"))

# Active, diffusible SIRETs of fixtures/insee/CATALOGUE.md (company name as INSEE has it).
ACTIVE = [
    ("80743987200019", "Boulangerie Dupré SARL"), ("75498885500013", "Atelier Lumière SAS"),
    ("65088460400010", "Transports Lefèvre & Fils SARL"), ("47621779900016", "Menuiserie Garnier SAS"),
    ("28967451700015", "Informatique Côte d'Azur SAS"), ("77622345500010", "Cabinet Moreau Conseil SARL"),
    ("93178428400016", "Électricité Bernard SARL"), ("70918328900012", "NETTOYAGE PRO SERVICES"),
    ("31450599100013", "Imprimerie Rousseau SA"), ("76101143600018", "Bâtiments Durand Frères SAS"),
    ("74337180900018", "Les Jardins de Provence SARL"), ("41884608500011", "Traiteur Gourmet Lorrain SAS"),
    ("50144584500016", "Plomberie Martin EURL"), ("99651432900019", "SOCIETE NOUVELLE MECANIQUE DE L'OUEST"),
    ("33187051900013", "Librairie Fontaine SARL"), ("20243895800011", "Océan Logistique SAS"),
    ("19521751800016", "Ambulances Saint-Éloi SARL"), ("17805995200014", "Fromagerie Rigaud SAS"),
    ("81126074400016", "Studio Graphique Étoile SASU"), ("75149120000018", "Serrurerie Lambert SARL"),
    ("24703342600013", "Agence Voyages Méditerranée SAS"), ("83502516400012", "Chauffage Thermique Dauphiné SAS"),
    ("82318599600019", "Garage Petit & Cie SNC"), ("81057370900013", "Pépinières Chevalier SARL"),
]
NON_DIFFUSIBLE = "12634976000010"
CATALOGUE = Path(__file__).resolve().parents[2] / "fixtures" / "insee" / "CATALOGUE.md"


def catalogue_active() -> list[str]:
    """Every active, diffusible SIRET of fixtures/insee/CATALOGUE.md (45), in its order."""
    rows = [line.split("|") for line in CATALOGUE.read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    return [cells[1].strip() for cells in rows if cells[-2].strip() == "active, diffusible"]
EXISTING = "43749388500010"  # already registered on the portal (seed data)

FRENCH_HEADER = ["SIRET", "Adresse e-mail de connexion", "Prénom", "Nom", "Téléphone", "Fonction",
                 "Espaces", "Non diffusible", "Raison sociale"]
FIRST_NAMES = ["Élodie", "François", "Hélène", "Jérôme", "Gaëlle", "Noël", "Anaïs", "Loïc"]


def spaced(siret: str) -> str:
    return f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"


def supplier_rows(count: int, tag: str, start: int = 0) -> list[list[str]]:
    """``count`` good rows in FRENCH_HEADER order, one plus-address of the shared mailbox each."""
    rows = []
    for i in range(start, start + count):
        siret, company = ACTIVE[i]
        rows.append([
            spaced(siret) if i % 3 == 0 else siret,
            f"ap+{tag}-{i}@ssc.example",
            FIRST_NAMES[i % len(FIRST_NAMES)],
            f"Lefèvre-{i}",
            f"04 72 00 {i // 10 % 10}{i % 10} 00",
            "Comptable" if i % 2 else "",
            "Work invoices|Commitments" if i % 5 == 1 else "",
            "non",
            company if i % 4 else "",
        ])
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str, delimiter: str = ";") -> Path:
    """A CSV as Excel writes it: CRLF line ends, the given encoding ('utf-8-sig' adds the BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def emails_of(rows: list[list[str]]) -> list[str]:
    return [row[1] for row in rows]


# -- the bot in a subprocess ------------------------------------------------------------------


@dataclass
class Bot:
    """`chorus-bot` with the sandbox's settings, run in a folder of its own (no stray .env)."""

    env: dict[str, str]
    cwd: Path

    @property
    def state_db(self) -> Path:
        return Path(self.env["CHORUS_STATE_DB"])

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [BOT, *args], cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [BOT, *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def journal(self) -> list[JournalEntry]:
        if not self.state_db.exists():
            return []
        journal = Journal(self.state_db)
        try:
            return journal.all()
        finally:
            journal.close()

    def status_json(self) -> list[dict]:
        done = self.run("status", "--json", timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


# -- what /proc shows ----------------------------------------------------------------------


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def descendants(root: int) -> set[int]:
    """Every live process below ``root`` (children, grandchildren...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


# The executables of a Chromium browser and its children (renderers, GPU, utilities, zygotes
# are the same binary with --type=). Chromium's crash handler (chrome_crashpad_handler) is not
# a browser: it is started through a process that exits at once, so for a moment its parent is
# a dead process, and a test that took every "chrom*" process without a live Chromium parent
# for a browser counted two browsers where there was one.
BROWSER_EXECUTABLES = {"chromium", "chrome", "headless_shell", "chrome-headless-shell", "chromium-headless-shell"}


def _executable(pid: int) -> str:
    """The name of the program ``pid`` runs ('' once it is gone or a zombie)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name.removesuffix(" (deleted)")
    except OSError:
        return ""


def _is_chromium(pid: int) -> bool:
    return _executable(pid) in BROWSER_EXECUTABLES


def chromium_browsers(root: int) -> set[int]:
    """Chromium *browser* processes under ``root``: the Chromium binary without --type= (its
    renderers, GPU... carry --type=), whose parent is not Chromium (a child it just forked
    runs the same binary with the same command line until it execs)."""
    out = set()
    for pid in descendants(root):
        if _is_chromium(pid) and "--type=" not in " ".join(_cmdline(pid)):
            parent = _parent(pid)
            if parent is not None and not _is_chromium(parent) and alive(pid):
                out.add(pid)
    return out


def describe(pid: int) -> str:
    """One line about a process: pid, program, the start of its command line, its parent."""
    parent = _parent(pid)
    args = " ".join(_cmdline(pid))[:200]
    return f"{pid} {_executable(pid) or '?'} [{args}] parent {parent} {_executable(parent) if parent else '?'}"


def tcp_connection_lines(pid: int, remote_port: int) -> list[str]:
    """Each established TCP connection of ``pid`` to ``remote_port``, as its /proc/net/tcp line.

    One per socket inode: the kernel writes /proc/net/tcp in chunks, and a table that changes
    between two chunks (sockets opening and closing elsewhere on a busy machine) can list the
    same socket twice in one read.
    """
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return []  # the process is gone
    found: dict[str, str] = {}  # inode -> line
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            port = int(parts[2].rsplit(":", 1)[1], 16)
            if port == remote_port and parts[3] == "01" and parts[9] in inodes:
                found[parts[9]] = " ".join(parts[1:4] + parts[9:10])
    return list(found.values())


@dataclass
class Watch:
    """Samples a running bot every 0.1 s: its Chromium browsers, IMAP sockets, suppliers in flight."""

    pid: int
    imap_port: int
    state_db: Path
    max_browsers: int = 0
    max_imap: int = 0
    max_running: int = 0
    # What the sample that saw the most browsers found: each pid, its program, command line and
    # parent, so that a count above 1 says which processes they were.
    browsers_seen: list[str] = field(default_factory=list)
    imap_seen: list[str] = field(default_factory=list)  # likewise for the IMAP connections, timed
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "Watch":
        def sample() -> None:
            while not self._stop.wait(0.1):
                browsers = chromium_browsers(self.pid)
                if len(browsers) > self.max_browsers:
                    self.max_browsers, self.browsers_seen = len(browsers), [describe(p) for p in sorted(browsers)]
                connections = tcp_connection_lines(self.pid, self.imap_port)
                if len(connections) > self.max_imap:
                    at = time.strftime("%H:%M:%S")
                    self.max_imap, self.imap_seen = len(connections), [f"{at} {c}" for c in connections]
                if self.state_db.exists():
                    journal = Journal(self.state_db)
                    running = sum(e.status == "running" for e in journal.all())
                    journal.close()
                    self.max_running = max(self.max_running, running)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


def kill_when(
    process: subprocess.Popen, condition: Callable[[], bool], *, timeout: float = 240, what: str = ""
) -> set[int]:
    """SIGKILL ``process`` (the bot only, as `kill -9 PID`) once ``condition()`` holds.

    Returns the processes it had started (its browser), which must all die with it.
    """
    deadline = time.monotonic() + timeout
    subtree: set[int] = set()
    while time.monotonic() < deadline:
        subtree |= descendants(process.pid)
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the bot ended (exit {process.returncode}) before the kill point {what}:\n{out}\n{err[-3000:]}")
        if condition():
            os.kill(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
            return subtree
        time.sleep(0.05)
    process.kill()
    out, err = process.communicate()
    raise AssertionError(f"kill point {what} never reached in {timeout:g} s:\n{out}\n{err[-3000:]}")


def wait_gone(pids: set[int], timeout: float = 30) -> set[int]:
    """The processes of ``pids`` still alive after ``timeout`` (empty: all gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {pid for pid in pids if alive(pid)}
        if not left:
            return set()
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


def accounts_by_email(state: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for account in state["accounts"]:
        out.setdefault(account["email"].lower(), []).append(account)
    return out
