"""Read-only accessors over a Result: leg numbers and labels, events by kind, config lookups.

The engine's Result is plain DataFrames and dicts; these helpers keep the column-name and
event-kind conventions of docs/engine.md in one place for charts, HTML and summaries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum

import numpy as np
import pandas as pd

from perphedge.engine.types import Result
from perphedge.report.plotting import to_utc_times

_LEG_COL = re.compile(r"^contracts_(\d+)$")


def leg_indices(timeseries: pd.DataFrame) -> list[int]:
    """Leg numbers j present in the timeseries (from the ``contracts_{j}`` columns)."""
    out = []
    for col in timeseries.columns:
        m = _LEG_COL.match(str(col))
        if m:
            out.append(int(m.group(1)))
    return sorted(out)


def leg_label(result: Result, j: int) -> str:
    """'binance ETH/USD:ETH' style label of leg j from meta or the resolved config, else 'leg j'."""
    legs = result.meta.get("legs")
    if isinstance(legs, (list, tuple)) and j < len(legs) and legs[j]:
        return str(legs[j])
    cfg = result.meta.get("resolved_config")
    if isinstance(cfg, Mapping):
        hedge = cfg.get("hedge")
        cfg_legs = hedge.get("legs") if isinstance(hedge, Mapping) else None
        if isinstance(cfg_legs, (list, tuple)) and j < len(cfg_legs):
            leg = cfg_legs[j]
            if isinstance(leg, Mapping):
                parts = [str(leg[k]) for k in ("exchange", "symbol") if leg.get(k)]
                if parts:
                    return " ".join(parts)
    return f"leg {j}"


def plain(value: object) -> object:
    """Enum members as their value, other objects unchanged."""
    return value.value if isinstance(value, Enum) else value


def events_of(result: Result, kind: str, leg: int | None = None) -> pd.DatetimeIndex:
    """UTC times of events of ``kind`` (optionally only those of leg ``leg``), sorted."""
    ev = result.events
    if ev is None or len(ev) == 0 or "kind" not in ev.columns or "time" not in ev.columns:
        return pd.DatetimeIndex([], tz="UTC", dtype="datetime64[ns, UTC]")
    kinds = ev["kind"].map(lambda v: str(plain(v)).lower())
    mask = np.array(kinds == kind, dtype=bool)
    if leg is not None and "leg" in ev.columns:
        mask &= _leg_mask(ev["leg"], leg, leg_label(result, leg))
    times = to_utc_times(ev.loc[mask, "time"].reset_index(drop=True))
    return times.sort_values()


def _leg_mask(col: pd.Series, j: int, label: str) -> np.ndarray:
    """Rows whose leg column names leg j (by number or label); NaN legs belong to every leg."""
    out = np.zeros(len(col), dtype=bool)
    for i, v in enumerate(col.to_numpy()):
        v = plain(v)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[i] = True
        elif isinstance(v, (int, np.integer, float, np.floating)):
            out[i] = int(v) == j
        else:
            text = str(v)
            out[i] = text == label or text == str(j) or text.endswith(f"#{j}")
    return out


def find_config_value(cfg: object, key: str) -> object | None:
    """First value stored under ``key`` anywhere in a nested config mapping (depth-first)."""
    if isinstance(cfg, Mapping):
        if key in cfg:
            return cfg[key]
        for v in cfg.values():
            found = find_config_value(v, key)
            if found is not None:
                return found
    elif isinstance(cfg, (list, tuple)):
        for v in cfg:
            found = find_config_value(v, key)
            if found is not None:
                return found
    return None


def run_title(result: Result) -> str:
    """'name (start to end, 1h)' for chart and page titles."""
    name = str(result.meta.get("name") or "run")
    start, end = run_period(result)
    tf = result.meta.get("timeframe")
    bits = []
    if start is not None and end is not None:
        bits.append(f"{_day(start)} to {_day(end)}")
    if tf:
        bits.append(str(tf))
    return f"{name} ({', '.join(bits)})" if bits else name


def run_period(result: Result) -> tuple[object, object]:
    """(start, end) of meta['period'], given as [start, end] or {'start': .., 'end': ..}."""
    period = result.meta.get("period")
    if isinstance(period, Mapping):
        return period.get("start"), period.get("end")
    if isinstance(period, (list, tuple)) and len(period) == 2:
        return period[0], period[1]
    return None, None


def day_text(v: object) -> str:
    """A time as 'YYYY-MM-DD' (its text if it is not a time)."""
    return _day(v)


def _day(v: object) -> str:
    try:
        return pd.Timestamp(v).strftime("%Y-%m-%d")  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return str(v)


def all_notes(result: Result) -> list[str]:
    """meta['notes'] then Result.notes, without duplicates, in order."""
    seen: list[str] = []
    for src in (result.meta.get("notes") or [], result.notes or ()):
        for n in src:  # type: ignore[union-attr]
            if str(n) not in seen:
                seen.append(str(n))
    return seen


def hedge_sizing(result: Result) -> str | None:
    """The run's ``hedge.sizing`` (``delta_neutral`` / ``basket_only``), None if not recorded."""
    cfg = result.meta.get("resolved_config")
    hedge = cfg.get("hedge") if isinstance(cfg, Mapping) else None
    sizing = hedge.get("sizing") if isinstance(hedge, Mapping) else None
    return None if sizing is None else str(plain(sizing))


def ratio_definition(result: Result) -> str:
    """What the run's hedge ratio measures, after docs/engine.md ("Actual hedge ratio").

    delta_neutral: the hedge account's net short USD delta (short notional less the coin
    collateral's own long) over the basket value; basket_only: the short's notional over the
    basket value. A linear leg has no coin collateral, so both read the same for it.
    """
    sizing = hedge_sizing(result)
    if sizing == "delta_neutral":
        return "hedge's net short USD delta / basket value"
    if sizing == "basket_only":
        return "short notional / basket value"
    return "hedged USD / basket value"
