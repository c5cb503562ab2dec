"""`chorus-bot` commands: sandbox (see bot/cli.py)."""
from bot.cli import app  # noqa: F401
