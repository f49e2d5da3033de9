"""The ``sweep:`` section: what to vary, over which periods, and how to rank and chart it.

A sweep is declared either inside a run config (a top-level ``sweep:`` section next to the usual
keys) or in a separate sweep file whose ``base:`` names a run config (relative to the sweep
file). The section is parsed here into a frozen :class:`SweepSpec`; nothing is run and no config
value is checked against the config loader yet (that is :mod:`perphedge.sweep.grid`).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from perphedge.domain import Timeframe
from perphedge.errors import ConfigError
from perphedge.metrics import METRIC_KEYS

# Metrics for which a smaller value is the better one (everything else ranks high-first).
# Drawdowns are negative fractions, so "higher is better" is right for them as well.
_LOWER_IS_BETTER_SUFFIXES = (
    "_volatility",
    "_max_drawdown_days",
    "fees_usd",
    "slippage_usd",
    "funding_paid_usd",
    "n_liquidations",
    "n_topups",
    "n_withdrawals",
    "n_trades",
    "n_rebalances",
    "max_margin_ratio",
    "mean_leverage",
    "max_leverage",
)

_SECTION_KEYS = ("name", "grid", "periods", "rank_by", "rank_order", "heatmap", "scatter", "top")
_SWEEP_FILE_KEYS = ("base", "name", "set", "sweep")
_HEATMAP_KEYS = ("x", "y", "metric", "agg")


class Status(str, Enum):
    """Outcome of one combination (the ``status`` column)."""

    OK = "ok"  # ran; its metrics are in the row
    ERROR = "error"  # raised while running (or its worker died); error_type and error say why
    INVALID = "invalid"  # its values do not load together as a config; it did not run


class RankOrder(str, Enum):
    AUTO = "auto"  # lower first for volatility, costs, counts...; higher first otherwise
    ASC = "asc"
    DESC = "desc"


class Agg(str, Enum):
    """How a heat-map cell reduces the combinations that share it."""

    MEAN = "mean"
    MEDIAN = "median"
    MAX = "max"
    MIN = "min"


class Risk(str, Enum):
    """The x axis of the risk/return scatter."""

    MAX_DRAWDOWN = "max_drawdown"
    VOLATILITY = "volatility"


def _choice(enum: type[Enum], value: Any, where: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum)  # type: ignore[attr-defined]
        raise ConfigError(where, f"expected one of {allowed}, got {value!r}") from None


DEFAULT_RANK_BY = "hedged_sharpe"

# Metric keys, to catch a misspelt rank_by or heat map metric before a long sweep runs
# (attr_<component> keys are accepted by their prefix).
KNOWN_METRICS = METRIC_KEYS


def check_metric(name: Any, where: str) -> str:
    """``name`` if it is a metric key, else a ConfigError at ``where`` with the nearest names."""
    if isinstance(name, str) and (name in KNOWN_METRICS or name.startswith("attr_")):
        return name
    near = difflib.get_close_matches(str(name), KNOWN_METRICS, n=3)
    hint = f" (did you mean {', '.join(near)}?)" if near else ""
    raise ConfigError(
        where, f"unknown metric {name!r}{hint}; metrics: {', '.join(KNOWN_METRICS)}, attr_*"
    )


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is the better one (volatility, costs, counts...)."""
    return metric.endswith(_LOWER_IS_BETTER_SUFFIXES)


@dataclass(frozen=True)
class Period:
    """One backtest window ``[start, end)`` as ISO dates or timestamps (UTC)."""

    start: str
    end: str

    @property
    def label(self) -> str:
        return f"{self.start}..{self.end}"


@dataclass(frozen=True)
class Dimension:
    """One axis of the grid.

    A plain axis varies one config key (``hedge.ratio: [0, 0.5, 1]``): its labels are the values.
    A linked axis (``instrument: {inverse: {k: v, ...}, linear: {...}}``) sets several keys
    together per labelled variant; its labels are the variant names.
    """

    name: str
    labels: tuple[Any, ...]
    overrides: tuple[tuple[tuple[str, Any], ...], ...]  # per label: ((dotted key, value), ...)
    linked: bool = False

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class HeatmapSpec:
    """A heat map of ``metric`` over two grid keys; other grid keys are reduced by ``agg``."""

    x: str
    y: str
    metric: str
    agg: Agg = Agg.MEAN


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep: the grid, the periods and how the results are ranked and drawn.

    ``grid`` keeps the order written in the YAML: it fixes the order of the combinations.
    ``periods`` is empty when the base config's own period is used.
    """

    name: str
    grid: tuple[Dimension, ...]
    periods: tuple[Period, ...] = ()
    rank_by: str = DEFAULT_RANK_BY
    rank_order: RankOrder = RankOrder.AUTO
    heatmaps: tuple[HeatmapSpec, ...] = ()
    risk: Risk = Risk.MAX_DRAWDOWN  # x axis of the risk/return scatter
    top: int = 5  # curves on the overlay chart and rows highlighted in the table

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.grid)

    @property
    def ascending(self) -> bool:
        """True when a smaller ``rank_by`` value ranks first."""
        if self.rank_order is not RankOrder.AUTO:
            return self.rank_order is RankOrder.ASC
        return lower_is_better(self.rank_by)

    @property
    def n_combinations(self) -> int:
        n = max(len(self.periods), 1)
        for dim in self.grid:
            n *= len(dim)
        return n

    def to_dict(self) -> dict[str, Any]:
        """Plain form for ``sweep.resolved.yaml`` and hashing."""
        out: dict[str, Any] = {
            "name": self.name,
            "grid": {
                d.name: (
                    {lab: dict(o) for lab, o in zip(d.labels, d.overrides, strict=True)}
                    if d.linked
                    else list(d.labels)
                )
                for d in self.grid
            },
            "periods": [[p.start, p.end] for p in self.periods],
            "rank_by": self.rank_by,
            "rank_order": self.rank_order.value,
            "scatter": {"risk": self.risk.value},
            "top": self.top,
        }
        if self.heatmaps:
            out["heatmap"] = [
                {"x": h.x, "y": h.y, "metric": h.metric, "agg": h.agg.value} for h in self.heatmaps
            ]
        return out


@dataclass(frozen=True)
class SweepSource:
    """A sweep read from disk: the base run config (raw YAML mapping) and the sweep section."""

    base_raw: dict[str, Any]
    section: dict[str, Any]
    name: str
    path: Path | None = None
    base_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _read_yaml(path: Path) -> dict[str, Any]:
    from perphedge.config import read_yaml_file

    if not path.is_file():
        raise ConfigError("", f"config file not found: {path}")
    data = read_yaml_file(path)
    if not isinstance(data, dict):
        raise ConfigError("", f"{path}: expected a mapping at the top level")
    return data


def read_sweep_source(
    source: str | Path | Mapping[str, Any], *, require_section: bool = True
) -> SweepSource:
    """Read a sweep from a file (or an already-parsed mapping).

    Two shapes are accepted: a run config with a ``sweep:`` section, or a sweep file with
    ``base: <run config>`` (resolved relative to the sweep file), an optional ``name:``, an
    optional ``set: {key: value}`` applied to the base, and the ``sweep:`` section. Without
    ``require_section`` a plain run config is accepted (the grid then comes from the caller).
    """
    path: Path | None = None
    if isinstance(source, Mapping):
        raw = dict(source)
    else:
        path = Path(source)
        raw = _read_yaml(path)
    if "base" in raw:
        unknown = sorted(set(raw) - set(_SWEEP_FILE_KEYS))
        if unknown:
            raise ConfigError(
                unknown[0],
                f"unknown key in a sweep file; allowed: {', '.join(_SWEEP_FILE_KEYS)}",
            )
        base_ref = raw["base"]
        if isinstance(base_ref, Mapping):
            base_raw, base_path = dict(base_ref), None
        else:
            base_path = Path(str(base_ref))
            if path is not None and not base_path.is_absolute():
                base_path = path.parent / base_path
            base_raw = _read_yaml(base_path)
        base_raw.pop("sweep", None)
        section = raw.get("sweep") or {}
        sets = raw.get("set") or {}
        if not isinstance(sets, Mapping):
            raise ConfigError("set", "expected a mapping of config keys to values")
        name = raw.get("name") or (path.stem if path else None)
        return SweepSource(
            base_raw=base_raw,
            section=dict(section) if isinstance(section, Mapping) else section,
            name=str(name or base_raw.get("name") or "sweep"),
            path=path,
            base_path=base_path,
            extra={"set": dict(sets)},
        )
    if "sweep" not in raw and require_section:
        raise ConfigError(
            "sweep", "missing: add a 'sweep:' section with a 'grid:' (or pass grid= in Python)"
        )
    base_raw = {k: v for k, v in raw.items() if k != "sweep"}
    section = raw.get("sweep") or {}
    return SweepSource(
        base_raw=base_raw,
        section=dict(section) if isinstance(section, Mapping) else section,
        name=str(base_raw.get("name") or (path.stem if path else "sweep")),
        path=path,
        base_path=path,
    )


def _iso(value: Any, where: str) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ") if value.time() != dt.time(0) else value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(where, f"not a date: {value!r} (use YYYY-MM-DD)") from None
        return _iso(parsed, where)
    raise ConfigError(where, f"not a date: {value!r} (use YYYY-MM-DD)")


def _to_datetime(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _duration(value: Any, where: str) -> dt.timedelta:
    try:
        return dt.timedelta(milliseconds=Timeframe.parse(str(value)).ms)
    except ValueError:
        raise ConfigError(where, f"not a duration: {value!r} (use e.g. 365d, 26w, 90d)") from None


MAX_ROLLING_WINDOWS = 10_000


def rolling_periods(start: str, end: str, length: Any, step: Any) -> tuple[Period, ...]:
    """Windows of ``length`` starting at ``start`` and every ``step`` after, inside [start, end]."""
    span = _duration(length, "sweep.periods.rolling.length")
    stride = _duration(step, "sweep.periods.rolling.step")
    s, e = _to_datetime(start), _to_datetime(end)
    if stride <= dt.timedelta(0) or span <= dt.timedelta(0):
        raise ConfigError("sweep.periods.rolling", "length and step must be positive")
    n_windows = (e - s - span) // stride + 1 if e - s >= span else 0
    if n_windows > MAX_ROLLING_WINDOWS:
        raise ConfigError(
            "sweep.periods.rolling",
            f"{n_windows:,} windows; at most {MAX_ROLLING_WINDOWS:,} (use a longer step)",
        )
    out: list[Period] = []
    cur = s
    while cur + span <= e:
        out.append(Period(_iso(cur, "sweep.periods"), _iso(cur + span, "sweep.periods")))
        cur += stride
    if not out:
        raise ConfigError(
            "sweep.periods.rolling",
            f"no window of {length} fits in the base period {start}..{end}",
        )
    return tuple(out)


def _parse_periods(raw: Any, base_period: tuple[str, str] | None) -> tuple[Period, ...]:
    where = "sweep.periods"
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - {"rolling"})
        if unknown or "rolling" not in raw:
            raise ConfigError(where, "expected a list of [start, end] or {rolling: {length, step}}")
        roll = raw["rolling"]
        if not isinstance(roll, Mapping) or set(roll) - {"length", "step", "start", "end"}:
            raise ConfigError(
                f"{where}.rolling", "expected {length: 365d, step: 90d} (optional start, end)"
            )
        if "length" not in roll:
            raise ConfigError(f"{where}.rolling.length", "missing (e.g. 365d)")
        start = roll.get("start") or (base_period[0] if base_period else None)
        end = roll.get("end") or (base_period[1] if base_period else None)
        if start is None or end is None:
            raise ConfigError(f"{where}.rolling", "needs start and end (or a base period)")
        return rolling_periods(
            _iso(start, f"{where}.rolling.start"),
            _iso(end, f"{where}.rolling.end"),
            roll["length"],
            roll.get("step", roll["length"]),
        )
    if not isinstance(raw, list) or not raw:
        raise ConfigError(where, "expected a non-empty list of [start, end] pairs")
    out = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if isinstance(item, Mapping) and set(item) == {"start", "end"}:
            item = [item["start"], item["end"]]
        if not isinstance(item, list | tuple) or len(item) != 2:
            raise ConfigError(here, f"expected [start, end], got {item!r}")
        start, end = _iso(item[0], f"{here}[0]"), _iso(item[1], f"{here}[1]")
        if _to_datetime(start) >= _to_datetime(end):
            raise ConfigError(here, f"start {start} is not before end {end}")
        out.append(Period(start, end))
    if len(set(out)) != len(out):
        raise ConfigError(where, "the same period is listed twice")
    return tuple(out)


def _scalar(value: Any) -> Any:
    """Grid values as plain YAML scalars (dates become ISO text)."""
    if isinstance(value, dt.date | dt.datetime):
        return _iso(value, "sweep.grid")
    return value


def _parse_dimension(key: Any, values: Any) -> Dimension:
    """One grid entry: ``key: [values]`` (plain) or ``name: {label: {key: value, ...}}`` (linked)."""
    if not isinstance(key, str) or not key.strip():
        raise ConfigError("sweep.grid", f"grid keys must be dotted config paths, got {key!r}")
    key = key.strip()
    where = f"sweep.grid.{key}"
    if isinstance(values, Mapping):
        if not values:
            raise ConfigError(where, "expected at least one labelled variant")
        labels, overrides = [], []
        for label, sets in values.items():
            if not isinstance(sets, Mapping) or not sets:
                raise ConfigError(f"{where}.{label}", "expected a mapping of config keys to values")
            for sub in sets:
                if not isinstance(sub, str) or sub.split(".")[0] in ("sweep", "name"):
                    raise ConfigError(f"{where}.{label}", f"cannot set {sub!r} in a grid")
            labels.append(str(label))
            overrides.append(tuple((str(k), _scalar(v)) for k, v in sets.items()))
        return Dimension(key, tuple(labels), tuple(overrides), linked=True)
    if key.split(".")[0] in ("sweep", "name"):
        raise ConfigError(where, "cannot be varied in a grid")
    if not isinstance(values, list | tuple) or not values:
        raise ConfigError(
            where, "expected a non-empty list of values (or {label: {key: value}} variants)"
        )
    vals = tuple(_scalar(v) for v in values)
    seen: list[Any] = []
    for v in vals:
        if any(type(v) is type(s) and v == s for s in seen):
            raise ConfigError(where, f"value {v!r} is listed twice")
        seen.append(v)
    return Dimension(key, vals, tuple(((key, v),) for v in vals), linked=False)


def _parse_heatmap(
    raw: Any, where: str, keys: list[str], rank: str, has_periods: bool
) -> HeatmapSpec:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "expected {x: <grid key>, y: <grid key>, metric, agg}")
    bad = sorted(set(raw) - set(_HEATMAP_KEYS))
    if bad:
        raise ConfigError(f"{where}.{bad[0]}", f"unknown key; allowed: {', '.join(_HEATMAP_KEYS)}")
    allowed = keys + (["period"] if has_periods else [])
    for axis in ("x", "y"):
        if raw.get(axis) not in allowed:
            raise ConfigError(
                f"{where}.{axis}",
                f"{raw.get(axis)!r} is not a grid key; grid keys: {', '.join(allowed)}",
            )
    if raw["x"] == raw["y"]:
        raise ConfigError(where, "x and y must be two different grid keys")
    agg = _choice(Agg, raw.get("agg", "mean"), f"{where}.agg")
    metric = check_metric(raw.get("metric", rank), f"{where}.metric")
    return HeatmapSpec(raw["x"], raw["y"], metric, agg)


def parse_sweep_section(
    section: Any,
    *,
    name: str,
    base_period: tuple[str, str] | None = None,
    grid: Mapping[str, Any] | None = None,
    periods: Any = None,
    rank_by: str | None = None,
) -> SweepSpec:
    """Parse the ``sweep:`` mapping; keyword arguments replace the matching parts of it."""
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError("sweep", "expected a mapping with grid, periods, rank_by, heatmap")
    unknown = sorted(set(section) - set(_SECTION_KEYS))
    if unknown:
        raise ConfigError(
            f"sweep.{unknown[0]}", f"unknown key; allowed: {', '.join(_SECTION_KEYS)}"
        )

    raw_grid = grid if grid is not None else section.get("grid")
    if not isinstance(raw_grid, Mapping) or not raw_grid:
        raise ConfigError("sweep.grid", "expected a mapping of config keys to lists of values")
    items = tuple(_parse_dimension(key, values) for key, values in raw_grid.items())

    periods_raw = periods if periods is not None else section.get("periods")
    parsed_periods = _parse_periods(periods_raw, base_period)

    rank = check_metric(rank_by or section.get("rank_by") or DEFAULT_RANK_BY, "sweep.rank_by")
    order = _choice(RankOrder, section.get("rank_order", "auto"), "sweep.rank_order")

    keys = [d.name for d in items]
    raw_heat = section.get("heatmap")
    heats: tuple[HeatmapSpec, ...] = ()
    if isinstance(raw_heat, list):
        heats = tuple(
            _parse_heatmap(h, f"sweep.heatmap[{i}]", keys, rank, bool(parsed_periods))
            for i, h in enumerate(raw_heat)
        )
    elif raw_heat is not None:
        heats = (_parse_heatmap(raw_heat, "sweep.heatmap", keys, rank, bool(parsed_periods)),)
    elif len(keys) >= 2:
        heats = (HeatmapSpec(keys[0], keys[1], rank),)

    risk = Risk.MAX_DRAWDOWN
    raw_scatter = section.get("scatter")
    if raw_scatter is not None:
        if not isinstance(raw_scatter, Mapping) or set(raw_scatter) - {"risk"}:
            raise ConfigError("sweep.scatter", "expected {risk: max_drawdown | volatility}")
        risk = _choice(Risk, raw_scatter.get("risk", "max_drawdown"), "sweep.scatter.risk")

    top = section.get("top", 5)
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ConfigError("sweep.top", f"expected a whole number >= 1, got {top!r}")

    spec_name = section.get("name") or name
    return SweepSpec(
        name=str(spec_name),
        grid=tuple(items),
        periods=parsed_periods,
        rank_by=rank,
        rank_order=order,
        heatmaps=heats,
        risk=risk,
        top=top,
    )
