"""Faults of the exchange, injected in the loopback fake Binance and met by the real ccxt
clients: garbled pages, empty pages, repeated rows, Retry-After, a refused connection, holes in
the cache. Every test checks the stored rows (complete, unique, sorted) and the requests sent.

Spot 1h klines of the fixture: the bar opening h hours after 2023-01-01 exists for every h from
the listing at T0; with ``window_bars=24`` each window asks for one day.
"""

from __future__ import annotations

import asyncio
import socket
import time

import ccxt
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fake_binance import DAY, HOUR, MINUTE, T0, FakeBinance, Fault, async_client, sync_client

from perphedge.cli import download_cmd
from perphedge.cli.main import cli
from perphedge.data.download import (
    DownloadOptions,
    RetryPolicy,
    SeriesRequest,
    download_all_async,
    download_series,
)
from perphedge.data.store import SeriesKey, Store
from perphedge.domain import Series
from perphedge.errors import DownloadError

SPOT_1H = SeriesKey("binance", "ETH/USDT", Series.OHLCV, "1h")
NOW = T0 + 3 * DAY + 30 * MINUTE  # 72 closed hourly bars: T0 .. T0 + 71 h


def _opts(slept: list[float] | None = None, **kw) -> DownloadOptions:
    messages: list[str] = kw.pop("messages", [])
    return DownloadOptions(
        progress=False,
        window_bars=24,
        sleep=(slept.append if slept is not None else lambda s: None),
        on_retry=messages.append,
        **kw,
    )


def _request(start: int = T0) -> SeriesRequest:
    return SeriesRequest.make("ETH/USDT", "ohlcv", "1h", start)


def _starts(fake: FakeBinance, answered: str | None = None) -> list[int]:
    """Window starts of the klines requests, in hours after T0."""
    return [
        (int(r.query["startTime"]) - T0) // HOUR
        for r in fake.requests_to("/api/v3/klines", answered=answered)
    ]


def _assert_complete(store: Store, hours: int, first: int = T0) -> pd.DataFrame:
    frame, meta = store.read(SPOT_1H)
    assert len(frame) == hours
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert frame.index[0] == pd.Timestamp(first, unit="ms", tz="UTC")
    assert set(np.diff(frame.index.asi8)) == {HOUR * 1_000_000}
    assert meta["first_row"] == pd.Timestamp(first, unit="ms").strftime("%Y-%m-%dT%H:%M:%SZ")
    last = first + (hours - 1) * HOUR
    assert meta["last_row"] == pd.Timestamp(last, unit="ms").strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


def _hour(h: int):
    return lambda q: q.get("startTime") == str(T0 + h * HOUR)


def _day(n: int):
    return _hour(24 * n)


@pytest.mark.parametrize("kind", ["truncated", "html200", "empty"])
def test_a_garbled_or_empty_middle_page_is_asked_again(tmp_path, kind):
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", kind, when=_day(1)))
        slept: list[float] = []
        messages: list[str] = []
        store = Store(tmp_path)
        res = download_series(sync_client(fake), store, _request(), _opts(slept, messages=messages))
        assert _starts(fake, answered=None) == [0, 24, 24, 48]
        assert [r.answered for r in fake.requests_to("/api/v3/klines", answered=None)] == [
            "ok", kind, "ok", "ok",
        ]  # fmt: skip
        assert slept == [1.0] and res.requests == 4 and res.rows_added == 72
        why = {
            "truncated": "unparseable JSON with status 200",
            "html200": "HTML page with status 200",
            "empty": "empty page inside the history",
        }[kind]
        assert messages == [
            "retry: binance ETH/USDT ohlcv 1h: fetch_ohlcv (tail) "
            "2023-01-02T00:00:00Z..2023-01-02T23:59:59Z: attempt 1 of 6 failed: "
            f"{why}; next attempt in 1 s"
        ]
        _assert_complete(store, 72)


def test_a_garbled_first_page_of_a_fresh_download_is_asked_again(tmp_path):
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "truncated", when=_day(0)))
        store = Store(tmp_path)
        download_series(sync_client(fake), store, _request(), _opts())
        assert _starts(fake, answered=None) == [0, 0, 24, 48]
        _assert_complete(store, 72)
        assert store.read(SPOT_1H)[1]["covered_from"] == "2023-01-01T00:00:00Z"


def test_an_empty_first_page_of_a_fresh_download_is_not_taken_for_the_listing(tmp_path):
    # empty first window, then a probe (no endTime) shows rows inside it: ask the window again
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "empty", when=_day(0)))
        store = Store(tmp_path)
        download_series(sync_client(fake), store, _request(), _opts())
        assert _starts(fake, answered=None) == [0, 0, 0, 24, 48]
        assert [("endTime" in r.query) for r in fake.requests_to("/api/v3/klines", None)] == [
            True, False, True, True, True,
        ]  # fmt: skip
        _assert_complete(store, 72)


def test_a_first_page_that_stays_garbled_fails_and_writes_nothing(tmp_path):
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "html200", times=3))
        store = Store(tmp_path)
        with pytest.raises(
            DownloadError,
            match=r"^binance ETH/USDT ohlcv 1h: fetch_ohlcv \(tail\) 2023-01-01T00:00:00Z\.\."
            r"2023-01-01T23:59:59Z: gave up after 3 attempts: HTML page with status 200",
        ):
            download_series(sync_client(fake), store, _request(), _opts(retry=RetryPolicy(3)))
        assert not store.exists(SPOT_1H)


def test_a_window_that_stays_empty_between_data_is_an_error_recorded_once(tmp_path):
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "empty", times=3, when=_day(1)))
        store = Store(tmp_path)
        with pytest.raises(
            DownloadError,
            match=r"^binance ETH/USDT ohlcv 1h: the exchange returned no rows for "
            r"2023-01-02T00:00:00Z \.\. 2023-01-02T23:00:00Z although it has data before and "
            r"after \(asked 3 times\); recorded",
        ):
            download_series(sync_client(fake), store, _request(), _opts(retry=RetryPolicy(3)))
        assert _starts(fake, answered=None) == [0, 24, 24, 24, 48]
        frame, meta = store.read(SPOT_1H)
        assert len(frame) == 48 and frame.index.is_unique  # day 0 and day 2 are stored
        assert meta["exchange_gaps"] == [["2023-01-02T00:00:00Z", "2023-01-02T23:00:00Z"]]
        assert meta["first_row"] == "2023-01-01T00:00:00Z"
        assert meta["last_row"] == "2023-01-03T23:00:00Z"

        # the next run neither asks for the recorded span again nor fails on it
        fake.clear_log()
        res = download_series(sync_client(fake), store, _request(), _opts())
        assert _starts(fake, answered=None) == [] and res.rows_added == 0

        # --refetch-gaps asks once more; the exchange has the day now: filled, record cleared
        res = download_series(sync_client(fake), store, _request(), _opts(refetch_gaps=True))
        assert _starts(fake, answered=None) == [24] and res.rows_added == 24
        assert _assert_complete(store, 72) is not None
        assert store.read(SPOT_1H)[1]["exchange_gaps"] == []


def test_a_resume_fills_holes_inside_the_cached_span(tmp_path):
    with FakeBinance(NOW) as fake:
        store = Store(tmp_path)
        download_series(sync_client(fake), store, _request(), _opts())
        frame, meta = store.read(SPOT_1H)
        holed = frame.drop(frame.index[30:40]).drop(frame.index[60:62])
        store.write(SPOT_1H, holed, meta)
        fake.clear_log()
        res = download_series(sync_client(fake), store, _request(), _opts())
        # one window per hole: hours 30..39 and 60..61 (each asked from its first missing bar)
        assert _starts(fake, answered=None) == [30, 60]
        windows = [
            ((int(r.query["endTime"]) - T0) // HOUR) for r in fake.requests_to("/api/v3/klines")
        ]
        assert windows == [39, 61]
        assert res.rows_added == 12
        _assert_complete(store, 72)


def test_rows_repeated_inside_pages_do_not_cost_the_window_ends(tmp_path):
    # every page repeats its first three rows and is cut back to its length, so it ends three
    # bars early: the next request continues right after the last row received
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "dup", times=99))
        store = Store(tmp_path)
        res = download_series(sync_client(fake), store, _request(), _opts())
        # windows: 0..23 -> 0..20, 21..44 -> ..41, 42..65 -> ..62, 63..71 (9 bars) -> ..68,
        # 69..71 -> 69, 70, then 71..71 -> 71
        assert _starts(fake, answered=None) == [0, 21, 42, 63, 69, 71]
        assert res.requests == 6 and res.rows_added == 72
        _assert_complete(store, 72)


def test_retry_after_is_honoured_and_bounded_by_the_budget(tmp_path):
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "429:3", when=_day(1)))
        slept: list[float] = []
        messages: list[str] = []
        store = Store(tmp_path)
        download_series(sync_client(fake), store, _request(), _opts(slept, messages=messages))
        assert slept == [3.0]  # Retry-After 3 s beats the first backoff step of 1 s
        assert (
            "failed: DDoSProtection (HTTP 429), Retry-After 3 s; next attempt in 3 s"
            in (messages[0])
        )
        _assert_complete(store, 72)

        # a 418 asking for 60 s when the budget is 40 s: give up at once, saying why
        fake.now_ms += DAY
        fake.add_fault(Fault("/api/v3/klines", "418"))
        slept.clear()
        with pytest.raises(
            DownloadError,
            match=r"gave up after 1 attempt \(waiting 60 s more would pass the 40 s retry "
            r"budget\): DDoSProtection: binance 418",
        ):
            download_series(sync_client(fake), store, _request(), _opts(slept))
        assert slept == []


def test_the_schedule_and_the_budget_run_on_the_injected_clock(tmp_path):
    clock = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    slept: list[float] = []
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "503", times=99))
        opts = DownloadOptions(
            progress=False, sleep=sleep, clock=lambda: clock[0], on_retry=lambda m: None
        )
        with pytest.raises(DownloadError, match=r"gave up after 6 attempts: ExchangeNotAvailable"):
            download_series(sync_client(fake), Store(tmp_path), _request(), opts)
        assert slept == [1.0, 2.0, 4.0, 8.0, 15.0] and clock[0] == 30.0
        assert len(fake.requests_to("/api/v3/klines", answered="503")) == 6
    assert RetryPolicy().waits() == 30.0 and RetryPolicy().total() == 40.0
    assert RetryPolicy.with_retries(7).waits() == 60.0  # 1 + 2 + 4 + 8 + 15 + 15 + 15


def _closed_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now: connections are refused
    return port


def _point_at(exchange, port: int):
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str):
            exchange.urls["api"][name] = f"http://127.0.0.1:{port}/api"
    session = getattr(exchange, "session", None)
    if session is not None and hasattr(session, "trust_env"):
        session.trust_env = False
    return exchange


def test_a_refused_connection_names_host_and_cause_within_the_budget(tmp_path):
    port = _closed_port()
    messages: list[str] = []
    opts = DownloadOptions(
        progress=False, retry=RetryPolicy(max_attempts=3, base_delay=0.05), on_retry=messages.append
    )
    began = time.monotonic()
    with pytest.raises(
        DownloadError,
        match=rf"^binance: cannot reach 127\.0\.0\.1:{port} \(connection refused\) after 3 "
        r"attempts; check the network or raise --retries; the bundled sample data in data/ "
        r"works offline: backtest run configs/eth_l1_basket\.yaml$",
    ):
        download_series(
            _point_at(ccxt.binance({"timeout": 2000}), port), Store(tmp_path), _request(), opts
        )
    assert time.monotonic() - began < 5
    assert [m.split(": attempt ")[1] for m in messages] == [
        "1 of 3 failed: NetworkError (connection refused); next attempt in 0.05 s",
        "2 of 3 failed: NetworkError (connection refused); next attempt in 0.1 s",
    ]
    assert not list(tmp_path.iterdir())


def test_cli_offline_message_on_stderr_and_nothing_on_stdout(tmp_path, monkeypatch):
    import ccxt.async_support as ccxt_async

    port = _closed_port()
    monkeypatch.setattr(
        download_cmd,
        "make_exchange",
        lambda exchange_id, **kw: _point_at(ccxt_async.binance({"timeout": 2000}), port),
    )
    args = [
        "download", "--symbol", "ETH/USDT", "--timeframe", "1h", "--retries", "1",
        "--data-dir", str(tmp_path), "--no-progress",
    ]  # fmt: skip
    began = time.monotonic()
    result = CliRunner().invoke(cli, args)
    assert time.monotonic() - began < 5
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        "retry: binance: loading markets: attempt 1 of 2 failed: ExchangeNotAvailable "
        "(connection refused); next attempt in 1 s"
    )
    assert lines[-1] == (
        f"error: binance: cannot reach 127.0.0.1:{port} (connection refused) after 2 "
        "attempts; check the network or raise --retries; the bundled sample data in data/ "
        "works offline: backtest run configs/eth_l1_basket.yaml"
    )


def test_async_client_meets_the_same_faults(tmp_path):
    with FakeBinance(NOW) as fake:
        for kind, hour in (("html200", 0), ("dup", 24), ("empty", 45)):
            fake.add_fault(Fault("/api/v3/klines", kind, when=_hour(hour)))
        store = Store(tmp_path)

        async def main():
            ex = async_client(fake)
            try:
                return await download_all_async(ex, store, [_request()], _opts())
            finally:
                await ex.close()

        (res,) = asyncio.run(main())
        # day 0 asked twice (HTML), day 1 ends three bars early (dup) and continues at 45,
        # window 45..68 comes back empty and is asked again; then 69..71
        assert _starts(fake, answered=None) == [0, 0, 24, 45, 45, 69]
        assert res.rows_added == 72
        _assert_complete(store, 72)


def test_an_earlier_start_with_repeated_rows_leaves_no_hole_in_the_head(tmp_path):
    with FakeBinance(NOW) as fake:
        store = Store(tmp_path)
        download_series(sync_client(fake), store, _request(T0 + 2 * DAY), _opts())
        fake.clear_log()
        fake.add_fault(Fault("/api/v3/klines", "dup", times=99))
        res = download_series(sync_client(fake), store, _request(T0), _opts())
        # head windows newest first: 24..47 -> 24..44, its end 45..47 -> 45, 46, then 47; then
        # 0..23 -> 0..20, 21..23 -> 21, 22, then 23; the oldest row is the listing: done
        assert _starts(fake, answered=None) == [24, 45, 47, 0, 21, 23]
        assert res.rows_added == 48
        _assert_complete(store, 72)
        assert store.read(SPOT_1H)[1]["covered_from"] == "2023-01-01T00:00:00Z"


def test_cli_reports_retries_on_stderr_and_only_results_on_stdout(tmp_path, monkeypatch):
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/api/v3/klines", "503"))
        monkeypatch.setattr(
            download_cmd, "make_exchange", lambda exchange_id, **kw: async_client(fake)
        )
        args = [
            "download", "--symbol", "ETH/USDT", "--timeframe", "1h", "--since", "2023-01-01",
            "--data-dir", str(tmp_path), "--no-progress",
        ]  # fmt: skip
        result = CliRunner().invoke(cli, args)  # waits the first step of the schedule: 1 s
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            f"binance ETH/USDT ohlcv 1h: +72 rows, 2023-01-01 00:00 .. 2023-01-03 23:00 UTC, "
            f"2 requests -> {Store(tmp_path).path(SPOT_1H)}"
        ]
        assert result.stderr.splitlines() == [
            "retry: binance ETH/USDT ohlcv 1h: fetch_ohlcv (tail) "
            "2023-01-01T00:00:00Z..2023-01-03T23:00:00Z: attempt 1 of 6 failed: "
            "ExchangeNotAvailable (HTTP 503); next attempt in 1 s"
        ]


@pytest.mark.parametrize(("kind", "hour"), [("truncated", 0), ("html200", 30), ("empty", 30)])
def test_funding_pages_garbled_or_empty_are_asked_again(tmp_path, kind, hour):
    # events every 8 h from T0 up to now: 0, 8, ..., 72 h (10); windows of 30 h (limit 30)
    key = SeriesKey("binance", "ETH/USD:ETH", Series.FUNDING)
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault("/dapi/v1/fundingRate", kind, when=_hour(hour)))
        store = Store(tmp_path)
        req = SeriesRequest.make("ETH/USD:ETH", "funding", None, T0)
        res = download_series(sync_client(fake), store, req, _opts(funding_limit=30))
        starts = [
            (int(r.query["startTime"]) - T0) // HOUR
            for r in fake.requests_to("/dapi/v1/fundingRate", answered=None)
        ]
        assert starts == sorted([0, 30, 60, hour])
        assert res.rows_added == 10
        frame, meta = store.read(key)
        assert [(t.value // 1_000_000 - T0) // HOUR for t in frame.index] == list(range(0, 73, 8))
        assert meta["first_row"] == "2023-01-01T00:00:00Z"
        assert meta["last_row"] == "2023-01-04T00:00:00Z"


def test_coverage_is_not_claimed_for_a_stepped_over_first_window(tmp_path):
    # COIN-M knows its listing (T0); its first window and the probe after it both come back
    # wrongly empty: the file must not claim coverage from the requested start
    key = SeriesKey("binance", "ETH/USD:ETH", Series.MARK, "1h")
    path = "/dapi/v1/markPriceKlines"
    with FakeBinance(NOW) as fake:
        fake.add_fault(Fault(path, "empty", times=2, when=_hour(0)))
        store = Store(tmp_path)
        req = SeriesRequest.make("ETH/USD:ETH", "mark", "1h", T0)
        download_series(sync_client(fake), store, req, _opts())
        assert [r.answered for r in fake.requests_to(path, answered=None)] == [
            "empty", "empty", "ok", "ok",
        ]  # fmt: skip
        frame, meta = store.read(key)
        assert len(frame) == 48 and meta["first_row"] == "2023-01-02T00:00:00Z"
        assert "covered_from" not in meta

        # the next run searches the head below the first row and finds the missing day
        fake.clear_log()
        res = download_series(sync_client(fake), store, req, _opts())
        assert [(int(r.query["startTime"]) - T0) // HOUR for r in fake.requests_to(path)] == [0]
        assert res.rows_added == 24
        frame, meta = store.read(key)
        assert len(frame) == 72 and frame.index.is_unique and frame.index.is_monotonic_increasing
        assert meta["first_row"] == "2023-01-01T00:00:00Z"
        assert meta["covered_from"] == "2023-01-01T00:00:00Z"
