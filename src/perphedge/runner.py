"""Run one config: load market data once, compute policy targets, simulate, add metrics and meta.

:func:`prepare` builds the market arrays and the policy context of a config; a
:class:`MarketCache` keyed by the data spec (store, timeframe, period, coins, legs, gap options)
lets many configs in one process share loaded data, which is what sweeps do. :func:`run` goes
from a config to a :class:`~perphedge.engine.types.Result` with ``metrics`` and ``meta`` filled in;
:func:`write_run` renders it into ``reports/<name>/<run-id>/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perphedge.config import (
    CollateralSource,
    Config,
    config_hash,
    leg_label,
    load_config,
    normalize_overrides,
)
from perphedge.domain import Counterfactual, InstrumentKind, Timeframe
from perphedge.engine.types import EngineParams, LegParams, MarketArrays, Result
from perphedge.errors import ConfigError, MissingDataError

ConfigLike = Config | str | os.PathLike[str] | Mapping[str, Any]


# ----------------------------------------------------------------------------------------------
# Data spec and cache


@dataclass(frozen=True)
class DataSpec:
    """Everything that determines the market arrays of a run (hashable: the cache key)."""

    root: str  # absolute store root
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    spot_exchange: str
    quote: str
    coins: tuple[str, ...]
    legs: tuple[tuple[str, str, str, float | None], ...]  # (exchange, symbol, kind, size)
    gap_policy: str
    max_fill_bars: int
    mark_substitute: str
    funding_gaps: str = "follow"
    offset: str | None = None  # the bar grid's shift (config ``offset``), e.g. "8h"


def resolve_data_root(root: str, config_path: str | os.PathLike[str] | None = None) -> Path:
    """An absolute store root: as given if absolute; else the first that exists of the working
    directory, the config's folder and the config's project root (the folder holding
    ``configs/``); if none exists, under the working directory (where a download creates it)."""
    from perphedge.project import data_root_candidates

    candidates = data_root_candidates(root, config_path)
    return next((c for c in candidates if c.is_dir()), candidates[0])


def data_spec(config: Config, config_path: str | os.PathLike[str] | None = None) -> DataSpec:
    """The data spec of a config (what :class:`MarketCache` keys on)."""
    return DataSpec(
        root=str(resolve_data_root(config.data.root, config_path)),
        timeframe=config.timeframe.text,
        start=config.period.start,
        end=config.period.end,
        spot_exchange=config.basket.exchange,
        quote=config.basket.quote,
        coins=config.basket.coin_names,
        legs=tuple(
            (leg.exchange, leg.symbol, (leg.kind or leg.symbol_kind).value, leg.contract_size)
            for leg in config.hedge.legs
        ),
        gap_policy=config.data.gap_policy.value,
        max_fill_bars=config.data.max_fill_bars,
        mark_substitute=config.data.mark_substitute.value,
        funding_gaps=config.data.funding_gaps.value,
        offset=None if config.offset is None else config.offset.text,
    )


def _leg_specs(spec: DataSpec) -> list[Any]:
    from perphedge.market import LegSpec

    return [
        LegSpec(exchange=ex, symbol=sym, kind=InstrumentKind(kind), contract_size=size)
        for ex, sym, kind, size in spec.legs
    ]


def _market_kwargs(spec: DataSpec) -> dict[str, Any]:
    return {
        "timeframe": Timeframe.parse(spec.timeframe),
        "start": spec.start,
        "end": spec.end,
        "spot_exchange": spec.spot_exchange,
        "coins": list(spec.coins),
        "quote": spec.quote,
        "legs": _leg_specs(spec),
        "gap_policy": spec.gap_policy,
        "max_fill_bars": spec.max_fill_bars,
        "mark_substitute": spec.mark_substitute,
        "funding_gaps": spec.funding_gaps,
        "offset": spec.offset,
    }


class MarketCache:
    """Loaded market data by data spec, so many configs in one process read the store once.

    Holds at most ``maxsize`` specs (least recently used dropped first). Not shared between
    processes: each worker of a sweep keeps its own.
    """

    def __init__(self, maxsize: int = 8) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[DataSpec, tuple[MarketArrays, Any]] = OrderedDict()
        self.loads = 0  # how many times the store was actually read (for tests and progress)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, spec: DataSpec, store: Any | None = None) -> tuple[MarketArrays, Any]:
        """(MarketArrays, MarketInfo) for ``spec``, loading them on first use."""
        hit = self._items.get(spec)
        if hit is not None:
            self._items.move_to_end(spec)
            return hit
        loaded = load_market(spec, store)
        self.loads += 1
        self._items[spec] = loaded
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return loaded


def load_market(spec: DataSpec, store: Any | None = None) -> tuple[MarketArrays, Any]:
    """Build the market arrays for a data spec (no cache); unknown markets are config errors."""
    from perphedge.data import Store
    from perphedge.market import build_market

    if store is None:
        store = Store(spec.root)
    check_markets(spec, store)
    try:
        return build_market(store, **_market_kwargs(spec))
    except MissingDataError as exc:
        key = getattr(exc, "key", None)
        if key is None or not hasattr(store, "missing_error"):
            raise
        # the data layer does not know the run's period: name it in the download command
        raise store.missing_error(key, spec.start, spec.end) from None


def _display_root(root: Path) -> str:
    try:
        return str(root.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(root)


def check_markets(spec: DataSpec, store: Any) -> None:
    """Every basket coin and leg must have data in the store under the configured exchange.

    Raises a ConfigError at the YAML path of the first one missing, listing the known markets
    (or, when the market exists but not this series, leaves the detail to the loader).
    """
    from perphedge.data.store import download_command
    from perphedge.domain import MarketType

    root = Path(getattr(store, "root", spec.root))
    if not root.is_dir():
        from perphedge.project import missing_data_root_message

        raise ConfigError("data.root", missing_data_root_message(root))
    keys = list(store.keys())

    def known(exchange: str, market_type: MarketType) -> list[str]:
        return sorted(
            {k.symbol for k in keys if k.exchange == exchange and k.market_type is market_type}
        )

    data_dir = store.cli_data_dir() if hasattr(store, "cli_data_dir") else None

    def command(symbol: str, series: list[str], exchange: str) -> str:
        """The exact download command for a market missing from the store."""
        return download_command(
            exchange, symbol, series, spec.timeframe, spec.start, spec.end, data_dir
        )

    spot = known(spec.spot_exchange, MarketType.SPOT)
    for coin in spec.coins:
        symbol = f"{coin}/{spec.quote}"
        if symbol not in spot:
            where = _display_root(root / spec.spot_exchange / MarketType.SPOT.value)
            raise ConfigError(
                f"basket.coins.{coin}",
                f"no market '{symbol}' in {where}; known: {', '.join(spot) or 'none'} "
                f"(fetch it with: {command(symbol, ['ohlcv'], spec.spot_exchange)})",
            )
    for j, (exchange, symbol, _kind, _size) in enumerate(spec.legs):
        swaps = known(exchange, MarketType.SWAP)
        if symbol not in swaps:
            where = _display_root(root / exchange / MarketType.SWAP.value)
            fetch = ""
            if ":" in symbol:  # a swap symbol: say how to fetch its mark and funding
                fetch = f" (fetch it with: {command(symbol, ['mark', 'funding'], exchange)})"
            raise ConfigError(
                f"hedge.legs[{j}].symbol",
                f"no market '{symbol}' in {where}; known: {', '.join(swaps) or 'none'}{fetch}",
            )


def required_data(
    config: Config, config_path: str | os.PathLike[str] | None = None
) -> list[tuple[Any, pd.Timestamp, pd.Timestamp]]:
    """What ``backtest download CONFIG`` fetches: ``(SeriesKey, start, end)`` for each series
    the market layer lists, over the config's period (``[start, end)``, UTC)."""
    from perphedge.market import required_data as market_required

    spec = data_spec(config, config_path)
    kwargs = _market_kwargs(spec)
    kwargs.pop("gap_policy")
    kwargs.pop("max_fill_bars")
    kwargs.pop("funding_gaps")
    return [(key, spec.start, spec.end) for key in market_required(**kwargs)]


# ----------------------------------------------------------------------------------------------
# Preparation


@dataclass(frozen=True)
class Prepared:
    """A config with its market data, derived capital and weights, and policy context."""

    config: Config
    spec: DataSpec
    market: MarketArrays
    info: Any  # perphedge.market.MarketInfo
    capital: float
    weights: np.ndarray  # (K,) basket weights at bar 0
    context: Any  # perphedge.policy.PolicyContext
    strategies_dirs: tuple[Path, ...] = field(default=())


def basket_capital_and_weights(config: Config, market: MarketArrays) -> tuple[float, np.ndarray]:
    """Capital and weights: as configured, or, with ``basket.quantities``, the quantities' USD
    value at the first bar's close and each coin's share of it.

    The config accepts weights whose sum is off 1 by rounding (1e-6); the engine needs 1e-9, so
    weights outside that are divided by their sum (inside it they are used as given)."""
    coins = config.basket.coin_names
    if config.basket.coins is not None:
        assert config.capital is not None  # resolved by the loader
        w = np.array([config.basket.coins[c] for c in coins], dtype=np.float64)
        total = float(w.sum())
        return float(config.capital), (w / total if abs(total - 1.0) > 1e-9 else w)
    qty = np.array([config.basket.quantities[c] for c in coins])  # type: ignore[index]
    prices = np.asarray(market.spot_close[0], dtype=np.float64)
    values = qty * prices
    capital = float(values.sum())
    return capital, values / capital


def prepare(
    config: ConfigLike,
    store: Any | None = None,
    *,
    cache: MarketCache | None = None,
    config_path: str | os.PathLike[str] | None = None,
    strategies_dirs: Sequence[str | os.PathLike[str]] | None = None,
) -> Prepared:
    """Load a config's market data (once, through ``cache`` if given) and build its context."""
    from perphedge.policy import PolicyContext, find_strategies_dirs

    cfg, path = _as_config(config, None, config_path)
    spec = data_spec(cfg, path)
    if cache is not None:
        market, info = cache.get(spec, store)
    else:
        market, info = load_market(spec, store)
    if market.n_bars < 2:
        raise ConfigError(
            "period",
            f"only {market.n_bars} bar(s) of {cfg.timeframe} data between "
            f"{spec.start.isoformat()} and {spec.end.isoformat()}; a run needs at least 2",
        )
    capital, weights = basket_capital_and_weights(cfg, market)
    ctx = PolicyContext.from_market(
        market,
        weights,
        cfg.hedge.ratio,
        leg_weights=[leg.weight for leg in cfg.hedge.legs],
    )
    dirs = (
        tuple(Path(d) for d in strategies_dirs)
        if strategies_dirs is not None
        else tuple(find_strategies_dirs(path))
    )
    return Prepared(
        config=cfg,
        spec=spec,
        market=market,
        info=info,
        capital=capital,
        weights=weights,
        context=ctx,
        strategies_dirs=dirs,
    )


def _info_leg(info: Any, j: int, name: str) -> Any:
    """Per-leg fact ``name`` (kind, contract_size) from MarketInfo, tolerant of its shape."""
    legs = getattr(info, "legs", None)
    if legs is not None:
        item = legs[j]
        return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)
    values = getattr(info, f"leg_{name}", None) or getattr(info, name, None)
    return None if values is None else values[j]


def leg_params(config: Config, market: MarketArrays, info: Any) -> tuple[LegParams, ...]:
    """Engine leg parameters: venue costs from the config, contract facts from the data unless
    the config overrides them."""
    out = []
    for j, leg in enumerate(config.hedge.legs):
        data_kind = _info_leg(info, j, "kind")
        data_kind = InstrumentKind(data_kind) if data_kind is not None else market.leg_kind[j]
        kind = leg.kind or data_kind
        if kind is not data_kind:
            raise ConfigError(
                f"hedge.legs[{j}].kind",
                f"{kind.value} contradicts the data for {leg.symbol}, which is {data_kind.value}",
            )
        size = leg.contract_size
        if size is None:
            size = _info_leg(info, j, "contract_size")
        if size is None or not np.isfinite(size) or size <= 0:
            raise ConfigError(
                f"hedge.legs[{j}].contract_size",
                f"the data for {leg.symbol} has no contract size; set it (USD per contract for "
                "inverse, lot step in coins for linear)",
            )
        out.append(
            LegParams(
                kind=kind,
                contract_size=float(size),
                weight=leg.weight,
                maintenance_margin=leg.maintenance_margin,
                taker_fee=leg.taker_fee,
                liquidation_fee=leg.liquidation_fee,
                slippage=leg.slippage_bps / 10_000.0,
            )
        )
    return tuple(out)


def engine_params(prepared: Prepared) -> EngineParams:
    """EngineParams of a prepared config."""
    c = prepared.config
    co = c.collateral
    return EngineParams(
        capital=prepared.capital,
        weights=prepared.weights,
        legs=leg_params(c, prepared.market, prepared.info),
        sizing=c.hedge.sizing,
        spot_fee=c.costs.spot_fee,
        spot_slippage=c.costs.spot_slippage_bps / 10_000.0,
        initial_leverage=co.initial_leverage if co.initial_leverage is not None else 3.0,
        collateral_usd=co.usd,
        collateral_from_basket=co.source is CollateralSource.BASKET,
        leverage_band=(float(co.leverage_band[0]), float(co.leverage_band[1])),
        leverage_target=co.target_leverage,
        manage_margin=co.manage,
        rebalance_every_ns=c.rebalance.every.ns,
        rebalance_band=c.rebalance.band,
        min_trade_usd=c.rebalance.min_trade_usd,
        rehedge_after_liquidation=c.rebalance.rehedge_after_liquidation,
        counterfactual=c.counterfactual,
        basket_held=c.basket.quantities is not None,
        covers=_covers(c),
        basket_rebalance_every_ns=c.basket.rebalance.every.ns if c.basket.rebalance else 0,
        basket_rebalance_band=c.basket.rebalance.band if c.basket.rebalance else 0.0,
    )


def _covers(config: Config) -> np.ndarray | None:
    """The legs' covers mask for the engine; None when every leg hedges the whole basket."""
    from perphedge.config import leg_covers

    if all(leg.covers is None for leg in config.hedge.legs):
        return None
    return np.array(leg_covers(config), dtype=np.bool_)


def targets_for(prepared: Prepared) -> np.ndarray:
    """The policy's (T, J) target ratios for a prepared config."""
    from perphedge.policy import compute_targets, load_policy

    fn = load_policy(prepared.config.policy.name, prepared.strategies_dirs)
    params = prepared.config.to_dict()["policy"]["params"]
    return compute_targets(fn, prepared.context, params)


# ----------------------------------------------------------------------------------------------
# Running


def counterfactual_sentence(config: Config, capital: float) -> str:
    """What the unhedged side holds, in one sentence for the report."""
    coins = ", ".join(config.basket.coin_names)
    cf = config.counterfactual
    quantities = config.basket.quantities
    if cf is Counterfactual.BASKET and quantities is not None:
        held = ", ".join(f"{q:g} {c}" for c, q in quantities.items())
        return (
            f"The unhedged side holds the configured {held} ({capital:,.2f} USD at the first "
            "bar's close), already owned (no purchase costs), and no short."
        )
    if cf is Counterfactual.BASKET:
        return (
            f"The unhedged side puts all {capital:,.2f} USD of capital into the basket ({coins}) "
            "at the same weights, pays the same spot costs, and holds it."
        )
    if cf is Counterfactual.BASKET_AND_COLLATERAL:
        return (
            f"The unhedged side holds the hedged side's basket ({coins}) and the same collateral "
            "coins, with no short."
        )
    return (
        f"The unhedged side holds the hedged side's basket ({coins}) and keeps the collateral's "
        "USD value as cash instead of coins, with no short."
    )


def make_run_id(cfg_hash: str, fingerprint: str, when: datetime | None = None) -> str:
    """UTC time plus the first 8 hex of sha256(config hash + data fingerprint)."""
    when = when or datetime.now(timezone.utc)
    digest = hashlib.sha256((cfg_hash + fingerprint).encode()).hexdigest()[:8]
    return f"{when.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{digest}"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        return [str(value)]
    return [str(v) for v in value]


_WARNING_WORDS = ("gap", "fill", "missing", "carried", "substitut", "stands in")


def _warnings(market: MarketArrays, info: Any, metrics: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    out.extend(_as_list(getattr(info, "warnings", None)))
    # a leg whose price-source warning already names its substitute (with the basis it
    # ignores) keeps the shorter "stands in for the mark" line in the notes only
    named = {w.split(":", 1)[0] for w in out if "a substitute from" in w}
    for note in (*market.notes, *_as_list(getattr(info, "notes", None))):
        low = note.lower()
        if "stands in for the mark" in low and note.split(":", 1)[0] in named:
            continue
        if any(word in low for word in _WARNING_WORDS) and note not in out:
            out.append(note)
    n_liq = int(metrics.get("n_liquidations", 0) or 0)
    if n_liq:
        out.append(f"{n_liq} liquidation(s) of the hedge; see events.csv and the margin chart")

    def rank(text: str) -> int:  # what changes the meaning of the numbers first
        low = text.lower()
        if "stands in" in low or "substitut" in low:
            return 0
        return 1 if "liquidation" in low else 2

    return sorted(out, key=rank)  # stable: same-rank warnings keep the data layer's order


def _as_config(
    config: ConfigLike,
    overrides: Mapping[str, object] | list[str] | tuple[str, ...] | None,
    config_path: str | os.PathLike[str] | None,
) -> tuple[Config, str | os.PathLike[str] | None]:
    if isinstance(config, (str, os.PathLike)):
        return load_config(config, overrides), config_path or config
    if overrides:
        return load_config(config, overrides), config_path
    if isinstance(config, Config):
        return config, config_path
    return load_config(config), config_path


class _Stages:
    """A tqdm bar over the stages of one run (to stderr), or nothing when quiet."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            # disable=None: a bar only on a terminal; piped or logged stderr stays clean
            self.bar = tqdm(
                total=total, desc=desc, unit="step", leave=False, file=sys.stderr, disable=None
            )

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        if self.bar is not None:
            self.bar.set_postfix_str(label)
        yield
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(
    config: ConfigLike,
    *,
    cache: MarketCache | None = None,
    progress: bool = False,
    overrides: Mapping[str, object] | list[str] | tuple[str, ...] | None = None,
    store: Any | None = None,
    config_path: str | os.PathLike[str] | None = None,
    strategies_dirs: Sequence[str | os.PathLike[str]] | None = None,
    lookahead_check: bool = True,
) -> Result:
    """Run one config (a Config, a YAML path or a raw mapping) and return its Result.

    ``overrides`` (``['hedge.ratio=0.5', ...]`` or a mapping of dotted paths) are applied before
    validation and recorded in ``meta['overrides']``. With ``progress`` a bar on stderr shows the
    stages (data, targets, simulation, metrics). ``lookahead_check=False`` skips the look-ahead
    check (:mod:`perphedge.lookahead`); the run's notes say so.
    """
    from perphedge.engine.simulate import simulate
    from perphedge.metrics import compute_metrics

    cfg, path = _as_config(config, overrides, config_path)
    stages = _Stages(progress, 4, f"run {cfg.name}")
    try:
        with stages.step("loading data"):
            prepared = prepare(
                cfg, store, cache=cache, config_path=path, strategies_dirs=strategies_dirs
            )
        with stages.step("policy targets"):
            targets = targets_for(prepared)
            cuts = lookahead_for(prepared, targets) if lookahead_check else None
            params = engine_params(prepared)
        with stages.step(f"simulating {prepared.market.n_bars:,} bars"):
            result = simulate(prepared.market, params, targets)
        with stages.step("metrics"):
            result.metrics = dict(compute_metrics(result, prepared.market.bar_ns))
    finally:
        stages.close()
    result.meta = build_meta(prepared, result, overrides)
    record_lookahead(result.meta, prepared, cuts)
    return result


def lookahead_for(prepared: Prepared, targets: np.ndarray) -> list[int]:
    """Refuse a policy whose past targets change with later data (raises LookaheadError);
    returns the cuts (bars kept) that were checked."""
    from perphedge.lookahead import check_no_lookahead
    from perphedge.policy import load_policy

    name = prepared.config.policy.name
    fn = load_policy(name, prepared.strategies_dirs)
    params = prepared.config.to_dict()["policy"]["params"]
    return check_no_lookahead(fn, prepared.context, params, targets, policy=name)


def record_lookahead(meta: dict[str, Any], prepared: Prepared, cuts: list[int] | None) -> None:
    """Add ``meta['lookahead_check']`` (the data cuts checked, as bar close times) and, when the
    check was skipped, a note saying so."""
    if cuts is None:
        meta["lookahead_check"] = {"checked": False, "cuts": []}
        notes = list(meta.get("notes") or [])
        notes.append(
            "look-ahead check skipped (--no-lookahead-check): the policy's targets were not "
            "re-computed on cut data"
        )
        meta["notes"] = notes
        return
    closes = prepared.context.close_times
    meta["lookahead_check"] = {
        "checked": True,
        "cuts": [closes[n - 1].strftime("%Y-%m-%dT%H:%M:%SZ") for n in cuts],
    }


def build_meta(
    prepared: Prepared,
    result: Result,
    overrides: Mapping[str, object] | list[str] | tuple[str, ...] | None = None,
) -> dict[str, object]:
    """The ``Result.meta`` of a run (see docs/config.md, 'What a run records')."""
    cfg = prepared.config
    info = prepared.info
    chash = config_hash(cfg)
    fingerprint = str(getattr(info, "fingerprint", "") or "")
    market = prepared.market
    index = market.index
    notes: list[str] = []
    for note in (*market.notes, *_as_list(getattr(info, "notes", None)), *result.notes):
        if note not in notes:
            notes.append(note)
    notes.extend(_policy_notes(prepared))
    sources = getattr(info, "sources", None)
    return {
        "name": cfg.name,
        "run_id": make_run_id(chash, fingerprint),
        "config_hash": chash,
        "data_fingerprint": fingerprint,
        "period": {
            "start": index[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (index[-1] + pd.Timedelta(market.bar_ns, unit="ns")).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "configured_start": cfg.to_dict()["period"]["start"],
            "configured_end": cfg.to_dict()["period"]["end"],
            "bars": market.n_bars,
        },
        "timeframe": cfg.timeframe.text,
        "capital": prepared.capital,
        "weights": {
            c: float(w) for c, w in zip(cfg.basket.coin_names, prepared.weights, strict=True)
        },
        "legs": [leg_label(leg) for leg in cfg.hedge.legs],
        "sources": _shown_sources(prepared, sources),
        "price_sources": price_sources_meta(info),
        "notes": notes,
        "warnings": _warnings(market, info, result.metrics) + _sizing_warnings(cfg, result),
        "counterfactual": counterfactual_sentence(cfg, prepared.capital),
        "resolved_config": cfg.to_dict(),
        "overrides": {k: _plain(v) for k, v in normalize_overrides(overrides).items()},
    }


def _policy_notes(prepared: Prepared) -> list[str]:
    """Which policy file ran (and whether it overrode a built-in), for the run's notes."""
    from perphedge.policy import policy_notes

    return policy_notes(prepared.config.policy.name, prepared.strategies_dirs)


def price_sources_meta(info: Any) -> list[dict[str, Any]]:
    """Where each leg's trade price, mark and liquidation high come from, as plain rows
    (``meta['price_sources']``; see docs/report.md)."""
    return [_plain(p) for p in getattr(info, "price_sources", ()) or ()]


def _sizing_warnings(cfg: Config, result: Result) -> list[str]:
    """Hedges that whole contracts could not size, or rounded far from target."""
    from perphedge.sizing_check import sizing_warnings

    return sizing_warnings(result.timeseries, [leg_label(leg) for leg in cfg.hedge.legs])


def _shown_sources(prepared: Prepared, sources: Any) -> Any:
    """The run's data sources with paths relative to the data root (no machine paths)."""
    from perphedge.report.relpaths import relative_sources

    if sources is None:
        return []
    return relative_sources(_plain(sources), prepared.spec.root, prepared.config.data.root)


def _plain(value: Any) -> Any:
    """JSON/YAML-friendly copy of ``value`` (dataclasses, paths, timestamps, numpy scalars)."""
    import dataclasses
    from enum import Enum

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (pd.Timestamp, datetime)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Path, pd.Timedelta)):
        return str(value)
    return value


# ----------------------------------------------------------------------------------------------
# Writing a run


def run_dir_for(result: Result, out: str | os.PathLike[str] | None = None) -> Path:
    """``<out or outputs.dir>/<name>/<run-id>/``; a clash (same second, same hash) gets ``-2``."""
    resolved = result.meta.get("resolved_config") or {}
    base = Path(out) if out is not None else Path(resolved.get("outputs", {}).get("dir", "reports"))
    name = str(result.meta.get("name", "run"))
    run_id = str(result.meta.get("run_id", "run"))
    target = base / name / run_id
    n = 2
    while target.exists():
        target = base / name / f"{run_id}-{n}"
        n += 1
    if target.name != run_id:
        result.meta["run_id"] = target.name
    return target


def write_run(
    result: Result,
    out: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
    on_file: Callable[[str, Path], None] | None = None,
) -> tuple[Path, dict[str, Path]]:
    """Write a run's outputs into its run folder; returns (folder, {output name: path}).

    The folder is built under a hidden partial name and renamed when complete, so a kill or a
    full disk leaves no run folder; ``<name>/latest`` then points at it. ``on_file(name,
    path)`` is called after each file (tests use it to interrupt the write).
    """
    from perphedge.report import write_outputs
    from perphedge.report.rundir import build_atomically, update_latest

    run_dir = run_dir_for(result, out)
    where = "--out" if out is not None else "outputs.dir"
    outputs = (result.meta.get("resolved_config") or {}).get("outputs", {})

    def write(folder: Path) -> dict[str, Path]:
        return write_outputs(
            result,
            folder,
            charts=bool(outputs.get("charts", True)),
            html=bool(outputs.get("html", True)),
            csv=bool(outputs.get("csv", False)),
            progress=progress,
            on_file=on_file,
        )

    try:
        paths = build_atomically(run_dir, write)
    except OSError as exc:  # a read-only place, a file in the way, a full disk
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(where, f"cannot create the run folder {run_dir}: {reason}") from None
    with contextlib.suppress(OSError):  # the run is complete; a missing link cannot fail it
        update_latest(run_dir)
    return run_dir, dict(paths)
