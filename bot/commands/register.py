"""`chorus-bot` commands: register (see bot/cli.py)."""
from bot.cli import app  # noqa: F401
