"""Run configuration: YAML in, frozen typed objects out.

One loader (:func:`load_config`) turns a YAML file (or an already-parsed mapping) into a frozen
:class:`Config`. Every section is a frozen dataclass; the field annotations drive one small
generic parser, so unknown keys, wrong types and bad enum values are all reported the same way:
a :class:`~perphedge.errors.ConfigError` whose path is the YAML path (``hedge.legs[0].symbol``)
and whose message says what is allowed. Cross-field rules (weights summing to 1, start before
end, ...) are checked after parsing. ``docs/config.md`` is the reference for every key.

:func:`apply_overrides` edits the raw mapping with dotted paths before parsing (``--set`` and the
sweeps use it), :meth:`Config.to_dict` gives the resolved config as plain types (it loads back to
an equal config) and :func:`config_hash` hashes that canonical form.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import json
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Union

import pandas as pd

from perphedge.domain import Counterfactual, InstrumentKind, SizingRule, Timeframe
from perphedge.errors import ConfigError

WEIGHT_TOLERANCE = 1e-6
SWEEP_KEY = "sweep"  # read by `backtest sweep` (perphedge.sweep), ignored by the run loader
_LINEAR_SETTLE = ("USDT", "USDC", "USD", "BUSD", "FDUSD")


class CollateralSource(str, Enum):
    """Where the hedge's margin coins come from at entry."""

    CAPITAL = "capital"  # bought with part of the capital
    BASKET = "basket"  # taken out of the basket's own holding of the margin coin


class GapPolicy(str, Enum):
    """What a run does when a series has missing bars (see docs/config.md)."""

    REFUSE = "refuse"  # stop with an error naming the gaps
    FFILL = "ffill"  # carry the last price forward, at most ``max_fill_bars`` bars, reported


class FundingGaps(str, Enum):
    """What a run does with funding events missing inside its window."""

    FOLLOW = "follow"  # like candles: refused, or under ffill allowed up to max_fill_bars events
    ZERO = "zero"  # count every missing event as no payment, with a warning


class MarkSubstitute(str, Enum):
    """What stands in for mark-price candles when the store has none."""

    AUTO = "auto"  # perp last price if stored, else spot; the run records which
    LAST = "last"  # perp last-trade candles
    SPOT = "spot"  # the margin coin's spot candles
    NONE = "none"  # require real mark candles


class FrozenDict(dict):
    """A read-only dict (picklable, so configs can go to worker processes)."""

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("config mappings are read-only; use apply_overrides on the raw config")

    __setitem__ = __delitem__ = _readonly  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return FrozenDict(copy.deepcopy(dict(self), memo))


# ----------------------------------------------------------------------------------------------
# Sections


@dataclass(frozen=True, kw_only=True)
class PeriodConfig:
    """The simulated span: bars whose open is in ``[start, end)`` (UTC)."""

    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True, kw_only=True)
class BasketRebalanceConfig:
    """Bring the basket back to its weights at calendar points, when a weight has drifted."""

    every: Timeframe
    band: float = 0.0  # absolute weight difference (0.05 = five percentage points)


@dataclass(frozen=True, kw_only=True)
class BasketConfig:
    """The spot basket: coins with weights (of the capital) or fixed quantities."""

    exchange: str = "binance"
    quote: str = "USDT"
    coins: Mapping[str, float] | None = None
    quantities: Mapping[str, float] | None = None
    rebalance: BasketRebalanceConfig | None = field(default=None, metadata={"omit_if_none": True})
    #   None: buy and hold (then left out of the canonical form: hashes unchanged)

    @property
    def coin_names(self) -> tuple[str, ...]:
        source = self.coins if self.coins is not None else self.quantities
        return tuple(source or ())


@dataclass(frozen=True, kw_only=True)
class LegConfig:
    """One short perpetual leg."""

    exchange: str = "binance"
    symbol: str
    kind: InstrumentKind | None = None  # resolved from the symbol; setting the other kind switches
    #   to that kind's symbol of the same coin (ETH/USD:ETH as linear -> ETH/USDT:USDT)
    contract_size: float | None = None  # None: from the data's metadata
    weight: float = 1.0
    maintenance_margin: float = 0.005
    taker_fee: float = 0.0005
    liquidation_fee: float = 0.005
    slippage_bps: float = 2.0
    covers: tuple[str, ...] | None = field(default=None, metadata={"omit_if_none": True})
    #   basket coins this leg hedges; None: the whole basket (then left out of the canonical
    #   form, so configs without it keep their hash)

    @property
    def settle(self) -> str:
        """Margin coin named by the ccxt symbol (``ETH/USD:ETH`` -> ``ETH``)."""
        return self.symbol.split(":", 1)[1] if ":" in self.symbol else ""

    @property
    def symbol_kind(self) -> InstrumentKind:
        """Kind implied by the symbol: settled in a stablecoin means linear."""
        return InstrumentKind.LINEAR if self.settle in _LINEAR_SETTLE else InstrumentKind.INVERSE


@dataclass(frozen=True, kw_only=True)
class HedgeConfig:
    """The short side: a scale on the policy's ratio, the sizing rule and the legs."""

    ratio: float = 1.0
    sizing: SizingRule = SizingRule.DELTA_NEUTRAL
    legs: tuple[LegConfig, ...]


@dataclass(frozen=True, kw_only=True)
class PolicyConfig:
    """A strategy file ``strategies/<name>.py`` and the keyword arguments it gets."""

    name: str = "fixed"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class RebalanceConfig:
    """When the hedge is brought back to its target."""

    every: Timeframe = Timeframe.parse("1d")
    band: float = 0.0
    min_trade_usd: float = 0.0
    rehedge_after_liquidation: bool = True


@dataclass(frozen=True, kw_only=True)
class CollateralConfig:
    """The hedge's margin: how much at entry and the leverage band kept afterwards."""

    source: CollateralSource = CollateralSource.CAPITAL
    initial_leverage: float | None = None  # resolved to 3.0 when neither this nor usd is given
    usd: float | None = None
    leverage_band: tuple[float, float] = (1.5, 5.0)
    target_leverage: float = 3.0
    manage: bool = True


@dataclass(frozen=True, kw_only=True)
class CostsConfig:
    """Spot trading costs (perp costs are per leg)."""

    spot_fee: float = 0.001
    spot_slippage_bps: float = 5.0


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Where market data lives and how gaps and missing mark candles are handled."""

    root: str = "data"
    gap_policy: GapPolicy = GapPolicy.REFUSE
    max_fill_bars: int = 0
    mark_substitute: MarkSubstitute = MarkSubstitute.AUTO
    funding_gaps: FundingGaps = FundingGaps.FOLLOW


@dataclass(frozen=True, kw_only=True)
class OutputsConfig:
    """Where ``backtest run`` writes and what it renders."""

    dir: str = "reports"
    charts: bool = True
    html: bool = True
    csv: bool = False  # also write timeseries.csv (for a spreadsheet)


@dataclass(frozen=True, kw_only=True)
class Config:
    """A whole run, resolved and validated."""

    name: str
    period: PeriodConfig
    timeframe: Timeframe = Timeframe.parse("1h")
    capital: float | None = None  # resolved to 10,000 with basket.coins; None with quantities
    basket: BasketConfig
    hedge: HedgeConfig
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    rebalance: RebalanceConfig = field(default_factory=RebalanceConfig)
    collateral: CollateralConfig = field(default_factory=CollateralConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    counterfactual: Counterfactual = Counterfactual.BASKET
    data: DataConfig = field(default_factory=DataConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    # shift of the bar grid from the UTC epoch: ``1d`` with ``8h`` gives bars 08:00 -> 08:00 UTC
    offset: Timeframe | None = field(default=None, metadata={"omit_if_none": True})

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain YAML/JSON types; :func:`parse_config` loads it back."""
        return _to_plain(self)


DEFAULT_CAPITAL = 10_000.0
DEFAULT_INITIAL_LEVERAGE = 3.0


# ----------------------------------------------------------------------------------------------
# Loading


def _yaml_files(folder: Path) -> list[Path]:
    try:
        return sorted(q for q in folder.iterdir() if q.suffix in (".yaml", ".yml") and q.is_file())
    except OSError:
        return []


def _configs_in(folder: Path) -> str:
    """' (it holds: a.yaml, b.yaml)' for an error about a folder given as the config."""
    names = [q.name for q in _yaml_files(folder)]
    if not names:
        return ""
    more = f", ... ({len(names)} in all)" if len(names) > 6 else ""
    return f" (it holds: {', '.join(names[:6])}{more})"


def _did_you_mean(path: Path) -> str:
    """'; did you mean configs/x.yaml?' for a near-miss file name in the same folder."""
    folder = path.parent
    if not folder.is_dir():
        return f" (no folder {folder})"
    candidates = {q.stem: q for q in _yaml_files(folder)}
    close = difflib.get_close_matches(path.stem, list(candidates), n=1, cutoff=0.8)
    if not close:
        return ""
    return f"; did you mean {(folder / candidates[close[0]].name).as_posix()}?"


def load_raw(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML file with the safe loader; the top level must be a mapping."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError("", f"{p} is a folder; give a YAML config file{_configs_in(p)}")
    if not p.is_file():
        raise ConfigError("", f"config file not found: {p}{_did_you_mean(p)}")
    raw = read_yaml_file(p)
    if raw is None:
        raise ConfigError(
            "",
            f"{p} is empty; a config needs at least name, period, basket and hedge "
            "(docs/config.md; copy one from configs/)",
        )
    if not isinstance(raw, dict):
        raise ConfigError(
            "", f"{p}: the top level must be a mapping of sections, got {_tname(raw)}"
        )
    return raw


def read_yaml_file(p: Path) -> Any:
    """A YAML file's content through the hardened loader (size, depth, aliases, duplicates)."""
    from perphedge.safe_yaml import MAX_YAML_BYTES, load_yaml_text

    try:
        size = p.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                "", f"{p} is {size:,} bytes; a config may be at most {MAX_YAML_BYTES:,}"
            )
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError("", f"{p} is not a text file; a config is YAML text") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read {p}: {exc.strerror or exc}") from None
    return load_yaml_text(text, p.as_posix())


def _base_path(source: object, base: str) -> str:
    """A sweep file's base config as a path a command can take (relative to the sweep file)."""
    if isinstance(source, (str, os.PathLike)) and not Path(base).is_absolute():
        return (Path(source).parent / base).as_posix()
    return base


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any] | Config,
    overrides: Mapping[str, object] | list[str] | tuple[str, ...] | None = None,
) -> Config:
    """Load a config from a YAML path, a raw mapping or a Config, applying ``overrides``."""
    if isinstance(source, Config):
        raw: dict[str, Any] = source.to_dict()
    elif isinstance(source, Mapping):
        raw = copy.deepcopy(dict(source))
    else:
        raw = load_raw(source)
    if isinstance(raw.get("base"), str):
        shown = Path(source).as_posix() if isinstance(source, (str, os.PathLike)) else "FILE"
        raise ConfigError(
            "base",
            f"this is a sweep file (it names a base config); run it with: backtest sweep {shown}"
            f" (or one run of its base: backtest run {_base_path(source, raw['base'])})",
        )
    raw.pop(SWEEP_KEY, None)  # a run config may carry a sweep section; `backtest run` ignores it
    if overrides:
        raw = apply_overrides(raw, overrides)
    return parse_config(raw)


def parse_config(raw: Mapping[str, Any]) -> Config:
    """Validate a raw mapping (as from YAML) into a :class:`Config`."""
    if not isinstance(raw, Mapping):
        raise ConfigError("", f"the config must be a mapping of sections, got {_tname(raw)}")
    config = _build(Config, raw, "")
    config = _resolve(config)
    _validate(config)
    return config


def config_hash(config: Config) -> str:
    """sha256 of the canonical resolved config (sorted-key JSON)."""
    text = json.dumps(config.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------
# Overrides

_SEGMENT_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_override_path(path: str) -> list[str | int]:
    """``hedge.legs[0].kind`` -> ``['hedge', 'legs', 0, 'kind']`` (``legs.0`` works too)."""
    text = path.strip()
    if not text or not re.fullmatch(r"[^.\[\]]+(\[\d+\])*(\.[^.\[\]]+(\[\d+\])*)*", text):
        raise ConfigError(path, "invalid override path; expected e.g. hedge.legs[0].kind")
    parts: list[str | int] = []
    for m in _SEGMENT_RE.finditer(text):
        if m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            seg = m.group(1)
            parts.append(int(seg) if seg.isdigit() and parts else seg)
    return parts


def _format_path(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_override_value(text: str) -> Any:
    """Parse the right side of ``key=value`` as a YAML value (``0.5``, ``true``, ``[1, 2]``)."""
    from perphedge.safe_yaml import load_yaml_text

    if not text.strip():
        return ""
    try:
        return load_yaml_text(text, "--set value")
    except ConfigError:
        return text  # taken as text; the key's parser says what it expects


def normalize_overrides(
    overrides: Mapping[str, object] | list[str] | tuple[str, ...] | None,
) -> dict[str, object]:
    """Turn ``['a.b=1', ...]`` or a mapping into an ordered ``{path: value}`` mapping."""
    if not overrides:
        return {}
    if isinstance(overrides, Mapping):
        return {str(k): v for k, v in overrides.items()}
    out: dict[str, object] = {}
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ConfigError(
                "", f"invalid override {item!r}; expected key=value, e.g. hedge.ratio=0.5"
            )
        key, _, value = item.partition("=")
        out[key.strip()] = parse_override_value(value)
    return out


def apply_overrides(
    raw: Mapping[str, Any], overrides: Mapping[str, object] | list[str] | tuple[str, ...] | None
) -> dict[str, Any]:
    """Return a deep copy of ``raw`` with each dotted path set to its value.

    Paths may index lists (``hedge.legs[0].kind``); missing mappings along the path are created
    (``policy.params.window=48`` works on a config without ``params``). The parser validates the
    result, so a misspelt key is reported there with the allowed names.
    """
    out = copy.deepcopy(dict(raw))
    for path, value in normalize_overrides(overrides).items():
        parts = parse_override_path(path)
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            here = _format_path(parts[: i + 1])
            if isinstance(part, int):
                if not isinstance(node, list):
                    raise ConfigError(_format_path(parts[:i]), "is not a list; cannot index it")
                if part >= len(node):
                    raise ConfigError(here, f"index out of range; the list has {len(node)} item(s)")
                if last:
                    node[part] = copy.deepcopy(value)
                else:
                    if node[part] is None:
                        node[part] = {}
                    node = node[part]
            else:
                if not isinstance(node, dict):
                    raise ConfigError(
                        _format_path(parts[:i]),
                        f"is a {_tname(node)}, not a section; cannot set {part!r}",
                    )
                if last:
                    node[part] = copy.deepcopy(value)
                else:
                    if node.get(part) is None:
                        node[part] = [] if isinstance(parts[i + 1], int) else {}
                    node = node[part]
    return out


# ----------------------------------------------------------------------------------------------
# Generic parser driven by the dataclass annotations


def _tname(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "text",
        list: "list",
        dict: "mapping",
    }.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer past Python's digit limit
        text = "<a very long number>"
    return text if len(text) <= 60 else text[:57] + "..."


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _unknown_key(path: str, key: Any, allowed: list[str]) -> ConfigError:
    hint = difflib.get_close_matches(str(key), allowed, n=1)
    did = f" (did you mean '{hint[0]}'?)" if hint else ""
    return ConfigError(path, f"unknown key '{key}'{did}; allowed: {', '.join(allowed)}")


_HINTS_CACHE: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS_CACHE:
        _HINTS_CACHE[cls] = typing.get_type_hints(cls)
    return _HINTS_CACHE[cls]


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, Mapping):
        where = path or "the config"
        raise ConfigError(path, f"expected a mapping for {where}, got {_tname(raw)} {_show(raw)}")
    fields = [f for f in dataclasses.fields(cls)]
    allowed = [f.name for f in fields]
    for key in raw:
        if key not in allowed:
            raise _unknown_key(path, key, allowed)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields:
        fpath = _join(path, f.name)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.name not in raw:
            if required:
                raise ConfigError(path, f"missing required key '{f.name}'")
            continue
        value = raw[f.name]
        if value is None and required and not _is_optional(hints[f.name]):
            raise ConfigError(fpath, "is required and cannot be empty")
        if value is None and not _is_optional(hints[f.name]):
            continue  # an explicit null on a key with a default means "the default"
        kwargs[f.name] = _convert(hints[f.name], value, fpath)
    return cls(**kwargs)


def _is_optional(tp: Any) -> bool:
    return _origin_is_union(tp) and type(None) in typing.get_args(tp)


def _origin_is_union(tp: Any) -> bool:
    origin = typing.get_origin(tp)
    return origin is Union or origin is types.UnionType


def _convert(tp: Any, value: Any, path: str) -> Any:  # noqa: C901 - one branch per type
    if _origin_is_union(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return _convert(args[0], value, path)
        raise TypeError(f"unsupported union {tp}")  # pragma: no cover - schema bug
    if tp is Any:
        return _freeze(value)
    if tp is Timeframe:
        if isinstance(value, Timeframe):
            return value
        try:
            return Timeframe.parse(str(value))
        except ValueError:
            raise ConfigError(
                path, f"invalid timeframe {_show(value)}; expected e.g. 15m, 1h, 8h, 1d, 7d, 1w"
            ) from None
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    origin = typing.get_origin(tp)
    if origin in (Mapping, dict):
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"expected a mapping, got {_tname(value)} {_show(value)}")
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(path, f"keys must be text, got {_tname(k)} {_show(k)}")
            out[k] = _convert(val_tp, v, _join(path, k))
        return FrozenDict(out)
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list, got {_tname(value)} {_show(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(path, f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(
            _convert(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {_tname(value)} {_show(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(path, f"expected a number, got {_tname(value)} {_show(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(path, f"expected a finite number, got {_show(value)}")
        return number
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(path, f"expected a whole number, got {_tname(value)} {_show(value)}")
        return value
    if tp is str:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(path, f"expected non-empty text, got {_tname(value)} {_show(value)}")
        return value.strip()
    if isinstance(tp, type) and issubclass(tp, Enum):
        allowed = [m.value for m in tp]
        if isinstance(value, tp):
            return value
        if not isinstance(value, str) or value not in allowed:
            hint = difflib.get_close_matches(str(value).replace("-", "_"), allowed, n=1)
            did = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(
                path, f"unknown value {_show(value)}{did}; allowed: {', '.join(allowed)}"
            )
        return tp(value)
    if tp is pd.Timestamp:
        return _timestamp(value, path)
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # pragma: no cover - schema bug


ISO_DATE_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?"
)
EARLIEST_DATE = pd.Timestamp("2009-01-03", tz="UTC")  # the Bitcoin genesis block
LATEST_DATE = pd.Timestamp("2100-01-01", tz="UTC")


def parse_date(value: Any, path: str) -> pd.Timestamp:
    """An ISO 8601 date or time (UTC unless it says otherwise) within
    [2009-01-03, 2100-01-01], as datetime64[ns, UTC]; anything else is a ConfigError.

    Forms such as ``06/01/2023`` are refused: day-first and month-first readings differ.
    """
    ts = None
    if isinstance(value, str):
        text = value.strip()
        if ISO_DATE_RE.fullmatch(text):
            try:
                ts = pd.Timestamp(text)
            except (ValueError, TypeError, OverflowError):
                ts = None
    elif isinstance(value, (datetime, date, pd.Timestamp)):
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError):
            ts = None
    if ts is None or pd.isna(ts):
        raise ConfigError(
            path,
            f"expected an ISO 8601 date such as 2023-01-01 or 2023-01-01T08:00:00Z, got "
            f"{_show(value)} (forms like 06/01/2023 are ambiguous and refused)",
        )
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if not EARLIEST_DATE <= ts <= LATEST_DATE:
        raise ConfigError(
            path,
            f"{ts.date().isoformat()} is outside {EARLIEST_DATE:%Y-%m-%d} to "
            f"{LATEST_DATE:%Y-%m-%d}",
        )
    return ts.as_unit("ns")


def _timestamp(value: Any, path: str) -> pd.Timestamp:
    if isinstance(value, bool):
        return parse_date(None, path)
    return parse_date(value, path)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenDict({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (datetime, date, pd.Timestamp)):
        return _to_plain(pd.Timestamp(value))  # canonical UTC text, so configs round-trip
    return value


def _to_plain(value: Any) -> Any:
    if isinstance(value, Timeframe):
        return value.text
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_if_none") and getattr(value, f.name) is None)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, pd.Timestamp):
        ts = value.tz_convert("UTC") if value.tzinfo else value.tz_localize("UTC")
        return ts.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, (datetime, date)):
        return _to_plain(pd.Timestamp(value))
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------
# Resolution of defaults that depend on other keys, and cross-field rules


def counterpart_symbol(symbol: str, kind: InstrumentKind, quote: str = "USDT") -> str:
    """The same coin's perpetual of the other margin kind (ccxt naming).

    ``ETH/USD:ETH`` as linear is ``ETH/USDT:USDT``; ``ETH/USDT:USDT`` as inverse is
    ``ETH/USD:ETH``. A symbol already of that kind is returned unchanged.
    """
    base = symbol.split("/", 1)[0]
    settle = symbol.split(":", 1)[1] if ":" in symbol else ""
    is_linear = settle in _LINEAR_SETTLE
    if kind is InstrumentKind.LINEAR:
        return symbol if is_linear else f"{base}/{quote}:{quote}"
    return f"{base}/USD:{base}" if is_linear else symbol


def _resolve(config: Config) -> Config:
    legs = tuple(
        leg
        if ":" not in leg.symbol
        else dataclasses.replace(leg, kind=leg.symbol_kind)
        if leg.kind is None
        else dataclasses.replace(leg, symbol=counterpart_symbol(leg.symbol, leg.kind))
        for leg in config.hedge.legs
    )
    hedge = dataclasses.replace(config.hedge, legs=legs)
    coll = config.collateral
    if coll.initial_leverage is None and coll.usd is None:
        coll = dataclasses.replace(coll, initial_leverage=DEFAULT_INITIAL_LEVERAGE)
    capital = config.capital
    if capital is None and config.basket.quantities is None:
        capital = DEFAULT_CAPITAL
    return dataclasses.replace(config, hedge=hedge, collateral=coll, capital=capital)


def _check(cond: bool, path: str, message: str) -> None:
    if not cond:
        raise ConfigError(path, message)


MAX_NAME_LENGTH = 64
MAX_TIMEFRAME = Timeframe.parse("7d")
MAX_REBALANCE_EVERY = Timeframe.parse("3650d")
DAY_NS = 86_400 * 10**9


def _check_on_grid(c: Config) -> None:
    """A start between two bars is refused, naming both (bars open on multiples of the
    timeframe from the UTC epoch; weekly and longer bars follow the exchange's calendar)."""
    step = c.timeframe.ns
    if step > DAY_NS:
        return
    start = c.period.start
    shift = 0 if c.offset is None else c.offset.ns
    off = (start.value - shift) % step
    if off:
        before = pd.Timestamp(start.value - off, tz="UTC")
        after = before + pd.Timedelta(step, unit="ns")
        raise ConfigError(
            "period.start",
            f"{_to_plain(start)} is not on the {c.timeframe} bar grid; the nearest bars open at "
            f"{_to_plain(before)} and {_to_plain(after)}",
        )


def _check_offset(c: Config) -> None:
    """``offset`` shifts the bars of ``timeframe`` (at most 1d) by less than one bar."""
    if c.offset is None:
        return
    _check(
        c.timeframe.ns <= DAY_NS,
        "offset",
        f"shifts bars of at most 1d; {c.timeframe} bars follow the exchange's calendar",
    )
    _check(
        c.offset.ns < c.timeframe.ns,
        "offset",
        f"{c.offset} must be shorter than the {c.timeframe} bar it shifts",
    )


def _validate_name(name: str) -> None:
    """The name becomes a folder name: short, and letters, digits, '_', '-', '.' only."""
    _check(
        len(name) <= MAX_NAME_LENGTH,
        "name",
        f"is {len(name):,} characters long; at most {MAX_NAME_LENGTH} (it names the report folder)",
    )


# (low, high, path, getter): every number a config holds must lie in [low, high]
def _range_rules(c: Config) -> list[tuple[float, float, str, Any]]:
    rules: list[tuple[float, float, str, Any]] = []
    if c.capital is not None:
        rules.append((1.0, 1e12, "capital", c.capital))
    for coin, w in (c.basket.coins or {}).items():
        rules.append((0.0, 1.0, f"basket.coins.{coin}", w))
    for coin, q in (c.basket.quantities or {}).items():
        rules.append((0.0, 1e12, f"basket.quantities.{coin}", q))
    rules.append((0.0, 3.0, "hedge.ratio", c.hedge.ratio))
    for i, leg in enumerate(c.hedge.legs):
        p = f"hedge.legs[{i}]"
        rules.append((0.0, 1.0, f"{p}.weight", leg.weight))
        if leg.contract_size is not None:
            rules.append((0.0, 1e6, f"{p}.contract_size", leg.contract_size))
        rules.append((0.0, 0.5, f"{p}.maintenance_margin", leg.maintenance_margin))
    rules.append((0.0, 1e12, "rebalance.min_trade_usd", c.rebalance.min_trade_usd))
    co = c.collateral
    if co.initial_leverage is not None:
        rules.append((0.0, 125.0, "collateral.initial_leverage", co.initial_leverage))
    if co.usd is not None:
        rules.append((0.0, 1e12, "collateral.usd", co.usd))
    rules.append((0.0, 125.0, "collateral.leverage_band[1]", co.leverage_band[1]))
    rules.append((0.0, 125.0, "collateral.target_leverage", co.target_leverage))
    rules.append((0, 10_000, "data.max_fill_bars", c.data.max_fill_bars))
    return rules


def _validate_ranges(c: Config) -> None:
    """Refuse absurd numbers (docs/config.md, 'Ranges'), naming the YAML path."""
    for low, high, path, value in _range_rules(c):
        _check(low <= value <= high, path, f"{_show(value)} is outside [{low:g}, {high:g}]")
    for path, span, limit in (
        ("timeframe", c.timeframe, MAX_TIMEFRAME),
        ("rebalance.every", c.rebalance.every, MAX_REBALANCE_EVERY),
    ):
        _check(span.ms <= limit.ms, path, f"{span} is longer than the largest allowed, {limit}")


def _validate(c: Config) -> None:  # noqa: C901 - a flat list of rules reads best
    _validate_name(c.name)
    _check(
        re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", c.name) is not None,
        "name",
        f"invalid name {c.name!r}; use letters, digits, '_', '-' or '.' (it names the report folder)",
    )
    _check(
        c.period.start < c.period.end,
        "period",
        f"start {_to_plain(c.period.start)} must be before end {_to_plain(c.period.end)}",
    )
    _check_offset(c)
    _check_on_grid(c)
    span = c.period.end - c.period.start
    _check(
        span.value >= c.timeframe.ns,
        "period",
        f"the period ({span}) is shorter than one {c.timeframe} bar",
    )

    b = c.basket
    if (b.coins is None) == (b.quantities is None):
        raise ConfigError(
            "basket",
            "give exactly one of 'coins' (weights summing to 1) or 'quantities' (units held)",
        )
    if b.coins is not None:
        _check(len(b.coins) > 0, "basket.coins", "needs at least one coin")
        for coin, w in b.coins.items():
            _check(w > 0, f"basket.coins.{coin}", f"weight must be > 0, got {w}")
        total = sum(b.coins.values())
        _check(
            abs(total - 1.0) <= WEIGHT_TOLERANCE,
            "basket.coins",
            f"weights sum to {total:.6g}; they must sum to 1 (tolerance {WEIGHT_TOLERANCE:g})",
        )
        _check(c.capital is not None and c.capital > 0, "capital", f"must be > 0, got {c.capital}")
    else:
        assert b.quantities is not None  # for the type checker; guarded just above
        _check(len(b.quantities) > 0, "basket.quantities", "needs at least one coin")
        for coin, q in b.quantities.items():
            _check(q > 0, f"basket.quantities.{coin}", f"quantity must be > 0, got {q}")
        _check(
            c.capital is None,
            "capital",
            "give either capital (with basket.coins) or basket.quantities, not both: "
            "with quantities the capital is their value at the first bar",
        )
    for coin in b.coin_names:
        _check(
            re.fullmatch(r"[A-Z0-9]+", coin) is not None,
            "basket",
            f"invalid coin {coin!r}; coins are upper-case tickers such as SOL",
        )

    if b.rebalance is not None:
        _check(
            b.rebalance.every.ms % c.timeframe.ms == 0,
            "basket.rebalance.every",
            f"{b.rebalance.every} is not a whole number of {c.timeframe} bars; use e.g. 1d, 7d",
        )
        _check(
            0 <= b.rebalance.band < 1,
            "basket.rebalance.band",
            f"must be a weight difference in [0, 1), got {b.rebalance.band}",
        )

    h = c.hedge
    _check(len(h.legs) > 0, "hedge.legs", "needs at least one leg")
    _check(h.ratio >= 0, "hedge.ratio", f"must be >= 0, got {h.ratio}")
    seen: set[tuple[str, str]] = set()
    for i, leg in enumerate(h.legs):
        p = f"hedge.legs[{i}]"
        _check(
            ":" in leg.symbol and "/" in leg.symbol,
            f"{p}.symbol",
            f"{leg.symbol!r} is not a perpetual swap symbol; expected ccxt form such as "
            "ETH/USD:ETH (inverse) or ETH/USDT:USDT (linear)",
        )
        _check(
            (leg.exchange, leg.symbol) not in seen, f"{p}.symbol", "the same leg is listed twice"
        )
        seen.add((leg.exchange, leg.symbol))
        _check(leg.weight > 0, f"{p}.weight", f"must be > 0, got {leg.weight}")
        if leg.contract_size is not None:
            _check(
                leg.contract_size > 0, f"{p}.contract_size", f"must be > 0, got {leg.contract_size}"
            )
        _check(
            0 < leg.maintenance_margin < 1,
            f"{p}.maintenance_margin",
            f"must be a fraction in (0, 1), got {leg.maintenance_margin}",
        )
        for key in ("taker_fee", "liquidation_fee"):
            v = getattr(leg, key)
            _check(0 <= v < 0.1, f"{p}.{key}", f"must be a fraction in [0, 0.1), got {v}")
        _check(
            0 <= leg.slippage_bps < 1000,
            f"{p}.slippage_bps",
            f"must be in [0, 1000) basis points, got {leg.slippage_bps}",
        )
    if all(leg.covers is None for leg in h.legs):
        total = sum(leg.weight for leg in h.legs)
        _check(
            abs(total - 1.0) <= WEIGHT_TOLERANCE,
            "hedge.legs",
            f"leg weights sum to {total:.6g}; they must sum to 1 (tolerance {WEIGHT_TOLERANCE:g})",
        )
    else:
        _check_covers(h.legs, b.coin_names)

    _check(
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c.policy.name) is not None,
        "policy.name",
        f"invalid policy name {c.policy.name!r}; it names a file strategies/<name>.py",
    )

    r = c.rebalance
    _check(
        r.every.ms % c.timeframe.ms == 0,
        "rebalance.every",
        f"{r.every} is not a whole number of {c.timeframe} bars; use e.g. {c.timeframe}, 8h, 1d, 7d",
    )
    _check(0 <= r.band < 10, "rebalance.band", f"must be in [0, 10), got {r.band}")
    _check(r.min_trade_usd >= 0, "rebalance.min_trade_usd", f"must be >= 0, got {r.min_trade_usd}")

    co = c.collateral
    if co.initial_leverage is not None and co.usd is not None:
        raise ConfigError(
            "collateral",
            "give initial_leverage or usd, not both (to post a USD amount, also set "
            "collateral.initial_leverage: null, e.g. --set collateral.initial_leverage=null)",
        )
    if co.initial_leverage is not None:
        _check(
            co.initial_leverage > 0,
            "collateral.initial_leverage",
            f"must be > 0, got {co.initial_leverage}",
        )
    if co.usd is not None:
        _check(co.usd > 0, "collateral.usd", f"must be > 0, got {co.usd}")
    lo, hi = co.leverage_band
    _check(0 < lo < hi, "collateral.leverage_band", f"need 0 < lo < hi, got [{lo}, {hi}]")
    _check(
        lo <= co.target_leverage <= hi,
        "collateral.target_leverage",
        f"{co.target_leverage} is outside leverage_band [{lo}, {hi}]",
    )
    if co.source is CollateralSource.BASKET:
        for i, leg in enumerate(h.legs):
            coin = leg.settle
            if leg.symbol_kind is InstrumentKind.INVERSE and coin not in b.coin_names:
                raise ConfigError(
                    "collateral.source",
                    f"basket: leg {i} ({leg.symbol}) is margined in {coin}, which the basket does "
                    f"not hold ({', '.join(b.coin_names)}); use source: capital",
                )

    k = c.costs
    _check(
        0 <= k.spot_fee < 0.1, "costs.spot_fee", f"must be a fraction in [0, 0.1), got {k.spot_fee}"
    )
    _check(
        0 <= k.spot_slippage_bps < 1000,
        "costs.spot_slippage_bps",
        f"must be in [0, 1000) basis points, got {k.spot_slippage_bps}",
    )
    _check(
        c.data.max_fill_bars >= 0, "data.max_fill_bars", f"must be >= 0, got {c.data.max_fill_bars}"
    )
    _validate_ranges(c)
    _check_band_top_below_maintenance(c.collateral.leverage_band[1], c.hedge.legs)


def _check_band_top_below_maintenance(hi: float, legs: tuple[LegConfig, ...]) -> None:
    """No exchange lets a position open at or above 1/maintenance_margin: it would be past
    maintenance margin the moment it opened. The band's top is the most leverage a trade may open
    (docs/engine.md, step 4), so it must stay below that limit for every leg."""
    for i, leg in enumerate(legs):
        if not 0 < leg.maintenance_margin < 1:
            continue  # reported by its own rule
        limit = 1.0 / leg.maintenance_margin
        _check(
            hi < limit,
            "collateral.leverage_band[1]",
            f"{hi:g} is at or above 1/maintenance_margin of hedge.legs[{i}] "
            f"({leg.maintenance_margin:g}); it must be below {limit:g}",
        )


def _check_covers(legs: tuple[LegConfig, ...], coins: tuple[str, ...]) -> None:
    """``covers``: basket coins, each listed once per leg; for every coin some leg covers, the
    weights of the legs covering it sum to 1 (a coin no leg covers stays unhedged)."""
    per_coin: dict[str, float] = {}
    for i, leg in enumerate(legs):
        p = f"hedge.legs[{i}].covers"
        cov = coins if leg.covers is None else leg.covers
        _check(len(cov) > 0, p, "must name at least one basket coin (or leave it out: all)")
        _check(len(set(cov)) == len(cov), p, f"lists a coin twice: {', '.join(cov)}")
        for coin in cov:
            _check(
                coin in coins,
                p,
                f"{coin} is not in the basket ({', '.join(coins)})",
            )
            per_coin[coin] = per_coin.get(coin, 0.0) + leg.weight
    for coin, total in per_coin.items():
        _check(
            abs(total - 1.0) <= WEIGHT_TOLERANCE,
            "hedge.legs",
            f"the weights of the legs covering {coin} sum to {total:.6g}; they must sum to 1 "
            f"(tolerance {WEIGHT_TOLERANCE:g})",
        )


def leg_covers(config: Config) -> tuple[tuple[bool, ...], ...]:
    """Per leg, per basket coin: does the leg hedge it (every coin when ``covers`` is unset)."""
    coins = config.basket.coin_names
    return tuple(
        tuple(leg.covers is None or coin in leg.covers for coin in coins)
        for leg in config.hedge.legs
    )


def leg_label(leg: LegConfig) -> str:
    """The label the engine and reports use for a leg: ``binance ETH/USD:ETH``."""
    return f"{leg.exchange} {leg.symbol}"
