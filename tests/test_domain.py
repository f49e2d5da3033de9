import pytest

from perphedge.domain import Timeframe, safe_symbol


@pytest.mark.parametrize(
    ("text", "ms"), [("1m", 60_000), ("1h", 3_600_000), ("8h", 28_800_000), ("1d", 86_400_000)]
)
def test_timeframe_parse_and_text(text, ms):
    tf = Timeframe.parse(text)
    assert tf.ms == ms
    assert tf.text == text


@pytest.mark.parametrize("bad", ["", "h", "0h", "1x", "1.5h"])
def test_timeframe_rejects_bad(bad):
    with pytest.raises(ValueError, match="invalid timeframe"):
        Timeframe.parse(bad)


def test_safe_symbol():
    assert safe_symbol("ETH/USD:ETH") == "ETH_USD_ETH"
    assert safe_symbol("BTC/USDT") == "BTC_USDT"
