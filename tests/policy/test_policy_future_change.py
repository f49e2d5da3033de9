"""Causality, second form: change only the FUTURE of the raw arrays, rebuild the context with
``PolicyContext.from_arrays`` and compare past targets bit for bit.

``ctx.truncate`` slices arrays that were already derived from the whole history, so it cannot
catch a leak inside ``from_arrays`` itself (e.g. a basket normalised by its last value); this test
can. The future is changed wildly: prices multiplied by up to 1e4 or divided, funding flipped and
scaled, so any dependence on it shows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_files import case_id, cases, load

from perphedge.policy import PolicyContext, compute_targets

H = 3_600 * 10**9
START = np.datetime64("2024-03-01T00:00", "ns").astype(np.int64)

CASES = cases()  # every policy file, whatever its name (see policy_files.py)


def _context(spot, hedge, rates, events) -> PolicyContext:
    n = spot.shape[0]
    return PolicyContext.from_arrays(
        times=START + np.arange(n, dtype=np.int64) * H,
        bar_ns=H,
        spot_close=spot,
        weights=[0.5, 0.5],
        hedge_price=hedge,
        coin_usd=hedge,
        funding_rate=rates,
        funding_events=events,
        legs=("a", "b"),
        base_ratio=0.8,
        leg_weights=[0.6, 0.4],
    )


@pytest.mark.parametrize(("path", "params"), CASES, ids=[case_id(c) for c in CASES])
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(10, 120),
    cut=st.floats(0.0, 1.0),
    factor=st.sampled_from([1e-3, 0.5, 2.0, 1e4]),
)
def test_changing_only_the_future_keeps_past_targets(path, params, seed, n, cut, factor):
    fn = load(path)
    rng = np.random.default_rng(seed)
    spot = 40 * np.exp(np.cumsum(rng.normal(0, 0.03, (n, 2)), axis=0))
    hedge = 2500 * np.exp(np.cumsum(rng.normal(0, 0.03, (n, 2)), axis=0))
    events = (np.arange(n) % 8 == 0).astype(np.int64)[:, None].repeat(2, 1)
    rates = rng.normal(0, 0.0005, (n, 2)) * events
    t = 1 + int(cut * (n - 2))  # rows 0..t-1 are the past, t.. the future
    base = compute_targets(fn, _context(spot, hedge, rates, events), params)

    spot2, hedge2, rates2 = spot.copy(), hedge.copy(), rates.copy()
    spot2[t:, 0] *= factor
    spot2[t:, 1] /= factor
    hedge2[t:] *= rng.uniform(0.5, 2.0, (n - t, 2)) * factor
    rates2[t:] = -50.0 * rates2[t:] - 0.01 * events[t:]
    changed = compute_targets(fn, _context(spot2, hedge2, rates2, events), params)
    np.testing.assert_array_equal(changed[:t], base[:t])
