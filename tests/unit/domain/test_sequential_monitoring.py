"""CUSUM chart design in the service's sequential monitoring (monitor.domain.sequential_monitoring)."""

from __future__ import annotations

import pytest

from monitor.domain.sequential_monitoring import _design
from monitor.stats.sequential import design_bernoulli_cusum


def test_an_arl0_beyond_what_the_chain_resolves_falls_back_to_the_largest_it_resolves() -> None:
    """At extreme volumes the budget can ask for ARL0 ~ 2e9, which the exact chain cannot reach for
    p0 = 0.10: the design halves the target until it can, and reports the ARL0 it attains."""
    with pytest.raises(ValueError):
        design_bernoulli_cusum(0.1, 0.12, arl0=2_097_152_000.0, grid=4_000)
    design = _design(0.1, 0.12, 2_097_152_000.0)
    assert 524_288_000.0 <= design.arl0 < 1_048_576_000.0
    assert design.h == design_bernoulli_cusum(0.1, 0.12, arl0=524_288_000.0, grid=4_000).h
