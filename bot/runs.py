"""Facts about one command run: its id, and the contract's exit code for its results.

Here rather than in a command module so that flows (single and batch) and commands share
them without a flow importing a command.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timezone

from bot.models import RegistrationResult, Status

# Exit codes of shared/spec/cli.md.
EXIT_OK, EXIT_BUSINESS, EXIT_USAGE, EXIT_TECHNICAL = 0, 1, 2, 3

# The `step` of a result that stopped on purpose before creating anything (--dry-run).
DRY_RUN_STEP = "dry-run"


def new_run_id() -> str:
    """A sortable, unique id for one command run (folders under ARTIFACTS_DIR, log lines)."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def exit_code(results: Iterable[RegistrationResult], dry_run: bool = False) -> int:
    """The contract's exit code for a set of results (technical beats business beats ok)."""
    codes = []
    for result in results:
        if result.status is Status.activated or (dry_run and result.step == DRY_RUN_STEP):
            codes.append(EXIT_OK)
        elif result.status.is_business:
            codes.append(EXIT_BUSINESS)
        else:
            codes.append(EXIT_TECHNICAL)
    return max(codes, default=EXIT_OK)
