"""Settings from CHORUS_* variables given as a mapping (the sandbox's lines, an environment)."""
from __future__ import annotations

from bot.settings import Settings, fields_from_env


def test_only_chorus_variables_become_fields_by_their_names():
    variables = {"CHORUS_PORTAL_URL": "http://127.0.0.1:8765", "CHORUS_IMAP_PORT": "10993", "HOME": "/root",
                 "XCHORUS_TRACE": "on"}
    assert fields_from_env(variables) == {"portal_url": "http://127.0.0.1:8765", "imap_port": "10993"}
    settings = Settings(_env_file=None, **fields_from_env(variables))
    assert (settings.portal_url, settings.imap_port) == ("http://127.0.0.1:8765", 10993)
