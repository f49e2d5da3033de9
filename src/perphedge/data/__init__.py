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
from perphedge.data.loader import LoadedSeries, load, read_checked
from perphedge.data.merge import Prefer, WriteMode, commit_import, plan_import
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
    validate_meta,
)

__all__ = [
    "CANDLE_COLUMNS",
    "FUNDING_COLUMNS",
    "META_FIELDS",
    "CsvSpec",
    "Gap",
    "Label",
    "LoadedSeries",
    "Prefer",
    "SeriesKey",
    "Store",
    "ValidationReport",
    "WriteMode",
    "check_frame",
    "commit_import",
    "import_csv",
    "import_freqtrade",
    "load",
    "parse_timezone",
    "plan_import",
    "read_checked",
    "read_csv_frame",
    "read_freqtrade_frame",
    "validate_candles",
    "validate_frame",
    "validate_funding",
    "validate_meta",
]
