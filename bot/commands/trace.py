"""`chorus-bot` commands: trace (see bot/cli.py)."""
from bot.cli import app  # noqa: F401
