"""The data layer: Parquet store, validation, loader and importers (issue 2)."""

from perphedge.data.store import (
    CANDLE_COLUMNS,
    FUNDING_COLUMNS,
    META_FIELDS,
    SeriesKey,
    Store,
)

__all__ = [
    "CANDLE_COLUMNS",
    "FUNDING_COLUMNS",
    "META_FIELDS",
    "SeriesKey",
    "Store",
]
