"""scripts/screenshots.py walks every screen and writes one real PNG per screen (docs/SANDBOX.md shows them),
then one of a batch's HTML report (README.md shows it)."""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "screenshots.py"
SCREENS = [
    "01-home-cookie-banner", "02-step1-account", "03-step1-error", "04-structure-exists",
    "05-step2-autofill-spinner", "06-step2-structure", "07-step3-work-areas", "08-step4-created",
    "09-activation-expired-link", "10-activation-invalid-link", "11-activation", "12-activated",
    "13-login", "14-login-verification-code", "15-workspace", "16-maintenance",
    "report",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png(path: Path) -> tuple[int, int, bytes]:
    """(width, height, decompressed pixel rows) of a PNG; AssertionError when it is not one."""
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path.name}: not a PNG"
    chunks, offset = {}, len(PNG_SIGNATURE)
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])[0]
        chunks[kind] = chunks.get(kind, b"") + body
        offset += 12 + length
    assert b"IEND" in chunks, f"{path.name}: truncated"
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_the_script_writes_one_valid_non_trivial_png_per_screen(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=280)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [str(tmp_path / f"{name}.png") for name in SCREENS]  # file names only
    assert sorted(p.stem for p in tmp_path.iterdir()) == SCREENS
    for name in SCREENS:
        width, height, pixels = _png(tmp_path / f"{name}.png")
        assert (width, height >= 600) == (1280, True), name
        assert len(set(pixels)) > 20, f"{name}: a blank image"
