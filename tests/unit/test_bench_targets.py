"""`make bench`'s arithmetic (bench/targets.py): what a batch pays once, and the target rows."""
from __future__ import annotations

import pytest

from bench.targets import evaluate, start_up_cpu


def _run(suppliers: int, cpu_s: float, wall_s: float = 80.0, pss_mb: int = 500) -> dict:
    return {"suppliers": suppliers, "bot_cpu_s": cpu_s, "bot_cpu_per_reg_s": cpu_s / suppliers, "wall_s": wall_s,
            "server_s": 6.0 * suppliers, "peak_pss_mb": pss_mb, "mail_notice_s": [0.1, 0.2]}


def test_start_up_is_what_one_supplier_costs_beyond_each_added_one():
    # 2 s once, then 3 s a registration: 1 supplier costs 5 s, 8 suppliers 26 s.
    once, added = start_up_cpu(_run(8, 26.0), _run(1, 5.0))
    assert once == pytest.approx(2.0)
    assert added == pytest.approx(3.0)


def test_the_cpu_target_keeps_start_up_in_and_the_split_is_information_only():
    levels = {1: _run(8, 26.0), 8: _run(16, 40.0, wall_s=30.0, pss_mb=1000)}
    rows = {row["what"]: row for row in evaluate(levels, None, 1.0, _run(1, 5.0))}
    target = rows["CPU of the bot's process tree per registration (worst level)"]
    assert (target["figure"], target["met"]) == (3.25, False)  # 26 s / 8, start-up included
    left_out = rows["information: CPU per registration, start-up left out (worst level)"]
    assert (left_out["figure"], left_out["met"]) == (3.0, None)  # (26 - 2) / 8, above (40 - 2) / 16
    assert rows["information: CPU a batch pays once (start-up), from a one-supplier run"]["figure"] == 2.0
    assert all(row["met"] is None for what, row in rows.items() if what.startswith("information"))


def test_without_a_one_supplier_run_there_is_no_split():
    rows = evaluate({1: _run(8, 26.0), 8: _run(16, 50.0)}, None, 1.0)
    assert not [row for row in rows if row["what"].startswith("information")]


def test_the_lean_script_gives_what_each_registration_adds_there():
    lean = {1: {"suppliers": 1, "cpu_s": 2.5, "wall_s": 9.0, "server_s": 6.0},
            8: {"suppliers": 8, "cpu_s": 12.3, "wall_s": 56.0, "server_s": 48.0}}  # 2.5 + 7 x 1.4
    rows = {row["what"]: row for row in evaluate({1: _run(8, 26.0)}, None, 1.0, None, lean)}
    added = rows["information: CPU each registration adds in the lean script"]
    assert (added["figure"], added["met"]) == (1.4, None)
    pace = rows["information: the lean script's time per supplier / floor"]
    assert pace["figure"] == 1.0  # 7 s a supplier against 6 s of server time and a 1 s mail delay
    assert not [what for what in evaluate({1: _run(8, 26.0)}, None, 1.0, None, {1: lean[1]}) if "lean" in what["what"]]
