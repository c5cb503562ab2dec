"""`chorus-bot` commands: batch (see bot/cli.py)."""
from bot.cli import app  # noqa: F401
