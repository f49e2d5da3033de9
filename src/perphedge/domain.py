"""Domain values as types: series kinds, market types, instrument kinds, sizing rules, timeframes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Series(str, Enum):
    """What a stored file holds."""

    OHLCV = "ohlcv"  # spot candles, or perp last-trade candles
    MARK = "mark"  # mark-price candles
    INDEX = "index"  # index-price candles
    FUNDING = "funding"  # funding-rate history

    @property
    def is_candles(self) -> bool:
        return self is not Series.FUNDING


class MarketType(str, Enum):
    SPOT = "spot"
    SWAP = "swap"


class InstrumentKind(str, Enum):
    """How a perpetual is margined."""

    INVERSE = "inverse"  # coin-margined: contracts of S USD, PnL in the coin
    LINEAR = "linear"  # USDT-margined: quantity in coins, PnL in USDT


class SizingRule(str, Enum):
    """How the short is sized against the basket (see docs/engine.md)."""

    DELTA_NEUTRAL = "delta_neutral"  # short also covers the coin collateral's own exposure
    BASKET_ONLY = "basket_only"  # N*S = h*B, what most guides teach


class Counterfactual(str, Enum):
    """What the unhedged side holds with the same capital."""

    BASKET = "basket"  # all capital in the basket at the configured weights
    BASKET_AND_COLLATERAL = (
        "basket_and_collateral"  # hedged side's basket + collateral coins, no short
    )
    BASKET_AND_CASH = "basket_and_cash"  # hedged side's basket + collateral's USD kept as cash


_TF_RE = re.compile(r"^(\d+)([mhdw])$")
_TF_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass(frozen=True, order=True)
class Timeframe:
    """A bar length such as ``1h``, ``8h``, ``1d`` (ccxt spelling)."""

    ms: int

    @classmethod
    def parse(cls, text: str | Timeframe) -> Timeframe:
        if isinstance(text, Timeframe):
            return text
        m = _TF_RE.match(str(text).strip())
        if not m or int(m.group(1)) <= 0:
            raise ValueError(f"invalid timeframe {text!r}; expected e.g. 1m, 15m, 1h, 8h, 1d, 1w")
        return cls(int(m.group(1)) * _TF_UNIT_MS[m.group(2)])

    @property
    def ns(self) -> int:
        return self.ms * 1_000_000

    @property
    def text(self) -> str:
        for unit in ("w", "d", "h", "m"):
            size = _TF_UNIT_MS[unit]
            if self.ms % size == 0:
                return f"{self.ms // size}{unit}"
        raise AssertionError("unreachable: every timeframe is a whole number of minutes")

    def __str__(self) -> str:
        return self.text


def safe_symbol(symbol: str) -> str:
    """File-name form of a ccxt symbol: ``ETH/USD:ETH`` -> ``ETH_USD_ETH``."""
    return symbol.replace("/", "_").replace(":", "_")
