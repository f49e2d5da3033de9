"""The data layer: Parquet store, validation, loader and importers."""

from perphedge.data.importers import (
    CsvSpec,
    Label,
    import_csv,
    import_freqtrade,
    parse_timezone,
    read_csv_frame,
    read_freqtrade_frame,
)
from perphedge.data.loader import LoadedSeries, load
from perphedge.data.store import (
    CANDLE_COLUMNS,
    FUNDING_COLUMNS,
    META_FIELDS,
    SeriesKey,
    Store,
)
from perphedge.data.validate import (
    Gap,
    ValidationReport,
    check_frame,
    validate_candles,
    validate_frame,
    validate_funding,
)

__all__ = [
    "CANDLE_COLUMNS",
    "FUNDING_COLUMNS",
    "META_FIELDS",
    "CsvSpec",
    "Gap",
    "Label",
    "LoadedSeries",
    "SeriesKey",
    "Store",
    "ValidationReport",
    "check_frame",
    "import_csv",
    "import_freqtrade",
    "load",
    "parse_timezone",
    "read_csv_frame",
    "read_freqtrade_frame",
    "validate_candles",
    "validate_frame",
    "validate_funding",
]
