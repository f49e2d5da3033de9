"""Expand a sweep into combinations and validate every one against the config loader.

The order is deterministic: the grid's axes in the order written (the first varies slowest),
then the periods (fastest), so the same sweep file always numbers its combinations the same way.
Every axis value is applied to the base config and loaded before anything runs; a bad key or
value stops the sweep with an error naming it. A combination that is only invalid jointly (two
values that do not go together) is kept and reported as ``invalid`` in its row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perphedge.config import Config, apply_overrides, parse_config
from perphedge.errors import ConfigError, PerphedgeError
from perphedge.sweep.spec import Period, SweepSpec


@dataclass(frozen=True)
class Combination:
    """One point of the grid (and one period): what it sets and its stable id."""

    index: int
    combo_id: str  # "c0007": sorts in grid order; names the config file
    params: tuple[tuple[str, Any], ...]  # (axis name, value or variant label)
    overrides: tuple[tuple[str, Any], ...]  # (dotted config key, value), applied in order
    period: Period | None
    digest: str  # short hash of params and period: the same point in another sweep

    @property
    def label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.params]
        if self.period is not None:
            parts.append(f"period={self.period.label}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Planned:
    """A combination with its loaded config, or the reason it could not be loaded."""

    combination: Combination
    config: Config | None
    error_type: str | None = None
    error: str | None = None


def period_overrides(period: Period | None) -> tuple[tuple[str, Any], ...]:
    """The config keys a period sets."""
    if period is None:
        return ()
    return (("period.start", period.start), ("period.end", period.end))


def base_period(config: Config) -> tuple[str, str]:
    """The base config's period as ISO text (used to place rolling windows)."""
    plain = config.to_dict()["period"]
    return str(plain["start"]), str(plain["end"])


def _digest(params: Sequence[tuple[str, Any]], period: Period | None) -> str:
    payload = {"params": [[k, v] for k, v in params]}
    if period is not None:
        payload["period"] = [period.start, period.end]
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


DEFAULT_MAX_COMBINATIONS = 10_000  # `backtest sweep --max-combinations N` raises it


def check_grid_size(spec: SweepSpec, limit: int = DEFAULT_MAX_COMBINATIONS) -> None:
    """Refuse a grid of more than ``limit`` combinations, from the axis sizes alone (nothing
    is expanded): a few lines of YAML can otherwise ask for millions of runs."""
    n = spec.n_combinations
    if n > limit:
        sizes = " x ".join(str(len(d)) for d in spec.grid) or "1"
        if spec.periods:
            sizes += f" x {len(spec.periods)} periods"
        raise ConfigError(
            "sweep.grid",
            f"{n:,} combinations ({sizes}) exceed the limit of {limit:,}; narrow the grid or "
            "raise the limit with --max-combinations",
        )


def expand(spec: SweepSpec) -> list[Combination]:
    """All combinations in their fixed order, with ids ``c0000``, ``c0001``, ..."""
    width = max(4, len(str(spec.n_combinations - 1)))
    periods: Sequence[Period | None] = spec.periods or (None,)
    # odometer over the axes and periods, first axis slowest: no itertools.product so the
    # index arithmetic is explicit and the order obviously stable
    sizes = [len(d) for d in spec.grid] + [len(periods)]
    out: list[Combination] = []
    for index in range(spec.n_combinations):
        rest, picks = index, []
        for size in reversed(sizes):
            picks.append(rest % size)
            rest //= size
        picks.reverse()
        params: list[tuple[str, Any]] = []
        overrides: list[tuple[str, Any]] = []
        for dim, pick in zip(spec.grid, picks[:-1], strict=True):
            params.append((dim.name, dim.labels[pick]))
            overrides.extend(dim.overrides[pick])
        period = periods[picks[-1]]
        overrides.extend(period_overrides(period))
        out.append(
            Combination(
                index=index,
                combo_id=f"c{index:0{width}d}",
                params=tuple(params),
                overrides=tuple(overrides),
                period=period,
                digest=_digest(params, period),
            )
        )
    return out


def _load(base_raw: Mapping[str, Any], overrides: Sequence[tuple[str, Any]]) -> Config:
    return parse_config(apply_overrides(base_raw, dict(overrides)) if overrides else base_raw)


class _PolicyChecker:
    """Checks a policy name and its params once per distinct pair (strategy files are imported
    once); the config loader itself does not look at strategies."""

    def __init__(self, config_path: Path | None) -> None:
        from perphedge.policy import find_strategies_dirs

        self._dirs = find_strategies_dirs(config_path)
        self._fns: dict[str, Any] = {}
        self._seen: set[Any] = set()

    def check(self, config: Config) -> None:
        from perphedge.policy import load_policy, validate_params

        key: Any = config.policy  # frozen, hashable unless a parameter value is not
        try:
            if key in self._seen:
                return
        except TypeError:
            key = json.dumps(config.to_dict()["policy"], sort_keys=True, default=str)
            if key in self._seen:
                return
        name = config.policy.name
        if name not in self._fns:
            self._fns[name] = load_policy(name, self._dirs)
        validate_params(self._fns[name], dict(config.policy.params))
        self._seen.add(key)


def validate_axes(
    spec: SweepSpec,
    base_raw: Mapping[str, Any],
    *,
    config_path: str | Path | None = None,
) -> _PolicyChecker:
    """Load the base config and each value of each axis (and each period) on its own.

    Raises :class:`ConfigError` naming ``sweep.grid.<axis>`` (and the value) when one value
    does not load on the base config, or ``sweep.periods[i]`` for a bad period. Returns the
    policy checker, which remembers the policies it has seen.
    """
    checker = _PolicyChecker(Path(config_path) if config_path else None)
    checker.check(parse_config(base_raw))
    for dim in spec.grid:
        for label, overrides in zip(dim.labels, dim.overrides, strict=True):
            where = f"sweep.grid.{dim.name}" + (f".{label}" if dim.linked else "")
            try:
                checker.check(_load(base_raw, overrides))
            except PerphedgeError as exc:
                shown = "" if dim.linked else f"value {label!r}: "
                raise ConfigError(where, f"{shown}{exc}") from None
    for i, period in enumerate(spec.periods):
        try:
            _load(base_raw, period_overrides(period))
        except PerphedgeError as exc:
            raise ConfigError(f"sweep.periods[{i}]", f"{period.label}: {exc}") from None
    return checker


def plan_combinations(
    spec: SweepSpec, base_raw: Mapping[str, Any], checker: _PolicyChecker
) -> list[Planned]:
    """Load every combination's config; those that fail only jointly keep their error."""
    out: list[Planned] = []
    for combo in expand(spec):
        try:
            config = _load(base_raw, combo.overrides)
            checker.check(config)
        except PerphedgeError as exc:
            out.append(Planned(combo, None, type(exc).__name__, str(exc)))
            continue
        out.append(Planned(combo, config))
    return out


def plan(
    spec: SweepSpec,
    base_raw: Mapping[str, Any],
    *,
    config_path: str | Path | None = None,
) -> list[Planned]:
    """:func:`validate_axes`, then :func:`plan_combinations`: nothing has run if this raises."""
    checker = validate_axes(spec, base_raw, config_path=config_path)
    return plan_combinations(spec, base_raw, checker)
