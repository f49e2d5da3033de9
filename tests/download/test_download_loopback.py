"""The downloader with the real sync ccxt client against the loopback fake Binance.

Numbers are worked out from the fixture (see fake_binance.py): the spot open of the bar that
starts h hours after 2023-01-01 is 1000 + 0.5 h; klines on spot come 1000 per request
(ccxt's binance feature limit), COIN-M 500 (and at most 200 days per request).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fake_binance import DAY, HOUR, MINUTE, T0, FakeBinance, Fault, sync_client

from perphedge.data.download import (
    DownloadOptions,
    RetryPolicy,
    SeriesRequest,
    download_all,
    download_series,
)
from perphedge.data.store import SeriesKey, Store
from perphedge.domain import Series
from perphedge.errors import DownloadError

QUIET = DownloadOptions(progress=False, sleep=lambda s: None)
SPOT_1H = SeriesKey("binance", "ETH/USDT", Series.OHLCV, "1h")


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _windows(fake: FakeBinance, path: str) -> list[tuple[int, int, int]]:
    return [
        (int(r.query["startTime"]), int(r.query["endTime"]), int(r.query["limit"]))
        for r in fake.requests_to(path)
    ]


def _assert_hourly_gap_free(frame: pd.DataFrame, first: int, rows: int) -> None:
    assert str(frame.index.dtype) == "datetime64[ns, UTC]"
    assert len(frame) == rows
    assert _ms(frame.index[0]) == first
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert set(np.diff(frame.index.asi8)) == {HOUR * 1_000_000}


def test_multi_page_spot_download_is_complete_gap_free_and_drops_open_bar(tmp_path):
    now = T0 + 100 * DAY + 30 * MINUTE  # the bar opened at T0 + 2400 h is still open
    with FakeBinance(now) as fake:
        ex = sync_client(fake)
        store = Store(tmp_path)
        res = download_series(ex, store, SeriesRequest.make("ETH/USDT", "ohlcv", "1h", T0), QUIET)

        # 2400 closed hourly bars in three windows of at most 1000: since, since+n*tf-1, n
        assert _windows(fake, "/api/v3/klines") == [
            (T0, T0 + 1000 * HOUR - 1, 1000),
            (T0 + 1000 * HOUR, T0 + 2000 * HOUR - 1, 1000),
            (T0 + 2000 * HOUR, T0 + 2399 * HOUR, 1000),
        ]
        assert res.rows_added == 2400 and res.requests == 3
        frame, meta = store.read(SPOT_1H)
        _assert_hourly_gap_free(frame, T0, 2400)
        assert _ms(frame.index[-1]) == T0 + 2399 * HOUR  # open bar T0+2400h dropped
        # bar of 2023-01-02 00:00 (h = 24): open 1012, close 1012.5, high 1012.75, low 1011.75
        row = frame.loc[pd.Timestamp("2023-01-02", tz="UTC")]
        assert row.tolist() == [1012.0, 1012.75, 1011.75, 1012.5, 10.0 + (24 % 7)]
        assert meta["exchange"] == "binance" and meta["market_type"] == "spot"
        assert meta["kind"] is None and meta["source"] == "ccxt binance"
        assert meta["covered_from"] == "2023-01-01T00:00:00Z"
        assert "ccxt 4." in meta["library"]


def test_coinm_candles_respect_200_day_rule_and_newest_first_paging(tmp_path):
    now = T0 + 400 * DAY + HOUR  # 1200 closed 8 h bars, 400 closed daily bars
    with FakeBinance(now) as fake:
        ex = sync_client(fake)
        store = Store(tmp_path)
        reqs = [
            SeriesRequest.make("ETH/USD:ETH", "ohlcv", "8h", T0),
            SeriesRequest.make("ETH/USD:ETH", "index", "1d", T0),
            SeriesRequest.make("ETH/USD:ETH", "mark", "8h", T0),
        ]
        download_all(ex, store, reqs, QUIET)
        # 8 h: 500 bars (166.7 days) per window -> 500 + 500 + 200
        assert [w[1] - w[0] + 1 for w in _windows(fake, "/dapi/v1/klines")] == [
            500 * 8 * HOUR,
            500 * 8 * HOUR,
            200 * 8 * HOUR - 8 * HOUR + 1,
        ]
        # 1 d: the 200-day rule caps the window at 200 bars -> 2 requests, by pair
        idx = fake.requests_to("/dapi/v1/indexPriceKlines")
        assert [r.query["pair"] for r in idx] == ["ETHUSD", "ETHUSD"]
        assert [int(r.query["limit"]) for r in idx] == [200, 200]
        assert len(fake.requests_to("/dapi/v1/markPriceKlines")) == 3
        assert fake.requests_to("", answered="error") == []  # no -1127 (span) errors

        perp, meta = store.read(SeriesKey("binance", "ETH/USD:ETH", Series.OHLCV, "8h"))
        assert len(perp) == 1200 and perp.index.is_unique
        assert set(np.diff(perp.index.asi8)) == {8 * HOUR * 1_000_000}
        assert meta["kind"] == "inverse" and meta["contract_size"] == 10.0
        index, _ = store.read(SeriesKey("binance", "ETH/USD:ETH", Series.INDEX, "1d"))
        assert len(index) == 400
        # index of day 10 (h = 240): open 1000 + 120 - 1 = 1119, close 1000 + 132 - 1 = 1131
        day10 = index.loc[pd.Timestamp("2023-01-11", tz="UTC")]
        assert (day10["open"], day10["close"], day10["volume"]) == (1119.0, 1131.0, 0.0)
        mark, mark_meta = store.read(SeriesKey("binance", "ETH/USD:ETH", Series.MARK, "8h"))
        assert mark["close"].iloc[0] == 1000 + 4 + 1  # close of the first 8 h bar, +1 mark
        assert mark_meta["ccxt_price"] == "mark"


def test_second_run_fetches_only_the_tail(tmp_path):
    now = T0 + 100 * DAY + 30 * MINUTE
    with FakeBinance(now) as fake:
        ex = sync_client(fake)
        store = Store(tmp_path)
        req = SeriesRequest.make("ETH/USDT", "ohlcv", "1h", "2023-01-01")
        download_series(ex, store, req, QUIET)
        fake.clear_log()

        fake.now_ms += 5 * HOUR  # five more bars close
        res = download_series(ex, store, req, QUIET)
        assert _windows(fake, "/api/v3/klines") == [(T0 + 2400 * HOUR, T0 + 2404 * HOUR, 1000)]
        assert len(fake.log) == 1  # markets already loaded: nothing else was asked
        assert (res.rows_added, res.requests) == (5, 1)
        frame, _ = store.read(SPOT_1H)
        _assert_hourly_gap_free(frame, T0, 2405)

        fake.clear_log()
        res = download_series(ex, store, req, QUIET)  # nothing new has closed
        assert fake.log == [] and res.rows_added == 0


def test_earlier_start_prepends_a_head_then_remembers_the_searched_span(tmp_path):
    now = T0 + 60 * DAY + 30 * MINUTE
    with FakeBinance(now) as fake:
        ex = sync_client(fake)
        store = Store(tmp_path)
        download_series(
            ex, store, SeriesRequest.make("ETH/USDT", "ohlcv", "1h", T0 + 50 * DAY), QUIET
        )
        assert len(store.read(SPOT_1H)[0]) == 240
        fake.clear_log()

        res = download_series(
            ex, store, SeriesRequest.make("ETH/USDT", "ohlcv", "1h", T0 + 10 * DAY), QUIET
        )
        # one head window of 960 bars ending right before the cached first bar
        assert _windows(fake, "/api/v3/klines") == [(T0 + 10 * DAY, T0 + 50 * DAY - HOUR, 1000)]
        assert res.rows_added == 960
        frame, meta = store.read(SPOT_1H)
        _assert_hourly_gap_free(frame, T0 + 10 * DAY, 1200)
        assert meta["covered_from"] == "2023-01-11T00:00:00Z"

        # before the listing (spot has no listing date): one empty head window, then recorded
        fake.clear_log()
        res = download_series(
            ex, store, SeriesRequest.make("ETH/USDT", "ohlcv", "1h", "2022-12-01"), QUIET
        )
        # one window from 2022-12-01 (T0 - 744 h) to the bar before the cache: it holds
        # T0 .. T0+239h, reaches the requested start, so the head is done
        assert _windows(fake, "/api/v3/klines") == [(T0 - 744 * HOUR, T0 + 239 * HOUR, 1000)]
        assert res.rows_added == 240  # T0 .. T0+239h (the listing is at T0)
        _, meta = store.read(SPOT_1H)
        assert meta["covered_from"] == "2022-12-01T00:00:00Z"
        fake.clear_log()
        download_series(
            ex, store, SeriesRequest.make("ETH/USDT", "ohlcv", "1h", "2022-12-01"), QUIET
        )
        assert fake.log == []


def test_listing_date_skips_empty_history(tmp_path):
    listing = T0 + 30 * DAY + 5 * HOUR
    now = T0 + 40 * DAY + 30 * MINUTE
    with FakeBinance(
        now, spot_listing={"SOLUSDT": listing}, perp_listing={"SOLUSD_PERP": listing}
    ) as fake:
        ex = sync_client(fake)
        store = Store(tmp_path)
        opts = DownloadOptions(progress=False, sleep=lambda s: None, window_bars=100)
        # spot has no listing date: one empty window, one probe without endTime, then windows
        download_series(ex, store, SeriesRequest.make("SOL/USDT", "ohlcv", "1h", T0), opts)
        reqs = fake.requests_to("/api/v3/klines")
        assert [(int(r.query["startTime"]), r.query.get("endTime")) for r in reqs[:3]] == [
            (T0, str(T0 + 100 * HOUR - 1)),
            (T0, None),
            (listing, str(listing + 100 * HOUR - 1)),
        ]
        assert len(reqs) == 2 + 3  # 235 bars from the listing in windows of 100
        frame, _ = store.read(SeriesKey("binance", "SOL/USDT", Series.OHLCV, "1h"))
        _assert_hourly_gap_free(frame, listing, 235)
        # COIN-M knows the listing (onboardDate): the first request starts there
        download_series(ex, store, SeriesRequest.make("SOL/USD:SOL", "funding", None, T0), opts)
        funding = fake.requests_to("/dapi/v1/fundingRate")
        assert int(funding[0].query["startTime"]) == listing


def test_funding_interval_hours_come_from_the_data(tmp_path):
    now = T0 + 100 * DAY + 30 * MINUTE
    with FakeBinance(now, funding_switch_ms=T0 + 50 * DAY) as fake:
        ex = sync_client(fake)
        store = Store(tmp_path)
        res = download_series(
            ex, store, SeriesRequest.make("ETH/USD:ETH", "funding", None, "2023-01-01"), QUIET
        )
        # 151 events 8 h apart (T0 .. T0+1200h), then 300 more 4 h apart up to T0+2400h
        assert res.rows_added == 451
        # windows of 1000 h with limit 1000: a window can never hold more than the limit
        assert [(w[1] - w[0] + 1, w[2]) for w in _windows(fake, "/dapi/v1/fundingRate")] == [
            (1000 * HOUR, 1000),
            (1000 * HOUR, 1000),
            (400 * HOUR + 30 * MINUTE + 1, 1000),
        ]
        frame, meta = store.read(SeriesKey("binance", "ETH/USD:ETH", Series.FUNDING))
        assert list(frame.columns) == ["funding_rate", "interval_hours"]
        assert frame["interval_hours"].iloc[:151].tolist() == [8.0] * 151
        assert frame["interval_hours"].iloc[151:].tolist() == [4.0] * 300
        assert frame["funding_rate"].iloc[:4].tolist() == [0.0001, 0.0002, 0.0003, 0.0001]
        assert meta["timeframe"] is None and meta["kind"] == "inverse"


def test_throttling_and_transient_errors_are_retried_with_capped_backoff(tmp_path):
    now = T0 + 50 * DAY + 30 * MINUTE
    with FakeBinance(now, timeout_stall_s=1.0) as fake:
        ex = sync_client(fake, timeout_ms=200)
        store = Store(tmp_path)
        second_page = lambda q: q.get("startTime") == str(T0 + 1000 * HOUR)  # noqa: E731
        for kind in ("429", "429:2", "503", "timeout"):
            fake.add_fault(Fault("/api/v3/klines", kind, when=second_page))
        slept: list[float] = []
        opts = DownloadOptions(
            progress=False,
            sleep=slept.append,
            retry=RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=3.0),
        )
        res = download_series(ex, store, SeriesRequest.make("ETH/USDT", "ohlcv", "1h", T0), opts)
        # doubled, capped at 3; a Retry-After (1 s, 2 s) wins where it is longer
        assert slept == [1.0, 2.0, 2.0, 3.0]
        answered = [r.answered for r in fake.requests_to("/api/v3/klines", answered=None)]
        assert answered == ["ok", "429", "429:2", "503", "timeout", "ok"]
        assert res.requests == 6
        frame, _ = store.read(SPOT_1H)
        _assert_hourly_gap_free(frame, T0, 1200)


def test_retries_give_up_with_a_clear_error(tmp_path):
    with FakeBinance(T0 + 10 * DAY) as fake:
        ex = sync_client(fake)
        fake.add_fault(Fault("/api/v3/klines", "503", times=3))
        opts = DownloadOptions(progress=False, sleep=lambda s: None, retry=RetryPolicy(3))
        with pytest.raises(
            DownloadError,
            match=r"^binance ETH/USDT ohlcv 1h: fetch_ohlcv \(tail\) 2023-01-01T00:00:00Z\.\."
            r"2023-01-10T23:00:00Z: gave up after 3 attempts: ExchangeNotAvailable",
        ):
            download_series(
                ex, Store(tmp_path), SeriesRequest.make("ETH/USDT", "ohlcv", "1h", T0), opts
            )
        assert len(fake.requests_to("/api/v3/klines", answered="503")) == 3


def test_invalid_symbol_fails_fast(tmp_path):
    with FakeBinance(T0 + 10 * DAY) as fake:
        ex = sync_client(fake)
        slept: list[float] = []
        opts = DownloadOptions(progress=False, sleep=slept.append)
        store = Store(tmp_path)
        # LUNAUSDT is in exchangeInfo, but the klines endpoint answers -1121
        with pytest.raises(
            DownloadError,
            match=r'^binance LUNA/USDT ohlcv 1h: BadSymbol: binance \{"code": -1121, '
            r'"msg": "Invalid symbol."\}$',
        ):
            download_series(ex, store, SeriesRequest.make("LUNA/USDT", "ohlcv", "1h", T0), opts)
        assert len(fake.requests_to("/api/v3/klines", answered=None)) == 1 and slept == []
        assert store.keys() == []
        # a symbol the exchange does not list at all fails before any request
        with pytest.raises(DownloadError, match=r"^binance DOGE/USDT ohlcv 1h: BadSymbol: "):
            download_series(ex, store, SeriesRequest.make("DOGE/USDT", "ohlcv", "1h", T0), opts)


@pytest.mark.parametrize("flush_every", [1, 10])
def test_download_killed_midway_leaves_a_readable_file_and_resumes(tmp_path, flush_every):
    now = T0 + 20 * DAY + 30 * MINUTE  # 480 closed bars, pages of 100
    with FakeBinance(now) as fake:
        ex = sync_client(fake)
        store = Store(tmp_path)
        page3 = lambda q: q.get("startTime") == str(T0 + 200 * HOUR)  # noqa: E731
        fake.add_fault(Fault("/api/v3/klines", "-1100", when=page3))
        opts = DownloadOptions(
            progress=False, sleep=lambda s: None, window_bars=100, flush_every=flush_every
        )
        req = SeriesRequest.make("ETH/USDT", "ohlcv", "1h", T0)
        with pytest.raises(DownloadError, match=r"^binance ETH/USDT ohlcv 1h: BadRequest: .*-1100"):
            download_series(ex, store, req, opts)
        frame, _ = store.read(SPOT_1H)
        _assert_hourly_gap_free(frame, T0, 200)  # pages 1 and 2
        fake.clear_log()

        res = download_series(ex, store, req, opts)
        assert [w[0] for w in _windows(fake, "/api/v3/klines")] == [
            T0 + 200 * HOUR,
            T0 + 300 * HOUR,
            T0 + 400 * HOUR,
        ]
        assert res.rows_added == 280
        frame, _ = store.read(SPOT_1H)
        _assert_hourly_gap_free(frame, T0, 480)
        assert frame["open"].iloc[479] == 1000 + 0.5 * 479


def test_binancecoinm_client_stores_under_binance(tmp_path):
    with FakeBinance(T0 + 5 * DAY + 30 * MINUTE) as fake:
        ex = sync_client(fake, "binancecoinm")
        res = download_series(
            ex, Store(tmp_path), SeriesRequest.make("ETH/USD:ETH", "mark", "1h", T0), QUIET
        )
        assert res.key == SeriesKey("binance", "ETH/USD:ETH", Series.MARK, "1h")
        assert res.rows_added == 120
        assert res.path.endswith("binance/swap/ETH_USD_ETH-1h-mark.parquet")


def test_loading_markets_is_retried_and_int_starts_are_milliseconds(tmp_path):
    with FakeBinance(T0 + 2 * DAY + 30 * MINUTE) as fake:
        ex = sync_client(fake)
        fake.add_fault(Fault("/api/v3/exchangeInfo", "503"))
        slept: list[float] = []
        opts = DownloadOptions(progress=False, sleep=slept.append)
        req = SeriesRequest.make("ETH/USDT", "ohlcv", "1h", np.int64(T0 + DAY))
        assert req.start == pd.Timestamp("2023-01-02", tz="UTC")
        res = download_series(ex, Store(tmp_path), req, opts)
        assert slept == [1.0]
        assert [r.answered for r in fake.requests_to("/api/v3/exchangeInfo", None)] == [
            "503",
            "ok",
        ]
        assert res.rows_added == 24


def test_fake_follows_binance_paging_rules():
    """The fake itself: spot pages from startTime, COIN-M returns the newest rows of the range,
    COIN-M rejects ranges over 200 days (-1127), funding pages from startTime."""
    import json
    import urllib.error
    import urllib.request

    with FakeBinance(T0 + 300 * DAY) as fake:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only

        def get(path: str) -> object:
            with opener.open(fake.base_url + path, timeout=5) as resp:
                return json.loads(resp.read())

        rng = f"interval=1h&startTime={T0}&endTime={T0 + 9 * HOUR}&limit=3"
        assert [r[0] for r in get(f"/api/v3/klines?symbol=ETHUSDT&{rng}")] == [
            T0,
            T0 + HOUR,
            T0 + 2 * HOUR,
        ]
        assert [r[0] for r in get(f"/dapi/v1/klines?symbol=ETHUSD_PERP&{rng}")] == [
            T0 + 7 * HOUR,
            T0 + 8 * HOUR,
            T0 + 9 * HOUR,
        ]
        events = get(f"/dapi/v1/fundingRate?symbol=ETHUSD_PERP&startTime={T0}&limit=2")
        assert [e["fundingTime"] for e in events] == [T0, T0 + 8 * HOUR]
        too_wide = f"interval=1d&startTime={T0}&endTime={T0 + 201 * DAY}"
        with pytest.raises(urllib.error.HTTPError) as info:
            get(f"/dapi/v1/indexPriceKlines?pair=ETHUSD&{too_wide}")
        assert info.value.code == 400
        assert json.loads(info.value.read())["code"] == -1127
