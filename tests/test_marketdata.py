"""Ticker and candles made by the workers: exact, folded once, equal to a recount from trades."""

from __future__ import annotations

import random

import pytest

from engine import jobs, leases, marketdata
from engine.book import Engine
from engine.context import EngineContext
from engine.keys import marketdata_keys, symbol_keys
from engine.marketdata import INTERVALS, MarketData, aggregate, change_percent, recompute
from engine.marketdata_models import CandleList, Ticker
from engine.orders import BookView, PlaceRequest, Trade

API = "/api/v1"
SYMBOL = "BTC-USD"


@pytest.fixture
def engine(r, settings, make_symbol) -> Engine:
    make_symbol(SYMBOL, "0.01", "0.0001")
    return Engine(r, settings)


@pytest.fixture
def md(r) -> MarketData:
    return MarketData(r)


def all_trades(engine: Engine, symbol: str = SYMBOL) -> list[Trade]:
    """Every trade of the symbol, from the trades zset (Engine.trades pages newest first)."""
    out, before = [], None
    while True:
        page = engine.trades(symbol, 1000, before)
        out += page
        if len(page) < 1000:
            return out
        before = page[-1].sequence


def random_trading(engine: Engine, n: int, seed: int) -> None:
    """Two accounts placing limit and market orders around a price: many trades, partial fills."""
    rng = random.Random(seed)
    for _ in range(n):
        side = rng.choice(["buy", "sell"])
        account = rng.choice(["1", "2"])
        qty = rng.randint(1, 10**6)
        if rng.random() < 0.15:
            engine.place(account, PlaceRequest(SYMBOL, side, "market", qty, time_in_force="IOC"))
        else:
            price = rng.randint(9_990, 10_010)
            engine.place(account, PlaceRequest(SYMBOL, side, "limit", qty, price=price))


def write_trades(r, symbol: str, trades: list[tuple[int, int, int, int]]) -> None:
    """Trades (seq, ticks, lots, time µs) into the trades zset, as place.lua writes them."""
    key = symbol_keys(symbol).trades
    for seq, price, qty, ts in trades:
        r.zadd(key, {f"{seq:016d}|{price}|{qty}|b|{ts}|{seq - 1:016d}|{seq:016d}": seq})


def stored(md: MarketData, symbol: str = SYMBOL) -> dict[int, list]:
    return {s: md.candles(symbol, s, 1000)[1] for s in INTERVALS.values()}


def test_folding_all_trades_gives_what_a_recount_from_the_trades_gives(engine, md):
    random_trading(engine, 400, seed=1)
    trades = all_trades(engine)
    assert len(trades) > 100
    # Small steps, and every step twice (a retried job, a second worker): each trade once.
    while True:
        first = md.fold(SYMBOL, budget=37)
        again = md.fold(SYMBOL, budget=37)
        if not (first.more or again.more):
            break
    assert stored(md) == {s: recompute(trades, s) for s in INTERVALS.values()}
    assert md.fold(SYMBOL).folded == 0
    newest = max(trades, key=lambda t: t.sequence)
    ticker = md.ticker(SYMBOL, engine.book(SYMBOL, 1))
    assert ticker.sequence == newest.sequence
    assert (ticker.last.price, ticker.last.quantity) == (newest.price, newest.quantity)
    one_minute = recompute(trades, 60)
    assert ticker.window == aggregate(ticker.window.start, one_minute)
    assert ticker.window.volume == sum(t.quantity for t in trades)
    assert ticker.window.trades == len(trades)


def test_more_trades_later_add_to_the_same_candles(engine, md):
    random_trading(engine, 150, seed=2)
    md.fold(SYMBOL)
    random_trading(engine, 150, seed=3)
    md.fold(SYMBOL, budget=5)
    md.fold_symbols([SYMBOL])
    trades = all_trades(engine)
    assert stored(md) == {s: recompute(trades, s) for s in INTERVALS.values()}


def test_candles_split_at_interval_boundaries_in_utc(r, md, make_symbol):
    make_symbol(SYMBOL, "0.01", "0.0001")
    day = 1_795_478_400  # 2026-11-24T00:00:00Z, a multiple of 86400
    rng = random.Random(4)
    trades, seq = [], 0
    for offset in (0, 59, 60, 299, 300, 3599, 3600, 86_399, 86_400, 86_401, 200_000):
        for _ in range(rng.randint(1, 3)):
            seq += 1
            trades.append(
                (seq, rng.randint(100, 200), rng.randint(1, 9), (day + offset) * 10**6 + seq)
            )
    write_trades(r, SYMBOL, trades)
    md.fold(SYMBOL)
    as_trades = [Trade(f"{SYMBOL}:{s}", SYMBOL, p, q, "buy", s, ts) for s, p, q, ts in trades]
    for name, seconds in INTERVALS.items():
        got = md.candles(SYMBOL, seconds, 1000)[1]
        assert got == recompute(as_trades, seconds), name
        assert all(c.start % seconds == 0 for c in got)
    days = md.candles(SYMBOL, 86400, 10)[1]
    assert [c.start for c in days] == [day, day + 86400, day + 172_800]
    # limit: the newest N, still oldest first
    assert md.candles(SYMBOL, 60, 2)[1] == recompute(as_trades, 60)[-2:]


def test_volume_is_exact_past_2_to_the_53(r, md, make_symbol):
    make_symbol(SYMBOL, "0.01", "0.0001")
    minute = 1_795_478_400 * 10**6
    big = 10**12  # the most lots one trade can have
    count = 10_000  # 10^16 lots in one candle: more than a double holds exactly
    write_trades(r, SYMBOL, [(s, 100, big - s % 7, minute + s) for s in range(1, count + 1)])
    while md.fold(SYMBOL).more:
        pass
    expected = sum(big - s % 7 for s in range(1, count + 1))
    assert expected > 2**53
    (candle,) = md.candles(SYMBOL, 60, 10)[1]
    assert candle.volume == expected and candle.trades == count
    assert r.hget(marketdata_keys(SYMBOL).candles(60), f"v{minute // 10**6}") == str(expected)


def test_old_candles_are_removed_past_what_is_kept(r, md, make_symbol, monkeypatch):
    make_symbol(SYMBOL, "0.01", "0.0001")
    monkeypatch.setitem(marketdata.KEEP, 60, 3)
    base = 1_795_478_400
    write_trades(r, SYMBOL, [(s, 100 + s, 1, (base + 60 * s) * 10**6) for s in range(1, 6)])
    md.fold(SYMBOL)
    candles = md.candles(SYMBOL, 60, 1000)[1]
    assert [c.start for c in candles] == [base + 180, base + 240, base + 300]
    assert r.hlen(marketdata_keys(SYMBOL).candles(60)) == 6  # 3 candles: record + volume each
    assert len(md.candles(SYMBOL, 300, 1000)[1]) == 2  # other intervals keep theirs


def test_the_24h_window_is_the_last_1440_minutes(r, md, make_symbol):
    make_symbol(SYMBOL, "0.01", "0.0001")
    sec, _ = r.time()
    now_minute = int(sec) // 60 * 60
    start = now_minute - 1439 * 60
    write_trades(r, SYMBOL, [
        (1, 500, 7, (start - 1) * 10**6),  # one second before the window: out
        (2, 400, 2, start * 10**6),  # the window's first second: the open
        (3, 600, 3, (now_minute - 3600) * 10**6),
        (4, 450, 5, int(sec) * 10**6),  # now: the last price
    ])  # fmt: skip
    md.fold(SYMBOL)
    ticker = md.ticker(SYMBOL, BookView(symbol=SYMBOL, sequence=0))
    w = ticker.window
    assert w.start == start
    assert (w.open, w.high, w.low, w.volume, w.trades) == (400, 600, 400, 10, 3)
    assert ticker.last.price == 450 and ticker.sequence == 4


@pytest.mark.parametrize(
    ("last", "open_", "expected"),
    [
        (101, 100, "1.00"),
        (99, 100, "-1.00"),
        (100, 100, "0.00"),
        (1, 3, "-66.67"),
        (100_005, 100_000, "0.00"),  # 0.005 % rounds half to even: 0.00
        (100_015, 100_000, "0.02"),  # 0.015 % -> 0.02
        (99_995, 100_000, "0.00"),  # -0.005 % -> -0.00 -> "0.00"
        (3 * 10**12, 10**12, "200.00"),
    ],
)
def test_change_percent_is_exact_and_rounds_half_to_even(last, open_, expected):
    assert change_percent(last, open_) == expected


def test_the_job_takes_its_lease_and_folds_every_symbol(r, settings, engine, make_symbol):
    make_symbol("ETH-USD", "0.01", "0.001")
    random_trading(engine, 100, seed=5)
    engine.place("1", PlaceRequest("ETH-USD", "buy", "limit", 5, price=100))
    engine.place("2", PlaceRequest("ETH-USD", "sell", "limit", 2, price=100))
    jobs.use_context(EngineContext(settings))
    try:
        summary = marketdata.fold_job()
        assert summary["symbols"] == 2 and summary["trades"] == len(all_trades(engine)) + 1
        assert marketdata.fold_job() is None  # a second scheduler's copy, same second
        assert leases.holder(r, "marketdata") is not None
    finally:
        jobs.use_context(None)
    assert MarketData(r).candles("ETH-USD", 60, 5)[1][0].volume == 2


# -- the API --------------------------------------------------------------------------------


def test_ticker_and_candles_over_http(client, r, make_symbol, make_account):
    make_symbol(SYMBOL, "0.01", "0.0001")
    alice, bob = make_account("alice"), make_account("bob")

    def post(key, **body):
        response = client.post(f"{API}/orders", json={"symbol": SYMBOL, **body},
                               headers={"X-API-Key": key})  # fmt: skip
        assert response.status_code == 201, response.get_json()

    empty = client.get(f"{API}/ticker/{SYMBOL}")
    assert empty.status_code == 200
    body = Ticker.model_validate_json(empty.data, strict=True).model_dump()
    assert body["last_price"] is None and body["volume_24h"] == "0.0000"
    assert body["change_24h"] is None and body["best_bid"] is None

    post(alice, side="buy", price="100.00", quantity="2")
    post(bob, side="sell", price="100.00", quantity="0.5")
    post(alice, side="sell", price="101.50", quantity="1")
    post(bob, side="buy", price="101.50", quantity="0.25")
    post(bob, side="sell", price="99.00", quantity="0.25")  # trades at 100.00
    MarketData(r).fold(SYMBOL)

    t = client.get(f"{API}/ticker/{SYMBOL}").get_json()
    Ticker.model_validate(t, strict=True)
    assert t["last_price"] == "100.00" and t["last_quantity"] == "0.2500"
    assert (t["open_24h"], t["high_24h"], t["low_24h"]) == ("100.00", "101.50", "100.00")
    assert t["volume_24h"] == "1.0000" and t["trades_24h"] == 3
    assert t["change_24h"] == "0.00" and t["change_percent_24h"] == "0.00"
    assert (t["best_bid"], t["best_bid_quantity"]) == ("100.00", "1.2500")
    assert (t["best_ask"], t["best_ask_quantity"]) == ("101.50", "0.7500")

    c = client.get(f"{API}/candles/{SYMBOL}?interval=1h&limit=5").get_json()
    CandleList.model_validate(c, strict=True)
    assert c["interval"] == "1h" and c["sequence"] == t["sequence"]
    (candle,) = c["candles"]
    assert candle["start"].endswith(":00:00.000000Z")
    assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (
        "100.00", "101.50", "100.00", "100.00",
    )  # fmt: skip
    assert candle["volume"] == "1.0000" and candle["trades"] == 3
    assert client.get(f"{API}/candles/{SYMBOL}").get_json()["interval"] == "1m"


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/ticker/NOPE-USD", 404, None),
        ("/candles/NOPE-USD", 404, None),
        ("/ticker/BTC-USD?x=1", 422, "x"),
        ("/candles/BTC-USD?interval=2m", 422, "interval"),
        ("/candles/BTC-USD?limit=0", 422, "limit"),
        ("/candles/BTC-USD?limit=1001", 422, "limit"),
        ("/candles/BTC-USD?limit=ten", 422, "limit"),
    ],
)
def test_market_data_errors(client, make_symbol, path, status, field):
    make_symbol(SYMBOL, "0.01", "0.0001")
    response = client.get(API + path)
    assert response.status_code == status
    assert response.get_json()["error"]["field"] == field


def test_fold_budget_is_bounded(md):
    with pytest.raises(ValueError):
        md.fold(SYMBOL, budget=1001)
