"""Runner: shared market cache, capital from quantities, engine parameters, meta, run ids."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

import perphedge
from perphedge.config import load_config
from perphedge.data import Store
from perphedge.domain import InstrumentKind
from perphedge.runner import (
    MarketCache,
    counterfactual_sentence,
    engine_params,
    make_run_id,
    prepare,
    run,
)

REPO = Path(__file__).resolve().parents[2]
BASKET = REPO / "configs" / "eth_l1_basket.yaml"
BTC = REPO / "configs" / "btc_spot_hedge.yaml"
MONTH = ["period.start=2023-01-01", "period.end=2023-02-01"]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_cache_loads_market_data_once_per_data_spec() -> None:
    cache = MarketCache()
    a = run(BASKET, overrides=MONTH, cache=cache)
    b = run(
        BASKET,
        overrides=[*MONTH, "policy.name=fixed", "policy.params={}", "hedge.ratio=0.5"],
        cache=cache,
    )
    assert cache.loads == 1 and len(cache) == 1
    assert a.meta["data_fingerprint"] == b.meta["data_fingerprint"]
    assert a.meta["config_hash"] != b.meta["config_hash"]
    run(BASKET, overrides=["period.start=2023-01-01", "period.end=2023-01-15"], cache=cache)
    assert cache.loads == 2


def test_quantities_give_capital_and_weights_from_the_first_close() -> None:
    cfg = load_config(BTC, ["period.end=2020-09-01"])
    prepared = prepare(cfg)
    frame, _ = Store(REPO / "data").read(_btc_spot_key())
    first_close = float(frame.loc["2020-08-11 00:00:00+00:00", "close"])
    assert prepared.capital == pytest.approx(5 * first_close, rel=1e-12)
    assert prepared.weights.tolist() == [1.0]
    params = engine_params(prepared)
    assert params.collateral_from_basket is True
    (leg,) = params.legs
    assert (leg.kind, leg.contract_size) == (InstrumentKind.INVERSE, 100.0)  # from the data
    assert leg.slippage == pytest.approx(1e-4) and leg.maintenance_margin == 0.004
    assert params.rebalance_every_ns == 86_400 * 10**9


def _btc_spot_key():  # noqa: ANN202 - a SeriesKey
    from perphedge.data.store import SeriesKey
    from perphedge.domain import Series, Timeframe

    return SeriesKey("binance", "BTC/USDT", Series.OHLCV, Timeframe.parse("8h"))


def test_btc_hedge_opens_the_guides_contract_count() -> None:
    """5 BTC, delta-neutral, collateral from the basket: short N*S = 5 BTC * P (the guides'
    3,000 contracts at 60,000), less the spot costs of entry (0.1 % fee + 2 bps)."""
    result = run(BTC, overrides=["period.end=2020-09-01"])
    ts = result.timeseries
    n0 = -float(ts["contracts_0"].iloc[0])
    p0 = result.meta["capital"] / 5
    full = 5 * p0 / 100
    assert full * (1 - 0.0012) - 1 <= n0 <= full + 1


def test_meta_records_what_the_run_was() -> None:
    result = perphedge.run(str(BASKET), period__start="2023-01-01", period__end="2023-01-08")
    meta = result.meta
    assert meta["overrides"] == {"period.start": "2023-01-01", "period.end": "2023-01-08"}
    assert meta["period"]["bars"] == 7 * 24
    assert meta["resolved_config"]["period"]["end"] == "2023-01-08T00:00:00Z"
    assert meta["name"] == "eth_l1_basket" and meta["timeframe"] == "1h"
    assert meta["legs"] == ["binance ETH/USD:ETH"]
    # the substitute is one warning (with the basis it ignores); the short line stays a note
    subs = [w for w in meta["warnings"] if w.startswith("binance ETH/USD:ETH:")]
    assert len(subs) == 1 and "a substitute from another market type" in subs[0], subs
    assert any("stands in for the mark" in n for n in meta["notes"])
    digest = hashlib.sha256((meta["config_hash"] + meta["data_fingerprint"]).encode()).hexdigest()[
        :8
    ]
    assert str(meta["run_id"]).endswith("-" + digest)
    assert set(result.metrics) >= {"hedged_total_return", "unhedged_total_return", "n_trades"}
    assert np.isfinite(result.metrics["hedged_final_equity"])


def test_run_id_is_utc_time_plus_hash() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    # sha256("ab") = fb8e20fc2e4c3f24...
    assert make_run_id("a", "b", when) == "20240102T030405Z-fb8e20fc"


def test_counterfactual_sentences_name_what_the_unhedged_side_holds() -> None:
    cfg = load_config(BASKET)
    assert counterfactual_sentence(cfg, 10_000).startswith(
        "The unhedged side puts all 10,000.00 USD of capital into the basket (SOL, AVAX, ADA, DOT, "
        "NEAR, ATOM)"
    )
    cash = load_config(BASKET, ["counterfactual=basket_and_cash"])
    assert "collateral's USD value as cash" in counterfactual_sentence(cash, 10_000)
