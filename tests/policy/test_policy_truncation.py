"""Causality: for every shipped strategy, targets on rows 0..t equal rows 0..t of the full run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perphedge.policy import PolicyContext, available_strategies, compute_targets, load_policy

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
H = 3_600 * 10**9
START = np.datetime64("2024-03-01T00:00", "ns").astype(np.int64)

# Parameters that make every strategy's windows short enough to matter on ~100 bars.
# A new strategy file gets {} (its defaults); one with required params must be added here.
PARAMS: dict[str, list[dict]] = {
    "rolling_beta": [
        {"lookback": "4h", "sample": "bar"},
        {"lookback": "2d", "sample": "1d", "min_ratio": 0.2, "max_ratio": 1.5},
    ],
    "funding_aware": [{"window": "8h", "threshold": 0.0}, {"window": "1d", "threshold": -0.5}],
    "scheduled": [
        {"windows": [["2024-03-01 10:00", "2024-03-02 05:00"], ["2024-03-03", "2024-03-04"]]}
    ],
}


@st.composite
def contexts(draw) -> PolicyContext:
    n = draw(st.integers(min_value=2, max_value=110))
    bar_hours = draw(st.sampled_from([1, 2]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    spot = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, 2)), axis=0))
    hedge = 3000 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, 2)), axis=0))
    if draw(st.booleans()):
        hedge[n // 2 :, 0] = hedge[n // 2, 0]  # flat stretch: zero-variance windows
    interval = draw(st.sampled_from([1, 4, 8]))
    events = (np.arange(n) * bar_hours % interval == 0).astype(np.int64)[:, None].repeat(2, 1)
    rates = rng.normal(0, 0.0003, (n, 2)) * events
    return PolicyContext.from_arrays(
        times=START + np.arange(n, dtype=np.int64) * bar_hours * H,
        bar_ns=bar_hours * H,
        spot_close=spot,
        weights=[0.6, 0.4],
        hedge_price=hedge,
        coin_usd=hedge,
        funding_rate=rates,
        funding_events=events,
        legs=("a", "b"),
        base_ratio=draw(st.sampled_from([0.5, 1.0])),
        leg_weights=[0.7, 0.3],
    )


CASES = [
    (name, params)
    for name in available_strategies([STRATEGIES])
    for params in PARAMS.get(name, [{}])
]


def test_every_shipped_strategy_is_covered():
    assert {name for name, _ in CASES} == {"fixed", "rolling_beta", "funding_aware", "scheduled"}


@pytest.mark.parametrize(
    ("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
@settings(max_examples=40, deadline=None)
@given(ctx=contexts(), cuts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def test_truncation_does_not_change_past_targets(name, params, ctx, cuts):
    fn = load_policy(name, [STRATEGIES])
    full = compute_targets(fn, ctx, params)
    for c in cuts:
        t = 1 + int(c * (ctx.n_bars - 1))
        part = compute_targets(fn, ctx.truncate(t), params)
        np.testing.assert_array_equal(part, full[:t])


def test_truncation_check_catches_a_centred_window(tmp_path):
    """The comparison above does fail for a policy that looks ahead (a centred window)."""
    d = tmp_path / "strategies"
    d.mkdir()
    (d / "peek.py").write_text(
        "import pandas as pd\n\n"
        "def targets(ctx):\n"
        "    s = pd.Series(ctx.hedge_price[:, 0])\n"
        "    return (s.rolling(5, center=True, min_periods=1).mean() / s).to_numpy()\n"
    )
    fn = load_policy("peek", [d])
    n = 12
    prices = 100.0 + np.arange(n, dtype=float) ** 2
    ctx = PolicyContext.from_arrays(
        times=START + np.arange(n, dtype=np.int64) * H,
        bar_ns=H,
        spot_close=prices[:, None],
        weights=[1.0],
        hedge_price=prices[:, None],
        coin_usd=prices[:, None],
        funding_rate=np.zeros((n, 1)),
        funding_events=np.zeros((n, 1), dtype=np.int64),
        legs=("a",),
        base_ratio=1.0,
    )
    full = compute_targets(fn, ctx, {})
    part = compute_targets(fn, ctx.truncate(n - 3), {})
    assert not np.array_equal(part, full[: n - 3])
