"""``offset``: daily bars on another clock (08:00 UTC), validated and kept out of old hashes."""

from __future__ import annotations

import pytest

from perphedge.config import config_hash, load_config
from perphedge.domain import Timeframe
from perphedge.errors import ConfigError


def raw(**extra) -> dict:
    out = {
        "name": "t",
        "period": {"start": "2023-01-01T08:00:00Z", "end": "2023-03-01T08:00:00Z"},
        "timeframe": "1d",
        "offset": "8h",
        "basket": {"coins": {"BTC": 1.0}},
        "hedge": {"legs": [{"symbol": "BTC/USD:BTC"}]},
    }
    out.update(extra)
    return out


def test_offset_is_parsed_and_hashed_only_when_given():
    c = load_config(raw())
    assert c.offset == Timeframe.parse("8h")
    assert c.to_dict()["offset"] == "8h"
    plain = raw(period={"start": "2023-01-01", "end": "2023-03-01"})
    del plain["offset"]
    no_offset = load_config(plain)
    assert no_offset.offset is None and "offset" not in no_offset.to_dict()
    assert config_hash(no_offset) != config_hash(c)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"period": {"start": "2023-01-01", "end": "2023-03-01T08:00:00Z"}},
            r"^period\.start: 2023-01-01T00:00:00Z is not on the 1d bar grid; the nearest bars "
            r"open at 2022-12-31T08:00:00Z and 2023-01-01T08:00:00Z$",
        ),
        ({"offset": "1d"}, r"^offset: 1d must be shorter than the 1d bar it shifts$"),
        (
            {"timeframe": "1w", "offset": "8h"},
            r"^offset: shifts bars of at most 1d; 1w bars follow the exchange's calendar$",
        ),
    ],
)
def test_bad_offsets_name_the_key(extra, message):
    with pytest.raises(ConfigError, match=message):
        load_config(raw(**extra))


def test_download_list_of_a_shifted_daily_run_is_hourly():
    """``backtest download CONFIG`` fetches the 1h candles that build 08:00 days."""
    from perphedge.runner import required_data

    got = [
        (k.symbol, k.series.value, None if k.timeframe is None else str(k.timeframe))
        for k, _, _ in required_data(load_config(raw()))
    ]
    assert got == [
        ("BTC/USDT", "ohlcv", "1h"),
        ("BTC/USD:BTC", "mark", "1h"),
        ("BTC/USD:BTC", "ohlcv", "1h"),
        ("BTC/USD:BTC", "funding", None),
    ]
