"""load_policy, parameter validation and target checks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from perphedge.errors import ConfigError, StrategyError
from perphedge.policy import (
    PolicyContext,
    available_strategies,
    compute_targets,
    load_policy,
    validate_params,
)

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
D = 86_400 * 10**9


def ctx3(legs: int = 1) -> PolicyContext:
    return PolicyContext.from_arrays(
        times=np.arange(3, dtype=np.int64) * D,
        bar_ns=D,
        spot_close=np.ones((3, 1)),
        weights=[1.0],
        hedge_price=np.ones((3, legs)),
        coin_usd=np.ones((3, legs)),
        funding_rate=np.zeros((3, legs)),
        funding_events=np.zeros((3, legs), dtype=np.int64),
        legs=tuple(f"L{j}" for j in range(legs)),
        base_ratio=1.0,
    )


def write(tmp_path: Path, name: str, body: str) -> Path:
    d = tmp_path / "strategies"
    d.mkdir(exist_ok=True)
    (d / f"{name}.py").write_text(body)
    return d


def test_every_strategy_file_loads_and_is_documented():
    names = available_strategies([STRATEGIES])
    assert names == sorted(p.stem for p in STRATEGIES.glob("*.py"))
    for name in names:
        fn = load_policy(name, [STRATEGIES])
        doc = sys.modules.get(fn.__module__)
        assert doc is None  # not left in sys.modules
        assert len((fn.__globals__["__doc__"] or "").split()) > 20, name


def test_load_policy_leaves_sys_path_alone():
    before = list(sys.path)
    load_policy("fixed", [STRATEGIES])
    assert sys.path == before


def test_unknown_strategy_lists_available(tmp_path):
    d = write(tmp_path, "mine", "def targets(ctx):\n    return ctx.base_ratio\n")
    with pytest.raises(StrategyError) as info:
        load_policy("nope", [d, STRATEGIES])
    assert str(info.value) == (
        f"policy.name: no strategy 'nope' (searched: {d}, the built-in policies); "
        f"available: {', '.join(sorted([*available_strategies([STRATEGIES]), 'mine']))}"
    )
    assert isinstance(info.value, ConfigError)
    assert info.value.path == "policy.name"


def test_unknown_strategy_without_dirs():
    with pytest.raises(StrategyError, match=r"^policy\.name: no strategy 'x' \(searched: no "):
        load_policy("x", [])


def test_invalid_name_is_rejected_before_touching_files():
    with pytest.raises(StrategyError, match=r"^policy\.name: invalid strategy name '\.\./x'"):
        load_policy("../x", [STRATEGIES])


def test_file_without_targets(tmp_path):
    d = write(tmp_path, "empty", '"""No targets here."""\nX = 1\n')
    with pytest.raises(
        StrategyError, match=r"^policy\.name: strategy file .*empty\.py defines no function"
    ):
        load_policy("empty", [d])


def test_file_that_fails_to_import(tmp_path):
    d = write(tmp_path, "broken", "raise RuntimeError('boom')\n")
    with pytest.raises(
        StrategyError, match=r"^policy\.name: strategy 'broken' .* RuntimeError: boom$"
    ):
        load_policy("broken", [d])


def test_targets_with_positional_params_rejected(tmp_path):
    d = write(tmp_path, "pos", "def targets(ctx, ratio=1.0):\n    return ratio\n")
    with pytest.raises(StrategyError, match=r"exactly one positional argument \(ctx\)"):
        load_policy("pos", [d])


def test_first_search_dir_wins(tmp_path):
    d = write(tmp_path, "fixed", "def targets(ctx):\n    return [0.25] * ctx.n_bars\n")
    out = compute_targets(load_policy("fixed", [d, STRATEGIES]), ctx3(), {})
    np.testing.assert_array_equal(out[:, 0], [0.25] * 3)


def test_unknown_param_names_allowed_ones():
    fn = load_policy("rolling_beta", [STRATEGIES])
    with pytest.raises(StrategyError) as info:
        compute_targets(fn, ctx3(), {"lookbak": "30d"})
    assert str(info.value) == (
        "policy.params.lookbak: unknown parameter; allowed: lookback, max_ratio, min_ratio, sample"
    )
    fixed = load_policy("fixed", [STRATEGIES])
    with pytest.raises(
        StrategyError, match=r"^policy\.params\.ratio: unknown parameter; allowed: none$"
    ):
        compute_targets(fixed, ctx3(), {"ratio": 1.0})


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("rolling_beta", {"lookback": 30}, "policy.params.lookback: expected str, got int 30"),
        (
            "rolling_beta",
            {"max_ratio": "2"},
            "policy.params.max_ratio: expected float, got str '2'",
        ),
        (
            "rolling_beta",
            {"max_ratio": True},
            "policy.params.max_ratio: expected float, got bool True",
        ),
        ("scheduled", {"windows": "2024"}, "policy.params.windows: expected list, got str '2024'"),
        (
            "scheduled",
            {"windows": [], "ratio": "x"},
            "policy.params.ratio: expected float | None, got str 'x'",
        ),
    ],
)
def test_wrong_param_type(name, params, message):
    fn = load_policy(name, [STRATEGIES])
    with pytest.raises(StrategyError) as info:
        compute_targets(fn, ctx3(), params)
    assert str(info.value) == message


def test_int_accepted_for_float_and_none_for_optional():
    fn = load_policy("scheduled", [STRATEGIES])
    assert validate_params(fn, {"windows": [], "ratio": None}) == {"windows": [], "ratio": None}
    fn = load_policy("rolling_beta", [STRATEGIES])
    assert validate_params(fn, {"max_ratio": 2}) == {"max_ratio": 2}


def test_untyped_param_checked_against_default(tmp_path):
    d = write(tmp_path, "untyped", "def targets(ctx, *, k=0.5):\n    return [k] * ctx.n_bars\n")
    fn = load_policy("untyped", [d])
    with pytest.raises(StrategyError, match=r"^policy\.params\.k: expected float, got str 'a'$"):
        compute_targets(fn, ctx3(), {"k": "a"})
    np.testing.assert_array_equal(compute_targets(fn, ctx3(), {"k": 1})[:, 0], [1, 1, 1])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return [1.0, -0.1, 1.0]", r"returned -0\.05 for leg 'L0' at 1970-01-02T00:00:00\+00:00"),
        ("return [1.0, float('inf'), 1.0]", r"returned inf for leg 'L0'"),
        ("return [1.0, 1.0]", r"returned shape \(2,\); expected \(3,\) or \(3, 2\)"),
        ("return [float('nan')] * 3", r"returned no target at all for leg 'L0'"),
        ("return 'abc'", r"returned str, not a numeric array"),
    ],
)
def test_bad_targets(tmp_path, body, message):
    d = write(tmp_path, "bad", f"def targets(ctx):\n    {body}\n")
    fn = load_policy("bad", [d])
    with pytest.raises(StrategyError, match=r"^policy: strategy 'bad' " + message):
        compute_targets(fn, ctx3(legs=2), {})


def test_nan_means_keep_and_2d_is_taken_as_is(tmp_path):
    body = "return np.array([[np.nan, 0.5], [0.3, np.nan], [0.3, 0.5]])"
    d = write(tmp_path, "two", f"import numpy as np\n\ndef targets(ctx):\n    {body}\n")
    out = compute_targets(load_policy("two", [d]), ctx3(legs=2), {})
    np.testing.assert_array_equal(out, [[np.nan, 0.5], [0.3, np.nan], [0.3, 0.5]])
