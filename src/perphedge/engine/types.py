"""Inputs and outputs of the simulation engine (see docs/engine.md for the model).

The engine works on arrays over one UTC bar grid; building them from the store is the job of
:mod:`perphedge.market`. Keeping these types plain (numpy arrays, floats, enums) lets one process
simulate many configs over data loaded once, and lets the inner loop be compiled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perphedge.domain import Counterfactual, InstrumentKind, SizingRule

TRADE_COLUMNS: tuple[str, ...] = (  # the trade ledger's columns, in order
    "time",
    "leg_or_coin",
    "instrument",
    "side",
    "qty",
    "price",
    "fee_usd",
    "slippage_usd",
    "reason",
)
EVENT_COLUMNS: tuple[str, ...] = (  # the event log's columns, in order
    "time",
    "kind",
    "leg",
    "coins",
    "usd",
    "price",
    "contracts",
    "target_ratio",
    "actual_ratio",
)


@dataclass(frozen=True)
class MarketArrays:
    """Market data on one bar grid. T bars, K basket coins, J hedge legs.

    ``times`` are bar open times (int64 ns since epoch, UTC). A decision at the close of bar t
    sees rows 0..t only.
    """

    times: np.ndarray  # (T,) int64 ns, bar open, strictly increasing on the grid
    bar_ns: int  # bar length in ns
    coins: tuple[str, ...]  # (K,) basket coin names, e.g. ("SOL", "AVAX")
    spot_close: np.ndarray  # (T, K) USD price of each basket coin at the bar close
    legs: tuple[str, ...]  # (J,) hedge leg labels, e.g. ("binance ETH/USD:ETH",)
    leg_kind: tuple[InstrumentKind, ...]  # (J,)
    mark_close: np.ndarray  # (T, J) mark (or stated substitute) close
    mark_high: np.ndarray  # (T, J) mark high: the adverse extreme for a short
    mark_low: np.ndarray  # (T, J)
    trade_close: np.ndarray  # (T, J) price the perp trades at at the close (last price, or mark)
    coin_usd: np.ndarray  # (T, J) USD price of the leg's margin coin (spot close); 1.0 for linear
    funding_rate: np.ndarray  # (T, J) sum of funding rates of events in the bar; 0 where none
    funding_per_unit: np.ndarray  # (T, J) funding RECEIVED per unit of short: inverse coin per
    #   contract sum(S*r/mark_e); linear USDT per coin sum(r*mark_e); 0 where no event
    funding_events: np.ndarray  # (T, J) int number of funding events in the bar
    notes: tuple[str, ...] = ()  # substitutes used, gap handling, etc. (reported verbatim)

    @property
    def n_bars(self) -> int:
        return int(self.times.shape[0])

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(pd.to_datetime(self.times, utc=True), name="timestamp")


@dataclass(frozen=True)
class LegParams:
    """Contract and venue facts for one hedge leg."""

    kind: InstrumentKind
    contract_size: float  # S in USD per contract (inverse); lot step in coins (linear)
    weight: float = 1.0  # share of the total target ratio this leg carries
    maintenance_margin: float = 0.005  # m
    taker_fee: float = 0.0005  # f on perp trades
    liquidation_fee: float = 0.005  # on the notional closed at liquidation
    slippage: float = 0.0002  # fraction of price, against us on every perp trade


@dataclass(frozen=True)
class EngineParams:
    """Everything the engine needs besides market data and the target ratios."""

    capital: float  # initial USD
    weights: np.ndarray  # (K,) basket weights summing to 1
    legs: tuple[LegParams, ...]  # (J,)
    sizing: SizingRule = SizingRule.DELTA_NEUTRAL
    spot_fee: float = 0.001
    spot_slippage: float = 0.0005
    # collateral: initial coin collateral per leg, set by leverage or by USD amount
    initial_leverage: float = 3.0  # hedge notional / margin balance at entry
    collateral_usd: float | None = None  # if set, overrides initial_leverage (USD per leg)
    collateral_from_basket: bool = False  # take collateral coins out of the basket holding
    leverage_band: tuple[float, float] = (1.5, 5.0)  # top up above hi, withdraw below lo
    leverage_target: float = 3.0  # top-ups and withdrawals restore this leverage
    manage_margin: bool = True  # False: never top up or withdraw
    rebalance_every_ns: int = 86_400 * 10**9  # calendar period, aligned to UTC epoch
    rebalance_band: float = 0.0  # trade only when |actual - target| > band
    min_trade_usd: float = 0.0  # skip hedge trades smaller than this
    rehedge_after_liquidation: bool = True
    counterfactual: Counterfactual = Counterfactual.BASKET
    covers: np.ndarray | None = None  # (J, K) bool: leg j hedges basket coin k; None: all coins.
    #   Sizing (both rules), the actual ratio and the initial collateral use only the covered
    #   coins' value (see docs/engine.md, "Covered coins").
    basket_rebalance_every_ns: int = 0  # basket back to its weights at this calendar period;
    #   0 = buy and hold (the counterfactual is rebalanced the same way)
    basket_rebalance_band: float = 0.0  # ... only when a weight is off by more than this
    basket_held: bool = False  # the basket's coins are already held at bar 0 (basket.quantities):
    #   no spot fee or slippage on them, on either side (collateral bought with capital still pays)


@dataclass
class Result:
    """Everything one run produced. All money in USD unless the column says coin."""

    timeseries: pd.DataFrame  # indexed by bar open (UTC); columns listed in docs/engine.md
    trades: (
        pd.DataFrame
    )  # ledger: time, leg_or_coin, instrument, side, qty, price, fee_usd, slippage_usd, reason
    events: (
        pd.DataFrame
    )  # time, kind (rebalance/funding/topup/withdraw/liquidation), leg, detail columns
    attribution: dict[
        str, float
    ]  # spot, hedge_price, funding, fees, slippage, collateral_reval, total
    metrics: dict[str, float | int | str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    meta: dict[str, object] = field(default_factory=dict)  # config hash, data fingerprint, etc.

    def plot(self, chart: str = "equity", path: str | None = None):  # type: ignore[no-untyped-def]
        """A run chart (equity, hedge_ratio, margin, costs, attribution) as a PNG a notebook
        shows inline; ``path`` also writes it (see perphedge.notebook.plot_result)."""
        from perphedge.notebook import plot_result

        return plot_result(self, chart, path)
