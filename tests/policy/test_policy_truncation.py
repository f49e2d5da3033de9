"""Causality: for every policy file (strategies/, the built-ins, the init template), targets on
rows 0..t equal rows 0..t of the full run."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_files import REPO, case_id, cases, first_changed_cut, load, policy_files

from perphedge.policy import PolicyContext, compute_targets, load_policy
from perphedge.project import Shipped, shipped_dir

H = 3_600 * 10**9
START = np.datetime64("2024-03-01T00:00", "ns").astype(np.int64)


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


CASES = cases()


def test_every_policy_file_is_covered():
    """Every file in strategies/ (and the built-ins, and the init template) is a case."""
    covered = {path for path, _ in CASES}
    expected = {p.resolve() for p in (REPO / "strategies").glob("*.py")}
    expected.add((shipped_dir(Shipped.PROJECT_TEMPLATE) / "strategies" / "my_policy.py").resolve())
    assert expected <= covered


def test_a_new_policy_file_is_picked_up_and_checked(tmp_path):
    """A user's new file in a strategies folder is found without editing any list, and the same
    check that runs on every shipped policy passes it, and fails a copy that reads the future."""
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "trend_half.py").write_text(
        "import pandas as pd\n\n"
        "def targets(ctx, *, n: int = 3):\n"
        "    s = pd.Series(ctx.hedge_price[:, 0])\n"
        "    return (s > s.rolling(n, min_periods=1).mean()).to_numpy() * 0.5 + 0.5\n"
    )
    (folder / "peeking.py").write_text(
        "import pandas as pd\n\n"
        "def targets(ctx):\n"
        "    s = pd.Series(ctx.hedge_price[:, 0])\n"
        "    return (s.shift(-2) > s).to_numpy() * 0.5 + 0.5\n"
    )
    found = policy_files([folder])
    assert [p.name for p in found] == ["peeking.py", "trend_half.py"]
    n = 12
    prices = 100.0 + np.array([0, 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5], dtype=float)
    ctx = _one_coin_context(prices)
    cuts = list(range(1, n))
    assert first_changed_cut(load(folder / "trend_half.py"), {}, ctx, cuts) is None
    # the peeking policy compares bar t with bar t+2: cut at 1 row, its row 0 (t+2 unknown -> 0.5)
    # differs from the full run's row 0 (103 > 100 -> 1.0)
    assert first_changed_cut(load(folder / "peeking.py"), {}, ctx, cuts) == 1


@pytest.mark.parametrize(("path", "params"), CASES, ids=[case_id(c) for c in CASES])
@settings(max_examples=40, deadline=None)
@given(ctx=contexts(), cuts=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def test_truncation_does_not_change_past_targets(path, params, ctx, cuts):
    fn = load(path)
    ts = [1 + int(c * (ctx.n_bars - 1)) for c in cuts]
    assert first_changed_cut(fn, params, ctx, ts) is None


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
    ctx = _one_coin_context(prices)
    full = compute_targets(fn, ctx, {})
    part = compute_targets(fn, ctx.truncate(n - 3), {})
    assert not np.array_equal(part, full[: n - 3])


def _one_coin_context(prices: np.ndarray) -> PolicyContext:
    """Hourly bars of one coin that is also the hedge, no funding."""
    n = len(prices)
    return PolicyContext.from_arrays(
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
