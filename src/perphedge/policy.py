"""Hedge policies: the context a strategy sees, loading ``strategies/<name>.py``, and targets.

A strategy file defines ``def targets(ctx, *, param=default, ...) -> numpy.ndarray`` returning
the target hedge ratio for the decision at the close of every bar: shape ``(T,)`` (split over
the legs by their weights) or ``(T, J)`` (one column per leg, weights already applied). Row
``t`` may use rows ``0..t`` of the context only; the truncation tests prove it for every shipped
strategy. ``NaN`` in a target means "keep the current hedge" (e.g. during a warm-up; before the
first finite value the current hedge is none).
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from perphedge.domain import Timeframe
from perphedge.engine.types import MarketArrays
from perphedge.errors import ConfigError, StrategyError

TargetsFn = Callable[..., np.ndarray]

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _readonly(a: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class PolicyContext:
    """What a hedge policy may look at, on the run's bar grid (T bars, J legs).

    Arrays are read-only copies. Row ``t`` holds what is known at the close of bar ``t``.
    """

    index: pd.DatetimeIndex  # (T,) bar open times, UTC
    bar_ns: int  # bar length in ns
    basket_value: np.ndarray  # (T,) buy-and-hold basket at the weights, 1.0 at bar 0's close
    basket_returns: np.ndarray  # (T,) simple returns of basket_value; row 0 is NaN
    hedge_price: np.ndarray  # (T, J) mark (or stated substitute) close of each leg
    coin_usd: np.ndarray  # (T, J) USD price of each leg's margin coin (1.0 for linear)
    funding_rate: np.ndarray  # (T, J) sum of funding rates in the bar; NaN where no event
    funding_events: np.ndarray  # (T, J) int number of funding events in the bar
    legs: tuple[str, ...]  # (J,) leg labels
    leg_weights: np.ndarray  # (J,) share of the total ratio each leg carries (sums to 1)
    base_ratio: float  # the config's hedge ratio

    @property
    def n_bars(self) -> int:
        return int(self.index.shape[0])

    @property
    def n_legs(self) -> int:
        return len(self.legs)

    @property
    def close_times(self) -> pd.DatetimeIndex:
        """Bar close times (UTC): when each row's decision is taken."""
        return self.index + pd.Timedelta(self.bar_ns, unit="ns")

    def truncate(self, n: int) -> PolicyContext:
        """The context as it would be with only the first ``n`` bars (for causality tests)."""
        return replace(
            self,
            index=self.index[:n],
            basket_value=self.basket_value[:n],
            basket_returns=self.basket_returns[:n],
            hedge_price=self.hedge_price[:n],
            coin_usd=self.coin_usd[:n],
            funding_rate=self.funding_rate[:n],
            funding_events=self.funding_events[:n],
        )

    @classmethod
    def from_arrays(
        cls,
        *,
        times: np.ndarray,
        bar_ns: int,
        spot_close: np.ndarray,
        weights: Sequence[float] | np.ndarray,
        hedge_price: np.ndarray,
        coin_usd: np.ndarray,
        funding_rate: np.ndarray,
        funding_events: np.ndarray,
        legs: Sequence[str],
        base_ratio: float,
        leg_weights: Sequence[float] | np.ndarray | None = None,
    ) -> PolicyContext:
        """Build a context from plain arrays; ``funding_rate`` 0 where no event becomes NaN."""
        spot = np.asarray(spot_close, dtype=np.float64)
        if spot.ndim == 1:
            spot = spot[:, None]
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (spot.shape[1],):
            raise ConfigError(
                "basket.weights", f"{w.shape[0]} weights for {spot.shape[1]} basket coins"
            )
        units = w / spot[0]
        value = spot @ units
        rets = np.full(value.shape, np.nan)
        rets[1:] = value[1:] / value[:-1] - 1.0
        n_legs = len(legs)
        lw = (
            np.full(n_legs, 1.0 / n_legs)
            if leg_weights is None
            else np.asarray(leg_weights, dtype=np.float64)
        )
        if lw.shape != (n_legs,):
            raise ConfigError("hedge.legs", f"{lw.shape[0]} leg weights for {n_legs} legs")
        events = np.asarray(funding_events, dtype=np.int64)
        rate = np.where(events > 0, np.asarray(funding_rate, dtype=np.float64), np.nan)
        idx = pd.DatetimeIndex(pd.to_datetime(np.asarray(times, dtype=np.int64), utc=True))
        return cls(
            index=idx.rename("timestamp"),
            bar_ns=int(bar_ns),
            basket_value=_readonly(value),
            basket_returns=_readonly(rets),
            hedge_price=_readonly(hedge_price),
            coin_usd=_readonly(coin_usd),
            funding_rate=_readonly(rate),
            funding_events=_readonly(events, np.int64),
            legs=tuple(legs),
            leg_weights=_readonly(lw),
            base_ratio=float(base_ratio),
        )

    @classmethod
    def from_market(
        cls,
        market: MarketArrays,
        weights: Sequence[float] | np.ndarray,
        base_ratio: float,
        leg_weights: Sequence[float] | np.ndarray | None = None,
    ) -> PolicyContext:
        """Build the context of a run from its market arrays and basket weights."""
        return cls.from_arrays(
            times=market.times,
            bar_ns=market.bar_ns,
            spot_close=market.spot_close,
            weights=weights,
            hedge_price=market.mark_close,
            coin_usd=market.coin_usd,
            funding_rate=market.funding_rate,
            funding_events=market.funding_events,
            legs=market.legs,
            base_ratio=base_ratio,
            leg_weights=leg_weights,
        )


# ---------------------------------------------------------------- helpers for strategy files


def duration_ns(text: str, param: str) -> int:
    """Parse a duration like ``30d``, ``8h``, ``1w`` for parameter ``param`` (error names it)."""
    try:
        return Timeframe.parse(text).ns
    except ValueError:
        raise StrategyError(
            f"policy.params.{param}", f"invalid duration {text!r}; expected e.g. 8h, 1d, 30d"
        ) from None


def duration_bars(text: str, bar_ns: int, param: str) -> int:
    """Whole number of bars in duration ``text``; it must be a positive multiple of the bar."""
    ns = duration_ns(text, param)
    if ns % bar_ns:
        bar = Timeframe(bar_ns // 1_000_000).text
        raise StrategyError(f"policy.params.{param}", f"{text} is not a whole number of {bar} bars")
    return ns // bar_ns


def to_utc_timestamp(value: object, param: str) -> pd.Timestamp:
    """A date or datetime (string, date, Timestamp) as a UTC timestamp; naive means UTC."""
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise StrategyError(f"policy.params.{param}", f"not a date: {value!r}") from None
    if ts is pd.NaT:
        raise StrategyError(f"policy.params.{param}", f"not a date: {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# ---------------------------------------------------------------- loading


def find_strategies_dirs(config_path: str | Path | None = None) -> list[Path]:
    """Where to look for strategy files, first match wins: ``strategies/`` in the config's
    folder, ``strategies/`` in its project root (the folder holding ``configs/``), then the
    built-in policies shipped with perphedge. Nothing further up, nothing from the working
    directory (see :func:`perphedge.project.strategy_search_dirs`)."""
    from perphedge.project import strategy_search_dirs

    return strategy_search_dirs(config_path)


def shipped_strategies_dir() -> Path | None:
    """The folder of the built-in policies (inside the package, or the checkout's strategies/)."""
    from perphedge.project import Shipped, shipped_dir_or_none

    return shipped_dir_or_none(Shipped.STRATEGIES)


def strategy_files(search_dirs: Sequence[str | Path]) -> dict[str, Path]:
    """Every strategy file in ``search_dirs``, by name; the first folder that has a name wins.

    Any ``<name>.py`` whose stem is a Python identifier counts (``__init__`` excepted).
    """
    out: dict[str, Path] = {}
    for d in search_dirs:
        p = Path(d)
        if not p.is_dir():
            continue
        for f in sorted(p.glob("*.py")):
            if _NAME_RE.match(f.stem) and f.stem != "__init__" and f.stem not in out:
                out[f.stem] = f
    return out


def available_strategies(search_dirs: Sequence[str | Path]) -> list[str]:
    """Names of the strategy files in ``search_dirs`` (sorted, each once)."""
    return sorted(strategy_files(search_dirs))


def _where(folder: Path) -> str:
    builtin = shipped_strategies_dir()
    if builtin is not None and folder.resolve() == builtin:
        return "the built-in policies"
    return str(folder)


def policy_notes(name: str, search_dirs: Sequence[str | Path]) -> list[str]:
    """Run notes on which file a policy came from, and whether it overrode a built-in.

    The file is named relative to the working directory when inside it, else from the folder
    that holds its project (``myhedge/strategies/x.py``), never by a full machine path.
    """
    from perphedge.project import display_path

    dirs = [Path(d) for d in search_dirs]
    path = next((d / f"{name}.py" for d in dirs if (d / f"{name}.py").is_file()), None)
    if path is None:
        return []
    builtin = shipped_strategies_dir()
    if builtin is not None and path.parent.resolve() == builtin:
        return [f"policy {name!r}: the built-in policy"]
    shown = display_path(path)
    if Path(shown).is_absolute():  # outside the working directory: name it from its project
        full = path.resolve()
        shown = full.relative_to(full.parents[min(2, len(full.parents) - 1)]).as_posix()
    note = f"policy {name!r}: {shown}"
    if builtin is not None and (builtin / f"{name}.py").is_file():
        note += " (overrides the built-in policy of the same name)"
    return [note]


def load_policy(
    name: str, search_dirs: Sequence[str | Path], *, yaml_path: str = "policy.name"
) -> TargetsFn:
    """Import ``<dir>/<name>.py`` from the first dir that has it and return its ``targets``.

    The module is executed from its path (no change to ``sys.path``; not left in
    ``sys.modules``). Errors are :class:`StrategyError` naming ``yaml_path``.
    """
    dirs = [Path(d) for d in search_dirs]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise StrategyError(yaml_path, f"invalid strategy name {name!r}; use a file stem")
    path = next((d / f"{name}.py" for d in dirs if (d / f"{name}.py").is_file()), None)
    if path is None:
        avail = available_strategies(dirs)
        searched = ", ".join(_where(d) for d in dirs) or "no strategies/ folder found"
        raise StrategyError(
            yaml_path,
            f"no strategy {name!r} (searched: {searched}); available: "
            + (", ".join(avail) if avail else "none"),
        )
    module_name = f"perphedge_strategy_{name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - only for exotic paths
        raise StrategyError(yaml_path, f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module  # dataclasses etc. look themselves up while executing
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise StrategyError(
            yaml_path, f"strategy {name!r} ({path}) failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if previous is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = previous
    fn = getattr(module, "targets", None)
    if not isinstance(fn, types.FunctionType):
        raise StrategyError(
            yaml_path, f"strategy file {path} defines no function 'targets(ctx, *, ...)'"
        )
    _check_signature(fn, path, yaml_path)
    return fn


def _check_signature(fn: TargetsFn, path: Path, yaml_path: str) -> None:
    params = list(inspect.signature(fn).parameters.values())
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if len(positional) != 1 or positional[0].kind is inspect.Parameter.VAR_POSITIONAL:
        raise StrategyError(
            yaml_path,
            f"{path}: targets must take exactly one positional argument (ctx) and keyword-only "
            "parameters: def targets(ctx, *, ...)",
        )


def policy_parameters(fn: TargetsFn) -> dict[str, inspect.Parameter]:
    """The keyword-only parameters a strategy accepts (name -> inspect.Parameter)."""
    return {
        p.name: p
        for p in inspect.signature(fn).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


# ---------------------------------------------------------------- parameters and targets


def _type_ok(value: object, hint: object) -> bool:
    """Whether ``value`` fits type hint ``hint`` (YAML-level types; unknown hints accept)."""
    if hint is typing.Any or hint is inspect.Parameter.empty:
        return True
    if hint is type(None) or hint is None:
        return value is None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    base = origin or hint
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is str:
        return isinstance(value, str)
    if base in (list, tuple, Sequence):
        return isinstance(value, (list, tuple))
    if base in (dict, Mapping):
        return isinstance(value, dict)
    return True


def _describe(hint: object) -> str:
    text = getattr(hint, "__name__", None) if typing.get_origin(hint) is None else None
    return text or str(hint).replace("typing.", "")


def validate_params(fn: TargetsFn, params: Mapping[str, object]) -> dict[str, object]:
    """Check ``params`` against the keyword-only signature of ``fn``: names, required, types.

    Types come from the annotations (or, without one, from the default's type).
    """
    allowed = policy_parameters(fn)
    names = ", ".join(sorted(allowed)) or "none"
    for key in params:
        if key not in allowed:
            raise StrategyError(f"policy.params.{key}", f"unknown parameter; allowed: {names}")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable annotation: fall back to defaults' types
        hints = {}
    out: dict[str, object] = {}
    for pname, p in allowed.items():
        if pname not in params:
            if p.default is inspect.Parameter.empty:
                raise StrategyError(
                    f"policy.params.{pname}", "required parameter of this strategy is missing"
                )
            continue
        value = params[pname]
        hint = hints.get(pname, inspect.Parameter.empty)
        if hint is inspect.Parameter.empty and p.default not in (None, inspect.Parameter.empty):
            hint = float if isinstance(p.default, float) else type(p.default)
        if not _type_ok(value, hint):
            raise StrategyError(
                f"policy.params.{pname}",
                f"expected {_describe(hint)}, got {type(value).__name__} {value!r}",
            )
        out[pname] = value
    return out


def compute_targets(
    fn: TargetsFn, ctx: PolicyContext, params: Mapping[str, object] | None = None
) -> np.ndarray:
    """Run a strategy and return validated targets, shape ``(T, J)`` float64.

    A ``(T,)`` result is split over the legs by ``ctx.leg_weights``. Values must be finite and
    non-negative; ``NaN`` is allowed and means "keep the current hedge".
    """
    kwargs = validate_params(fn, params or {})
    raw = fn(ctx, **kwargs)
    name = getattr(fn, "__module__", "strategy").removeprefix("perphedge_strategy_")
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise StrategyError(
            "policy", f"strategy {name!r} returned {type(raw).__name__}, not a numeric array"
        ) from None
    t, j = ctx.n_bars, ctx.n_legs
    if arr.shape == (t,):
        arr = arr[:, None] * ctx.leg_weights[None, :]
    elif arr.shape != (t, j):
        raise StrategyError(
            "policy", f"strategy {name!r} returned shape {arr.shape}; expected ({t},) or ({t}, {j})"
        )
    else:
        arr = arr.copy()
    bad = np.isinf(arr) | (arr < 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise StrategyError(
            "policy",
            f"strategy {name!r} returned {arr[row, col]} for leg {ctx.legs[col]!r} at "
            f"{ctx.index[row].isoformat()}; targets must be finite and >= 0 (NaN = keep current)",
        )
    all_nan = np.isnan(arr).all(axis=0) if t else np.zeros(j, dtype=bool)
    if all_nan.any():
        col = int(np.argmax(all_nan))
        raise StrategyError(
            "policy", f"strategy {name!r} returned no target at all for leg {ctx.legs[col]!r}"
        )
    return arr
