"""The downloader with the real async ccxt client (``ccxt.async_support``) against the loopback
fake Binance: concurrent series through one client, retries and fail-fast in the async path."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fake_binance import DAY, HOUR, MINUTE, T0, FakeBinance, Fault, async_client

from perphedge.data.download import (
    DownloadOptions,
    SeriesRequest,
    download_all_async,
    download_series,
)
from perphedge.data.store import SeriesKey, Store
from perphedge.domain import Series
from perphedge.errors import DownloadError

PERP = "ETH/USD:ETH"


def _run(fake: FakeBinance, store: Store, requests, options, **client_kw):
    async def main():
        ex = async_client(fake, **client_kw)
        try:
            return await download_all_async(ex, store, requests, options)
        finally:
            await ex.close()

    return asyncio.run(main())


def test_concurrent_series_through_one_async_client(tmp_path):
    now = T0 + 60 * DAY + 30 * MINUTE  # 1440 closed hourly bars, 180 + 1 funding events
    with FakeBinance(now) as fake:
        store = Store(tmp_path)
        requests = [
            SeriesRequest.make(PERP, "ohlcv", "1h", T0),
            SeriesRequest.make(PERP, "mark", "1h", T0),
            SeriesRequest.make(PERP, "index", "1h", T0),
            SeriesRequest.make(PERP, "funding", None, T0),
            SeriesRequest.make("ETH/USDT", "ohlcv", "1h", T0),
        ]
        results = _run(fake, store, requests, DownloadOptions(progress=False))
        assert [r.rows_added for r in results] == [1440, 1440, 1440, 181, 1440]
        # COIN-M candles: 500 per request -> 3 each; spot 1000 -> 2; funding 1000 h -> 2
        counts = {
            path: len(fake.requests_to(path))
            for path in (
                "/dapi/v1/klines",
                "/dapi/v1/markPriceKlines",
                "/dapi/v1/indexPriceKlines",
                "/dapi/v1/fundingRate",
                "/api/v3/klines",
            )
        }
        assert counts == {
            "/dapi/v1/klines": 3,
            "/dapi/v1/markPriceKlines": 3,
            "/dapi/v1/indexPriceKlines": 3,
            "/dapi/v1/fundingRate": 2,
            "/api/v3/klines": 2,
        }
        # the series really interleaved: the first five data requests are not all one path
        data = [r.path for r in fake.log if not r.path.endswith("exchangeInfo")]
        assert len(set(data[:5])) > 1
        for series in (Series.OHLCV, Series.MARK, Series.INDEX):
            frame, _ = store.read(SeriesKey("binance", PERP, series, "1h"))
            assert len(frame) == 1440 and set(np.diff(frame.index.asi8)) == {HOUR * 1_000_000}
        mark, _ = store.read(SeriesKey("binance", PERP, Series.MARK, "1h"))
        index, _ = store.read(SeriesKey("binance", PERP, Series.INDEX, "1h"))
        assert (mark["close"] - index["close"]).unique().tolist() == [2.0]  # +1 vs -1


def test_async_retries_timeouts_and_throttling(tmp_path):
    now = T0 + 30 * DAY + 30 * MINUTE
    with FakeBinance(now, timeout_stall_s=1.0) as fake:
        for kind in ("429", "timeout", "429:6", "503"):
            fake.add_fault(Fault("/dapi/v1/fundingRate", kind))
        slept: list[float] = []

        async def fake_sleep(seconds: float) -> None:  # an awaitable sleep, recorded
            slept.append(seconds)

        opts = DownloadOptions(progress=False, sleep=fake_sleep)
        (res,) = _run(
            fake,
            Store(tmp_path),
            [SeriesRequest.make(PERP, "funding", None, T0)],
            opts,
            timeout_ms=200,
        )
        assert slept == [1.0, 2.0, 6.0, 8.0]  # Retry-After 6 beats the backoff's 4
        assert res.rows_added == 91 and res.requests == 5


def test_async_failure_of_one_series_keeps_the_others(tmp_path):
    now = T0 + 10 * DAY + 30 * MINUTE
    with FakeBinance(now) as fake:
        fake.add_fault(Fault("/dapi/v1/markPriceKlines", "-1121"))
        store = Store(tmp_path)
        requests = [
            SeriesRequest.make(PERP, "mark", "1h", T0),
            SeriesRequest.make(PERP, "ohlcv", "1h", T0),
        ]
        with pytest.raises(
            DownloadError, match=r"^binance ETH/USD:ETH mark 1h: BadSymbol: .*Invalid symbol"
        ):
            _run(fake, store, requests, DownloadOptions(progress=False, sleep=lambda s: None))
        assert len(fake.requests_to("/dapi/v1/markPriceKlines", answered=None)) == 1
        assert len(store.read(SeriesKey("binance", PERP, Series.OHLCV, "1h"))[0]) == 240
        assert not store.exists(SeriesKey("binance", PERP, Series.MARK, "1h"))


def test_sync_entry_point_refuses_an_async_client(tmp_path):
    with FakeBinance(T0 + DAY) as fake:

        async def main():
            ex = async_client(fake)
            try:
                with pytest.raises(TypeError, match="needs a sync ccxt client"):
                    download_series(ex, Store(tmp_path), SeriesRequest.make(PERP, "mark", "1h", T0))
            finally:
                await ex.close()

        asyncio.run(main())
