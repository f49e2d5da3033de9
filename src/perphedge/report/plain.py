"""Plain, JSON/YAML-safe data from whatever a Result's metrics and meta hold."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from enum import Enum
from pathlib import Path

import numpy as np
import pandas as pd

from perphedge.domain import Timeframe


def to_plain(obj: object) -> object:
    """JSON/YAML-safe plain data: dicts with str keys, lists, str, int, float, bool, None.

    NaN and infinities become None; numpy scalars become Python numbers; enums their value;
    timestamps ISO 8601 text; paths and other objects their text.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, Enum):
        return to_plain(obj.value)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, pd.Timestamp):
        return None if pd.isna(obj) else obj.isoformat()
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, np.datetime64):
        return to_plain(pd.Timestamp(obj))
    if isinstance(obj, (pd.Timedelta, dt.timedelta, Timeframe, Path)):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(to_plain(k)): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return sorted((to_plain(v) for v in obj), key=str)
    if isinstance(obj, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        return [to_plain(v) for v in list(obj)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return str(obj)
