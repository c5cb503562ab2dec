"""Hypothesis profiles for the property tests of this folder.

``ci`` (the default) is derandomized and keeps no example database: ``make test`` runs the
same 60 examples per property on every machine and every run, so a red run replays as is.
``explore`` (``HYPOTHESIS_PROFILE=explore``) draws 1000 new random examples per property, to
look for new bugs; a failure it finds is printed with its ``@reproduce_failure`` line.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "ci", max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=_SLOW_DATA
)
settings.register_profile(
    "explore", max_examples=1000, deadline=None, suppress_health_check=_SLOW_DATA, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
