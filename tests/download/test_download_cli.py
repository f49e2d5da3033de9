"""``backtest download`` end to end against the loopback fake Binance (client factory replaced)."""

from __future__ import annotations

from click.testing import CliRunner
from fake_binance import DAY, MINUTE, T0, FakeBinance, async_client, sync_client

from perphedge.cli import download_cmd
from perphedge.cli.main import cli
from perphedge.data.store import SeriesKey, Store
from perphedge.domain import Series


def test_download_by_flags_writes_each_series_and_reports(tmp_path, monkeypatch):
    now = T0 + 20 * DAY + 30 * MINUTE
    with FakeBinance(now) as fake:
        made: list[str] = []

        def factory(exchange_id: str, **kw):
            made.append(exchange_id)
            return async_client(fake)

        monkeypatch.setattr(download_cmd, "make_exchange", factory)
        args = [
            "download", "--exchange", "binance", "--symbol", "ETH/USD:ETH",
            "--series", "mark,funding", "--timeframe", "1h", "--since", "2023-01-01",
            "--until", "2023-01-11", "--data-dir", str(tmp_path), "--no-progress",
        ]  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert made == ["binance"]
        lines = result.output.strip().splitlines()
        assert lines[0].startswith(
            "binance ETH/USD:ETH mark 1h: +240 rows, 2023-01-01 00:00 .. 2023-01-10 23:00 UTC"
        )
        assert lines[1].startswith(
            "binance ETH/USD:ETH funding: +30 rows, 2023-01-01 00:00 .. 2023-01-10 16:00 UTC"
        )
        store = Store(tmp_path)
        assert store.keys() == [
            SeriesKey("binance", "ETH/USD:ETH", Series.MARK, "1h"),
            SeriesKey("binance", "ETH/USD:ETH", Series.FUNDING),
        ]


def test_download_with_a_sync_client_and_bad_symbol_exits_2(tmp_path, monkeypatch):
    with FakeBinance(T0 + 5 * DAY) as fake:
        monkeypatch.setattr(
            download_cmd, "make_exchange", lambda exchange_id, **kw: sync_client(fake)
        )
        args = [
            "download", "--symbol", "LUNA/USDT", "--timeframe", "1h",
            "--data-dir", str(tmp_path), "--no-progress",
        ]  # fmt: skip
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2
        assert "error: binance LUNA/USDT ohlcv 1h: BadSymbol:" in result.output
        assert "Invalid symbol." in result.output


def test_candle_series_without_timeframe_is_a_usage_error(tmp_path):
    args = ["download", "--symbol", "ETH/USDT", "--series", "ohlcv", "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "candle series (ohlcv, mark, index) need --timeframe" in result.output
    result = CliRunner().invoke(cli, ["download"])
    assert result.exit_code == 2 and "give a CONFIG file or --symbol" in result.output


def test_download_from_a_config_fetches_what_required_data_lists(tmp_path, monkeypatch):
    import types

    from perphedge import config as config_mod
    from perphedge import runner

    needed = [
        (SeriesKey("binance", "ETH/USDT", Series.OHLCV, "1h"), "2023-01-01", "2023-01-03"),
        (SeriesKey("binance", "ETH/USD:ETH", Series.FUNDING), "2023-01-01", "2023-01-03"),
    ]
    monkeypatch.setattr(config_mod, "load_config", lambda path: "CONFIG")
    monkeypatch.setattr(
        runner, "required_data", lambda cfg, path: needed if cfg == "CONFIG" else []
    )
    monkeypatch.setattr(
        runner, "data_spec", lambda cfg, path: types.SimpleNamespace(root=str(tmp_path))
    )
    config_file = tmp_path / "x.yaml"
    config_file.write_text("name: x\n")
    with FakeBinance(T0 + 5 * DAY) as fake:
        monkeypatch.setattr(
            download_cmd, "make_exchange", lambda exchange_id, **kw: async_client(fake)
        )
        result = CliRunner().invoke(cli, ["download", str(config_file), "--no-progress"])
        assert result.exit_code == 0, result.output
        store = Store(tmp_path)  # the config's data root
        assert len(store.read(needed[0][0])[0]) == 48
        assert len(store.read(needed[1][0])[0]) == 6
