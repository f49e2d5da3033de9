"""Market arrays of a run: every series aligned onto one UTC bar grid (``engine.types``).

``build_market`` reads the spot candles of the basket coins and, per hedge leg, the mark
candles (or a stated substitute), the perp's last-price candles (the trade price) and the
funding history, through :func:`perphedge.data.loader.load`. Rules (docs/engine.md):

- Grid: bar opens ``[start, end)`` of the run timeframe, on the data layer's grid (epoch
  aligned; weeks open on Mondays). Bars are labelled by their UTC open.
- A series that starts after the first bar or ends before the last one is an error naming it
  and its first (last) timestamp. Missing bars inside the window: ``refuse`` stops with the gap
  spans; ``ffill`` carries the last close forward as flat bars (open = high = low = close,
  volume 0) over gaps of at most ``max_fill_bars`` bars and reports every filled span.
- Mark: the ``mark`` series at the run timeframe if stored; otherwise per ``mark_substitute``:
  ``auto`` (perp last price at the run timeframe if stored, else the spot of the leg's coin),
  ``last``/``perp``, ``spot``, or ``none`` (missing mark candles are an error). A note says
  exactly what stands in. ``trade_close`` is the perp's last close if stored, else the mark.
- ``coin_usd``: the spot close of an inverse leg's margin coin on the basket's spot exchange
  (the quote, e.g. USDT, is taken as 1 USD; a note says so); 1.0 for linear legs.
- Funding: each event at time ``T`` goes to the bar whose ``[open, open + bar)`` contains it.
  ``funding_rate`` sums the rates, ``funding_per_unit`` sums ``S*r/mark_e`` (inverse, coins per
  contract) or ``r*mark_e`` (linear, USDT per coin), ``mark_e`` being the record's
  ``mark_price`` if it has one, else the mark (or substitute) open of that bar. Missing
  funding events follow the gap policy (``funding_gaps: zero`` counts them as no payment).
- Resampling: a candle series not stored at the run timeframe is built from the finest stored
  timeframe that divides it (:func:`resample_onto`); a coarse bar with a missing part is a
  missing bar. Funding is never resampled.
- Price sources: per leg, where the trade price, the mark and the liquidation high come from
  (:class:`PriceSource`); a substitute from another venue, market type or a coarser timeframe
  is a warning with its basis to the leg's own stored prices.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perphedge.config import FundingGaps, GapPolicy, MarkSubstitute
from perphedge.data.loader import LoadedSeries, load
from perphedge.data.store import SeriesKey, Store
from perphedge.data.validate import Gap, bar_offset_ns, grid_offset_ns
from perphedge.domain import InstrumentKind, MarketType, Series, Timeframe
from perphedge.engine.types import MarketArrays
from perphedge.errors import ConfigError, DataValidationError, PerphedgeError

_HOUR_NS = 3_600 * 10**9
_VENUE_NAMES = {"binance": "Binance", "bybit": "Bybit", "okx": "OKX", "bitmex": "BitMEX"}
_DOLLAR_QUOTES = ("USDT", "USDC", "USD", "BUSD", "FDUSD")


# ---------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class LegSpec:
    """A hedge leg as the config names it. ``kind`` and ``contract_size`` are optional: the
    data's metadata provides them; a given ``kind`` must agree with the data."""

    exchange: str
    symbol: str
    kind: InstrumentKind | None = None
    contract_size: float | None = None

    @property
    def label(self) -> str:
        return f"{self.exchange} {self.symbol}"


@dataclass(frozen=True)
class SourceInfo:
    """One stored file a run read: what, where, which slice, and its content hash."""

    series: str  # e.g. "binance ETH/USD:ETH funding"
    path: str
    first: pd.Timestamp | None  # first timestamp used (in the run window)
    last: pd.Timestamp | None
    rows: int  # rows (bars or funding events) used
    source: str | None  # the metadata's ``source``
    sha256: str  # of the file's bytes


class PriceOrigin(str, Enum):
    """How a price series of a leg was obtained."""

    OWN = "own"  # the leg's own stored series at the run timeframe
    RESAMPLED = "resampled"  # the leg's own series, built from finer stored candles
    SUBSTITUTE = "substitute"  # another series stands in (e.g. spot for the mark)


class PriceRole(str, Enum):
    """What a leg's price series is used for in the engine."""

    TRADE = "trade"  # fills of the short (trade_close)
    MARK = "mark"  # unrealised PnL, margin, funding (mark_close)
    LIQUIDATION_HIGH = "liquidation high"  # the bar's high tested against liquidation


@dataclass(frozen=True)
class PriceSource:
    """Where one price of one leg comes from, and the basis ignored if it is a substitute.

    ``basis_median_pct`` and ``basis_max_pct`` are the median and largest absolute gap (in %)
    between this series and the leg's own stored prices at the close times both have; ``None``
    when it is the leg's own series or no own prices are stored to compare with."""

    leg: str
    role: PriceRole
    venue: str
    market: MarketType
    symbol: str
    series: Series
    timeframe: str
    origin: PriceOrigin
    built_from: str | None = None  # finer timeframe resampled from
    warning: bool = False  # another venue, market type or a coarser timeframe
    basis_median_pct: float | None = None
    basis_max_pct: float | None = None
    basis_points: int = 0  # close times compared
    compared_with: str | None = None  # the own series the basis was measured against


@dataclass(frozen=True)
class LegInfo:
    """Contract facts and price sources of one hedge leg."""

    label: str
    exchange: str
    symbol: str
    kind: InstrumentKind
    contract_size: float | None
    margin_coin: str  # settle coin ("ETH" for ETH/USD:ETH, "USDT" for linear)
    mark_source: str  # what the mark is, in words
    trade_source: str  # what the trade price is, in words
    funding_events: int  # events in the run window
    funding_intervals_hours: tuple[float, ...]  # distinct intervals seen in the window
    price_sources: tuple[PriceSource, ...] = ()  # trade, mark and liquidation-high sources


@dataclass(frozen=True)
class MarketInfo:
    """Where a run's market data came from. ``fingerprint`` names the data of a run."""

    timeframe: str
    start: pd.Timestamp  # first bar open
    end: pd.Timestamp  # last bar close
    legs: tuple[LegInfo, ...]
    sources: tuple[SourceInfo, ...]
    notes: tuple[str, ...]
    fingerprint: str
    warnings: tuple[str, ...] = ()  # substitutes that hide basis or venue risk

    @property
    def price_sources(self) -> tuple[PriceSource, ...]:
        """Every leg's price sources, in leg order."""
        return tuple(p for leg in self.legs for p in leg.price_sources)


# ---------------------------------------------------------------------------------- helpers


def parse_symbol(symbol: str) -> tuple[str, str, str | None]:
    """``ETH/USD:ETH`` -> ``("ETH", "USD", "ETH")``; spot ``ETH/USDT`` -> settle ``None``."""
    pair, _, settle = symbol.partition(":")
    base, _, quote = pair.partition("/")
    return base, quote, (settle or None)


def symbol_kind(symbol: str) -> InstrumentKind:
    """ccxt convention: settled in the base coin = inverse, otherwise linear."""
    base, _, settle = parse_symbol(symbol)
    return InstrumentKind.INVERSE if settle == base else InstrumentKind.LINEAR


def spot_series_for(exchange: str, coin: str, quote: str, timeframe: Timeframe | str) -> SeriesKey:
    """The spot candle series of ``coin`` quoted in ``quote`` (``SOL`` -> ``SOL/USDT``)."""
    return SeriesKey(exchange, f"{coin}/{quote}", Series.OHLCV, Timeframe.parse(timeframe))


def _enum(value: Any, enum: type[Enum], aliases: dict[str, str] | None = None) -> Any:
    raw = value.value if isinstance(value, Enum) else str(value)
    raw = (aliases or {}).get(raw, raw)
    try:
        return enum(raw)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)  # type: ignore[attr-defined]
        raise ConfigError("data", f"unknown option {raw!r}; allowed: {allowed}") from None


def _gap_policy(value: Any) -> GapPolicy:
    return _enum(value, GapPolicy)


def _mark_substitute(value: Any) -> MarkSubstitute:
    return _enum(value, MarkSubstitute, {"perp": MarkSubstitute.LAST.value})


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("ns")


def _ts(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _venue(exchange: str) -> str:
    return _VENUE_NAMES.get(exchange, exchange.capitalize())


def make_grid(timeframe: Timeframe, start: Any, end: Any, offset_ns: int = 0) -> np.ndarray:
    """Bar opens (int64 ns, UTC) of ``timeframe`` in ``[start, end)``, on the data grid
    shifted by ``offset_ns`` (daily bars on the 08:00 UTC clock: ``offset_ns`` = 8h)."""
    s, e = _utc(start).value, _utc(end).value
    step, off = timeframe.ns, grid_offset_ns(timeframe) + int(offset_ns)
    first = s + (-(s - off)) % step
    if first >= e:
        return np.empty(0, dtype=np.int64)
    n = (e - first + step - 1) // step
    return first + np.arange(n, dtype=np.int64) * step


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[lo, hi)`` index runs where ``mask`` is true."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


@dataclass
class _Candles:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    meta: dict[str, Any]


def shifted_source(timeframe: Timeframe, offset_ns: int) -> Timeframe:
    """Exchange candles (on the epoch grid) that build bars of ``timeframe`` shifted by
    ``offset_ns``: 1h, or the finer step both the offset and the bar are multiples of."""
    hour = Timeframe.parse("1h").ns
    step = math.gcd(math.gcd(int(offset_ns), timeframe.ns), hour)
    return Timeframe(step // 1_000_000)


def finer_timeframe(
    stored: Sequence[Timeframe], target: Timeframe, offset_ns: int = 0
) -> Timeframe | None:
    """The finest of ``stored`` that divides ``target`` and shares its grid (shifted by
    ``offset_ns``), else ``None``.

    A 4h bar is built from 1h (or 2h, 30m) candles; a week (opening on Monday) from days; a
    day on the 08:00 UTC clock from 1h or 8h candles."""
    fits = finer_timeframes(stored, target, offset_ns)
    return fits[0] if fits else None


def finer_timeframes(
    stored: Sequence[Timeframe], target: Timeframe, offset_ns: int = 0
) -> list[Timeframe]:
    """Every one of ``stored`` that divides ``target`` and shares its grid, finest first."""
    fits = {
        tf
        for tf in stored
        if tf.ns < target.ns
        and target.ns % tf.ns == 0
        and (grid_offset_ns(target) + int(offset_ns) - grid_offset_ns(tf)) % tf.ns == 0
    }
    return sorted(fits, key=lambda tf: tf.ns)


def resample_onto(
    times_ns: np.ndarray,
    columns: dict[str, np.ndarray],
    fine: Timeframe,
    grid: np.ndarray,
    coarse: Timeframe,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Coarse bars on ``grid`` from fine candles: open first, high max, low min, close last.

    Returns ``(present, cols)``: a coarse bar is present only when every one of its fine bars
    is; the others are NaN (the caller applies the gap policy, never a partial bar)."""
    k = coarse.ns // fine.ns
    n = grid.size
    rel = times_ns - int(grid[0])
    inside = (rel >= 0) & (rel < n * coarse.ns)
    rel = rel[inside]
    bar, sub = rel // coarse.ns, (rel % coarse.ns) // fine.ns
    present = np.bincount(bar, minlength=n) == k
    out = {c: np.full(n, np.nan) for c in ("open", "high", "low", "close")}
    vals = {c: np.asarray(v, dtype=np.float64)[inside] for c, v in columns.items()}
    first, last = sub == 0, sub == k - 1
    out["open"][bar[first]] = vals["open"][first]
    out["close"][bar[last]] = vals["close"][last]
    high, low = np.full(n, -np.inf), np.full(n, np.inf)
    np.maximum.at(high, bar, vals["high"])
    np.minimum.at(low, bar, vals["low"])
    out["high"][present], out["low"][present] = high[present], low[present]
    for c in out.values():
        c[~present] = np.nan
    return present, out


@dataclass
class _Reader:
    """Loads and aligns series once each, collecting sources and notes."""

    store: Store
    timeframe: Timeframe
    grid: np.ndarray
    gap_policy: GapPolicy
    max_fill_bars: int
    funding_gaps: FundingGaps = FundingGaps.FOLLOW
    offset_ns: int = 0  # the run's bar grid shift (``offset``)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, SourceInfo] = field(default_factory=dict)
    built_from: dict[SeriesKey, Timeframe] = field(default_factory=dict)
    _candles: dict[SeriesKey, _Candles] = field(default_factory=dict)
    _stored: list[SeriesKey] | None = None

    @property
    def start_ns(self) -> int:
        return int(self.grid[0])

    @property
    def end_ns(self) -> int:
        return int(self.grid[-1]) + self.timeframe.ns

    def _record(self, loaded: LoadedSeries, index: pd.DatetimeIndex) -> None:
        path = Path(loaded.path)
        self.sources[str(loaded.key)] = SourceInfo(
            series=str(loaded.key),
            path=str(path),
            first=index[0] if len(index) else None,
            last=index[-1] if len(index) else None,
            rows=len(index),
            source=loaded.meta.get("source"),
            sha256=_file_sha256(path),
        )

    def stored_timeframes(self, key: SeriesKey) -> list[Timeframe]:
        """Timeframes stored for ``key``'s exchange, symbol and series."""
        if self._stored is None:
            self._stored = list(self.store.keys())
        return [
            k.timeframe
            for k in self._stored
            if (k.exchange, k.symbol, k.series) == (key.exchange, key.symbol, key.series)
            and k.timeframe is not None
        ]

    def on_clock(self, key: SeriesKey) -> bool:
        """``key`` is stored with its bars on this run's clock (its ``bar_offset`` = ``offset``)."""
        if not self.store.exists(key):
            return False
        try:
            shift = bar_offset_ns(self.store.read_meta(key).get("bar_offset"))
        except ValueError:
            return False  # a malformed bar_offset: the load reports it
        return shift == self.offset_ns

    def fetchable(self) -> Timeframe:
        """Exchange candles that build this run's shifted bars (see :func:`shifted_source`)."""
        return shifted_source(self.timeframe, self.offset_ns)

    def finer(self, key: SeriesKey) -> SeriesKey | None:
        """The stored finer series ``key`` can be resampled from (if ``key`` is not stored on
        this run's clock)."""
        if key.timeframe is None or self.on_clock(key):
            return None
        fits = finer_timeframes(self.stored_timeframes(key), key.timeframe, self.offset_ns)
        keys = [SeriesKey(key.exchange, key.symbol, key.series, tf) for tf in fits]
        if len(keys) > 1:
            # the finest series that builds every bar of the run; else the finest (its gaps
            # then meet the gap policy)
            for fine in keys:
                if self._builds_every_bar(fine):
                    if fine != keys[0]:
                        self.notes.append(
                            f"{key.exchange} {key.symbol} {key.series.value} {self.timeframe}: "
                            f"the {keys[0].timeframe} candles miss bars of the run; the "
                            f"{fine.timeframe} candles are complete and are used"
                        )
                    return fine
        return keys[0] if keys else None

    def _builds_every_bar(self, fine: SeriesKey) -> bool:
        """Every bar of the run has all its ``fine`` candles (a file that fails to load: no)."""
        try:
            frame = load(
                self.store,
                fine.exchange,
                fine.symbol,
                fine.series,
                fine.timeframe,
                start=pd.Timestamp(self.start_ns, tz="UTC"),
                end=pd.Timestamp(self.end_ns, tz="UTC"),
            ).frame
        except PerphedgeError:
            return False
        assert fine.timeframe is not None  # finer() only builds candle keys
        rel = frame.index.as_unit("ns").asi8 - self.start_ns
        counts = np.bincount(rel // self.timeframe.ns, minlength=self.grid.size)
        return bool((counts[: self.grid.size] == self.timeframe.ns // fine.timeframe.ns).all())

    def available(self, key: SeriesKey) -> bool:
        """Stored at the run timeframe, or buildable from finer stored candles."""
        return self.store.exists(key) or self.finer(key) is not None

    def has(self, key: SeriesKey) -> bool:
        return key in self._candles

    def meta(self, key: SeriesKey) -> dict[str, Any]:
        return self._candles[key].meta

    def candles(self, key: SeriesKey) -> _Candles:
        hit = self._candles.get(key)
        if hit is not None:
            return hit
        fine = self.finer(key)
        read_key = fine or key
        if fine is None and self.offset_ns and not self.store.exists(key):
            # nothing to read: name the candles an exchange serves that build this clock's bars
            read_key = SeriesKey(key.exchange, key.symbol, key.series, self.fetchable())
        loaded = load(
            self.store,
            read_key.exchange,
            read_key.symbol,
            read_key.series,
            read_key.timeframe,
            start=pd.Timestamp(self.start_ns, tz="UTC"),
            end=pd.Timestamp(self.end_ns, tz="UTC"),
        )
        frame = loaded.frame
        self._record(loaded, frame.index)
        times = frame.index.as_unit("ns").asi8
        if fine is not None:
            assert fine.timeframe is not None  # finer() only returns candle keys
            raw = {c: frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")}
            present, cols = resample_onto(times, raw, fine.timeframe, self.grid, self.timeframe)
            self.built_from[key] = fine.timeframe
            self.notes.append(
                f"{key.exchange} {key.symbol} {key.series.value} {self.timeframe} built from "
                f"{fine.timeframe} candles"
            )
        else:
            step, n = self.timeframe.ns, self.grid.size
            off_grid = (times - self.start_ns) % step != 0
            if off_grid.any():
                shift = loaded.meta.get("bar_offset")
                clock = f" (its bars are shifted by {shift})" if shift else ""
                raise DataValidationError(
                    f"{loaded.path}: bars open at {_ts(int(times[off_grid][0]))}{clock}, off "
                    f"this run's {self.timeframe} bars that open at {_ts(self.start_ns)}; a "
                    "price is never read on another clock"
                )
            pos = (times - self.start_ns) // step
            present = np.zeros(n, dtype=bool)
            present[pos] = True
            cols = {c: np.full(n, np.nan) for c in ("open", "high", "low", "close")}
            for c in cols:
                cols[c][pos] = frame[c].to_numpy(dtype=np.float64)
        if not present.all():
            self._fill(key, read_key, loaded, present, cols)
        out = _Candles(meta=loaded.meta, **cols)
        self._candles[key] = out
        return out

    def _fill(
        self,
        key: SeriesKey,
        read_key: SeriesKey,
        loaded: LoadedSeries,
        present: np.ndarray,
        cols: dict[str, np.ndarray],
    ) -> None:
        name = str(key)
        if read_key != key:
            name = f"{name} (built from {read_key.timeframe} candles)"
        if not present.any():
            whole, _ = self.store.read(read_key)
            span = (
                f"the file covers {_ts(whole.index[0].value)} .. {_ts(whole.index[-1].value)}"
                if len(whole)
                else "the file is empty"
            )
            raise DataValidationError(
                f"{name}: no bars in the run window {_ts(self.start_ns)} .. "
                f"{_ts(self.end_ns)}; {span} ({loaded.path})"
            )
        if not present[0]:
            first = int(self.grid[np.argmax(present)])
            raise DataValidationError(
                f"{name}: data starts at {_ts(first)}, after the run start "
                f"{_ts(self.start_ns)}; move period.start to {_ts(first)} or later, or fetch "
                f"earlier data ({loaded.path})"
            )
        if not present[-1]:
            last = int(self.grid[len(present) - 1 - np.argmax(present[::-1])])
            raise DataValidationError(
                f"{name}: data ends at {_ts(last)}, before the last bar of the run "
                f"({_ts(int(self.grid[-1]))}); move period.end back, or fetch later data "
                f"({loaded.path})"
            )
        step = self.timeframe.ns
        gaps = [
            Gap(
                pd.Timestamp(int(self.grid[lo]), tz="UTC"),
                pd.Timestamp(int(self.grid[lo]) + (hi - lo) * step, tz="UTC"),
                hi - lo,
            )
            for lo, hi in _runs(~present)
        ]
        listed = "; ".join(str(g) for g in gaps[:3]) + (
            f"; +{len(gaps) - 3} more" if len(gaps) > 3 else ""
        )
        longest = max(g.missing_bars for g in gaps)
        if self.gap_policy is GapPolicy.REFUSE:
            raise DataValidationError(
                f"{name}: {len(gaps)} gap(s) in the run window: {listed}; data.gap_policy is "
                f"refuse (set gap_policy: ffill and max_fill_bars: {longest} or more to carry "
                "the last close over them)"
            )
        too_long = [g for g in gaps if g.missing_bars > self.max_fill_bars]
        if too_long:
            raise DataValidationError(
                f"{name}: gap {too_long[0]} is longer than data.max_fill_bars = "
                f"{self.max_fill_bars}; refusing to carry prices over it"
            )
        filled = pd.Series(cols["close"]).ffill().to_numpy()
        for c in cols.values():
            c[~present] = filled[~present]
        built = "" if read_key == key else f" ({read_key.timeframe} candles resampled)"
        self.notes.append(  # the series first, so the same gap in every coin groups as one
            f"{key}: carried the last close forward as flat bars over "
            f"{int((~present).sum())} missing bar(s): {listed}{built}"
        )

    def funding(self, key: SeriesKey) -> tuple[pd.DataFrame, dict[str, Any]]:
        """The funding events in the run window (and the file's metadata), after coverage and
        gap checks. Funding is event data: never resampled."""
        loaded = load(self.store, key.exchange, key.symbol, Series.FUNDING)
        frame = loaded.frame
        name = str(key)
        if frame.empty:
            raise DataValidationError(f"{name}: the funding file has no events ({loaded.path})")
        times = frame.index.as_unit("ns").asi8
        iv = frame["interval_hours"].to_numpy(dtype=np.float64)
        first_iv = iv[0] if np.isfinite(iv[0]) else 8.0
        last_iv = iv[-1] if np.isfinite(iv[-1]) else 8.0
        if times[0] - self.start_ns > first_iv * _HOUR_NS:
            raise DataValidationError(
                f"{name}: funding starts at {_ts(times[0])}, after the run start "
                f"{_ts(self.start_ns)}; move period.start or fetch earlier funding "
                f"({loaded.path})"
            )
        if times[-1] + last_iv * _HOUR_NS < self.end_ns:
            raise DataValidationError(
                f"{name}: funding ends at {_ts(times[-1])} (next event due "
                f"{_ts(times[-1] + int(last_iv * _HOUR_NS))}), before the run end "
                f"{_ts(self.end_ns)}; move period.end back or fetch later funding ({loaded.path})"
            )
        inside = (times >= self.start_ns) & (times < self.end_ns)
        window = frame.loc[inside]
        self._record(loaded, window.index)
        gaps = [
            g for g in loaded.gaps if g.start.value < self.end_ns and g.end.value > self.start_ns
        ]
        if gaps:
            self._funding_gaps(name, gaps)
        return window, loaded.meta

    def _funding_gaps(self, name: str, gaps: Sequence[Gap]) -> None:
        """Missing funding events follow the gap policy: refused unless ``ffill`` covers every
        gap (at most ``max_fill_bars`` missing events each) or ``funding_gaps: zero`` says to
        count them as no payment; allowed ones are a warning."""
        missing = sum(g.missing_bars for g in gaps)
        listed = "; ".join(str(g) for g in gaps[:3]) + (
            f"; +{len(gaps) - 3} more" if len(gaps) > 3 else ""
        )
        longest = max(g.missing_bars for g in gaps)
        if self.funding_gaps is not FundingGaps.ZERO:
            if self.gap_policy is GapPolicy.REFUSE:
                raise DataValidationError(
                    f"{name}: {missing} missing funding event(s) in the run window: {listed}; "
                    "data.gap_policy is refuse (fetch the missing funding, or set "
                    "data.funding_gaps: zero to count it as no payment)"
                )
            if longest > self.max_fill_bars:
                worst = max(gaps, key=lambda g: g.missing_bars)
                raise DataValidationError(
                    f"{name}: {missing} missing funding event(s) in the run window, the longest "
                    f"gap {worst} is more than data.max_fill_bars = {self.max_fill_bars}; "
                    "refusing to count it as no payment (fetch the missing funding, or set "
                    "data.funding_gaps: zero)"
                )
        self.notes.append(
            f"{name}: {missing} missing funding event(s) ({listed}) are counted as no payment"
        )


# ---------------------------------------------------------------------------------- building


def _own_keys(leg: LegSpec, role: PriceRole, tf: Timeframe) -> tuple[SeriesKey, SeriesKey]:
    """The leg's own series for a role, then the other own series to measure a basis with."""
    mark = SeriesKey(leg.exchange, leg.symbol, Series.MARK, tf)
    perp = SeriesKey(leg.exchange, leg.symbol, Series.OHLCV, tf)
    return (perp, mark) if role is PriceRole.TRADE else (mark, perp)


def basis_pct(
    sub_times: np.ndarray, sub_close: np.ndarray, own_times: np.ndarray, own_close: np.ndarray
) -> tuple[float, float, int] | None:
    """Median and largest ``|sub / own - 1|`` in % over the close times both series have."""
    _, i, k = np.intersect1d(sub_times, own_times, assume_unique=True, return_indices=True)
    if i.size == 0:
        return None
    gap = np.abs(sub_close[i] / own_close[k] - 1.0) * 100.0
    return float(np.median(gap)), float(gap.max()), int(i.size)


def _measure_basis(
    reader: _Reader, leg: LegSpec, role: PriceRole, sub: SeriesKey
) -> tuple[float, float, int, str] | None:
    """The basis between a substitute and the leg's own stored prices (any timeframe)."""
    sub_times = reader.grid + reader.timeframe.ns
    sub_close = reader.candles(sub).close
    for key in _own_keys(leg, role, reader.timeframe):
        if (key.exchange, key.symbol, key.series) == (sub.exchange, sub.symbol, sub.series):
            continue  # the substitute itself (e.g. the perp standing in for the mark)
        stored = reader.stored_timeframes(key)
        if not stored:
            continue
        own_tf = min(stored, key=lambda t: t.ns)
        own_key = SeriesKey(key.exchange, key.symbol, key.series, own_tf)
        frame, _ = reader.store.read(own_key)
        opens = frame.index.as_unit("ns").asi8
        close_times = opens + own_tf.ns
        keep = (opens >= reader.start_ns) & (close_times <= reader.end_ns)
        found = basis_pct(
            sub_times,
            sub_close,
            close_times[keep],
            frame["close"].to_numpy(dtype=np.float64)[keep],
        )
        if found is not None:
            return (*found, f"{own_key.exchange} {own_key.symbol} {own_key.series.value} {own_tf}")
    return None


def leg_price_sources(
    reader: _Reader, leg: LegSpec, used: dict[PriceRole, SeriesKey]
) -> tuple[tuple[PriceSource, ...], str | None]:
    """Trade, mark and liquidation-high sources of one leg, and the warning (if any) for a
    substitute from another venue, another market type or a coarser timeframe."""
    used = {**used, PriceRole.LIQUIDATION_HIGH: used[PriceRole.MARK]}
    out: list[PriceSource] = []
    flagged: dict[SeriesKey, list[str]] = {}
    reasons_of: dict[SeriesKey, list[str]] = {}
    basis_of: dict[SeriesKey, tuple[float, float, int, str] | None] = {}
    for role, key in used.items():
        own = _own_keys(leg, role, reader.timeframe)[0]
        tf = key.timeframe or reader.timeframe
        fine = reader.built_from.get(key)
        if key == own:
            origin = PriceOrigin.RESAMPLED if fine is not None else PriceOrigin.OWN
        else:
            origin = PriceOrigin.SUBSTITUTE
        reasons = []
        if origin is PriceOrigin.SUBSTITUTE:
            if key.exchange != leg.exchange:
                reasons.append("another venue")
            if key.market_type is not MarketType.SWAP:
                reasons.append("another market type")
            if tf.ns > reader.timeframe.ns:
                reasons.append("a coarser timeframe")
        measured = None
        if origin is PriceOrigin.SUBSTITUTE:
            if key not in basis_of:
                basis_of[key] = _measure_basis(reader, leg, role, key)
            measured = basis_of[key]
        if reasons:
            flagged.setdefault(key, []).append(role.value)
            reasons_of[key] = reasons
        out.append(
            PriceSource(
                leg=leg.label,
                role=role,
                venue=key.exchange,
                market=key.market_type,
                symbol=key.symbol,
                series=key.series,
                timeframe=tf.text,
                origin=origin,
                built_from=None if fine is None else fine.text,
                warning=bool(reasons),
                basis_median_pct=None if measured is None else measured[0],
                basis_max_pct=None if measured is None else measured[1],
                basis_points=0 if measured is None else measured[2],
                compared_with=None if measured is None else measured[3],
            )
        )
    parts = []
    for key, roles in flagged.items():
        what = ", ".join(roles[:-1]) + (" and " if len(roles) > 1 else "") + roles[-1]
        text = (
            f"{leg.label}: {what} price from {_venue(key.exchange)} {key.market_type.value} "
            f"{key.symbol} {key.timeframe}, a substitute from {' and '.join(reasons_of[key])}; "
        )
        measured = basis_of.get(key)
        if measured is None:
            text += "no own prices of the leg are stored to measure the basis this ignores"
        else:
            med, big, n, against = measured
            text += (
                f"its gap to {against} (the basis the run ignores) is median {med:.3f}%, "
                f"largest {big:.3f}% over {n} common closes"
            )
        parts.append(text)
    return tuple(out), ("; ".join(parts) or None)


def _leg_kind(
    j: int, leg: LegSpec, metas: Sequence[dict[str, Any]]
) -> tuple[InstrumentKind, float | None]:
    """Kind and contract size from the data's metadata, checked against the config."""
    kinds = {m.get("kind") for m in metas if m.get("kind")}
    if len(kinds) > 1:
        raise DataValidationError(
            f"{leg.label}: the stored files disagree on the instrument kind ({sorted(kinds)})"
        )
    data_kind = InstrumentKind(kinds.pop()) if kinds else None
    given = None if leg.kind is None else InstrumentKind(leg.kind)
    if data_kind is not None and given is not None and given is not data_kind:
        raise ConfigError(
            f"hedge.legs[{j}].kind",
            f"{given.value} contradicts the data for {leg.symbol}, which is {data_kind.value}",
        )
    kind = data_kind or given or symbol_kind(leg.symbol)
    sizes = [float(m["contract_size"]) for m in metas if m.get("contract_size") is not None]
    size = leg.contract_size if leg.contract_size is not None else (sizes[0] if sizes else None)
    if kind is InstrumentKind.INVERSE and (size is None or not size > 0):
        raise ConfigError(
            f"hedge.legs[{j}].contract_size",
            f"the data for {leg.symbol} has no contract size; set it (USD per contract)",
        )
    return kind, size


def _fingerprint(timeframe: Timeframe, start_ns: int, end_ns: int, sources: Sequence[SourceInfo]):
    doc = {
        "timeframe": timeframe.text,
        "start": _ts(start_ns),
        "end": _ts(end_ns),
        "files": sorted([s.series, s.sha256] for s in sources),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def build_market(
    store: Store,
    *,
    timeframe: Timeframe | str,
    start: Any,
    end: Any,
    spot_exchange: str,
    coins: Sequence[str],
    quote: str = "USDT",
    legs: Sequence[LegSpec],
    gap_policy: GapPolicy | str = GapPolicy.REFUSE,
    max_fill_bars: int = 0,
    mark_substitute: MarkSubstitute | str = MarkSubstitute.AUTO,
    funding_gaps: FundingGaps | str = FundingGaps.FOLLOW,
    offset: Timeframe | str | None = None,
) -> tuple[MarketArrays, MarketInfo]:
    """Load and align everything a run needs; see the module docstring for the rules.
    ``offset`` shifts the bar grid (``1d`` with ``8h``: bars open and close at 08:00 UTC)."""
    tf = Timeframe.parse(timeframe)
    gp = _gap_policy(gap_policy)
    ms = _mark_substitute(mark_substitute)
    fg = _enum(funding_gaps, FundingGaps)
    if not legs:
        raise ConfigError("hedge.legs", "at least one hedge leg is needed")
    shift = bar_offset_ns(offset)
    grid = make_grid(tf, start, end, shift)
    if grid.size == 0:
        raise ConfigError(
            "period", f"no {tf} bar opens in [{_utc(start)}, {_utc(end)}); widen the period"
        )
    reader = _Reader(store, tf, grid, gp, int(max_fill_bars), fg, offset_ns=shift)
    warnings: list[str] = []
    notes = reader.notes
    if grid[0] != _utc(start).value:
        notes.append(
            f"period start {_utc(start)} is not on the {tf} grid; the first bar opens at {_ts(grid[0])}"
        )
    if quote.upper() != "USD":
        notes.append(f"USD values use {quote} prices, taking 1 {quote} = 1 USD")
    n = grid.size
    spot = np.column_stack(
        [reader.candles(spot_series_for(spot_exchange, c, quote, tf)).close for c in coins]
    )
    mark_c, mark_h, mark_l, trade, coin_usd = (np.empty((n, len(legs))) for _ in range(5))
    f_rate, f_unit = np.zeros((n, len(legs))), np.zeros((n, len(legs)))
    f_events = np.zeros((n, len(legs)), dtype=np.int64)
    kinds: list[InstrumentKind] = []
    infos: list[LegInfo] = []
    for j, leg in enumerate(legs):
        base, _, settle = parse_symbol(leg.symbol)
        if settle is None:
            raise ConfigError(
                f"hedge.legs[{j}].symbol",
                f"{leg.symbol!r} is not a perpetual swap symbol (expected e.g. ETH/USD:ETH)",
            )
        mark_key = SeriesKey(leg.exchange, leg.symbol, Series.MARK, tf)
        perp_key = SeriesKey(leg.exchange, leg.symbol, Series.OHLCV, tf)
        fund_key = SeriesKey(leg.exchange, leg.symbol, Series.FUNDING)
        spot_key = spot_series_for(spot_exchange, base, quote, tf)
        has_perp = reader.available(perp_key)
        spot_words = f"{_venue(spot_exchange)} spot {base}/{quote} close"
        perp_words = f"{_venue(leg.exchange)} {leg.symbol} perp last price ({tf} candles)"
        if reader.available(mark_key) or ms is MarkSubstitute.NONE:
            mark_used = mark_key
            mark = reader.candles(mark_key)  # MissingDataError (with the command) if absent
            mark_words = f"{_venue(leg.exchange)} {leg.symbol} mark price ({tf} candles)"
        else:
            use_perp = ms is MarkSubstitute.LAST or (ms is MarkSubstitute.AUTO and has_perp)
            mark_used = perp_key if use_perp else spot_key
            mark = reader.candles(mark_used)
            mark_words = perp_words if use_perp else spot_words
            notes.append(f"{leg.label}: no mark candles; {mark_words} stands in for the mark")
        trade_used = perp_key if has_perp else mark_used
        trade_c = reader.candles(perp_key).close if has_perp else mark.close
        trade_words = perp_words if has_perp else f"the mark ({mark_words})"
        price_sources, warning = leg_price_sources(
            reader, leg, {PriceRole.TRADE: trade_used, PriceRole.MARK: mark_used}
        )
        if warning:
            warnings.append(warning)
        window, fund_meta = reader.funding(fund_key)
        metas = [reader.meta(k) for k in (mark_key, perp_key) if reader.has(k)]
        metas.append(fund_meta)
        kind, size = _leg_kind(j, leg, metas)
        if kind is InstrumentKind.INVERSE:
            coin_usd[:, j] = reader.candles(spot_series_for(spot_exchange, settle, quote, tf)).close
        else:
            coin_usd[:, j] = 1.0
        mark_c[:, j], mark_h[:, j], mark_l[:, j], trade[:, j] = (
            mark.close,
            mark.high,
            mark.low,
            trade_c,
        )
        pos = (window.index.as_unit("ns").asi8 - int(grid[0])) // tf.ns
        rate = window["funding_rate"].to_numpy(dtype=np.float64)
        mark_e = mark.open[pos]
        if "mark_price" in window.columns:
            recorded = window["mark_price"].to_numpy(dtype=np.float64)
            mark_e = np.where(np.isfinite(recorded), recorded, mark_e)
        per_unit = size * rate / mark_e if kind is InstrumentKind.INVERSE else rate * mark_e
        np.add.at(f_rate[:, j], pos, rate)
        np.add.at(f_unit[:, j], pos, per_unit)
        np.add.at(f_events[:, j], pos, 1)
        intervals = tuple(
            sorted({float(h) for h in window["interval_hours"].to_numpy() if np.isfinite(h)})
        )
        if len(intervals) > 1:
            notes.append(
                f"{leg.label}: funding interval changes in the run window "
                f"({', '.join(f'{h:g}h' for h in intervals)}), read from the data"
            )
        kinds.append(kind)
        infos.append(
            LegInfo(
                label=leg.label,
                exchange=leg.exchange,
                symbol=leg.symbol,
                kind=kind,
                contract_size=size,
                margin_coin=settle,
                mark_source=mark_words,
                trade_source=trade_words,
                funding_events=len(window),
                funding_intervals_hours=intervals,
                price_sources=price_sources,
            )
        )
    sources = tuple(reader.sources.values())
    start_ns, end_ns = int(grid[0]), int(grid[-1]) + tf.ns
    market = MarketArrays(
        times=grid,
        bar_ns=tf.ns,
        coins=tuple(coins),
        spot_close=spot,
        legs=tuple(leg.label for leg in legs),
        leg_kind=tuple(kinds),
        mark_close=mark_c,
        mark_high=mark_h,
        mark_low=mark_l,
        trade_close=trade,
        coin_usd=coin_usd,
        funding_rate=f_rate,
        funding_per_unit=f_unit,
        funding_events=f_events,
        notes=tuple(notes),
    )
    info = MarketInfo(
        timeframe=tf.text,
        start=pd.Timestamp(start_ns, tz="UTC"),
        end=pd.Timestamp(end_ns, tz="UTC"),
        legs=tuple(infos),
        sources=sources,
        notes=tuple(notes),
        fingerprint=_fingerprint(tf, start_ns, end_ns, sources),
        warnings=tuple(warnings),
    )
    return market, info


def _stored_or_finer(store: Store, key: SeriesKey) -> bool:
    """Stored at its timeframe, or buildable from finer stored candles (as a run reads it)."""
    if store.exists(key):
        return True
    keys = store.keys()
    stored = [
        k.timeframe
        for k in keys
        if (k.exchange, k.symbol, k.series) == (key.exchange, key.symbol, key.series)
        and k.timeframe is not None
    ]
    return key.timeframe is not None and finer_timeframe(stored, key.timeframe) is not None


def required_data(
    *,
    timeframe: Timeframe | str,
    spot_exchange: str,
    coins: Sequence[str],
    quote: str = "USDT",
    legs: Sequence[LegSpec],
    mark_substitute: MarkSubstitute | str = MarkSubstitute.AUTO,
    store: Store | None = None,
    start: Any = None,
    end: Any = None,
    offset: Timeframe | str | None = None,
) -> list[SeriesKey]:
    """The series a run needs, each once, in a stable order.

    With ``offset`` (bars shifted off the epoch grid) the candles are listed at the timeframe
    an exchange serves that builds them (1h for days on the 08:00 UTC clock).

    Without ``store``: what a download should fetch (spot candles of every basket coin and of
    each inverse leg's margin coin; per leg the funding, the perp's last-price candles, and the
    mark candles unless ``mark_substitute`` is ``spot`` or ``last``). With ``store``: exactly
    the series :func:`build_market` will read given what is stored. ``start``/``end`` are
    accepted for symmetry with :func:`build_market` and do not change the list.
    """
    tf = Timeframe.parse(timeframe)
    if bar_offset_ns(offset):
        tf = shifted_source(tf, bar_offset_ns(offset))
    ms = _mark_substitute(mark_substitute)
    out: list[SeriesKey] = [spot_series_for(spot_exchange, c, quote, tf) for c in coins]
    for leg in legs:
        base, _, settle = parse_symbol(leg.symbol)
        mark_key = SeriesKey(leg.exchange, leg.symbol, Series.MARK, tf)
        perp_key = SeriesKey(leg.exchange, leg.symbol, Series.OHLCV, tf)
        spot_key = spot_series_for(spot_exchange, base, quote, tf)
        kind = InstrumentKind(leg.kind) if leg.kind is not None else symbol_kind(leg.symbol)
        if store is None:
            wanted = [perp_key]
            if ms in (MarkSubstitute.AUTO, MarkSubstitute.NONE):
                wanted.insert(0, mark_key)
            if ms is MarkSubstitute.SPOT:
                wanted.append(spot_key)
        elif _stored_or_finer(store, mark_key) or ms is MarkSubstitute.NONE:
            wanted = [mark_key] + ([perp_key] if _stored_or_finer(store, perp_key) else [])
        elif ms is MarkSubstitute.LAST or (
            ms is MarkSubstitute.AUTO and _stored_or_finer(store, perp_key)
        ):
            wanted = [perp_key]
        else:
            wanted = [spot_key] + ([perp_key] if _stored_or_finer(store, perp_key) else [])
        if kind is InstrumentKind.INVERSE and settle:
            wanted.append(spot_series_for(spot_exchange, settle, quote, tf))
        wanted.append(SeriesKey(leg.exchange, leg.symbol, Series.FUNDING))
        out.extend(wanted)
    return list(dict.fromkeys(out))
