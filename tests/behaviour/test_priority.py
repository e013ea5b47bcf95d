"""Price-time priority: the best price first, and at one price the first arrival first."""

from __future__ import annotations

import pytest


def test_fifo_among_25_orders_at_one_price(book):
    accounts = [f"maker{i:02d}" for i in range(25)]
    ids = [book.place(a, "sell", 2, 100).id for a in accounts]
    taker = book.place("taker", "buy", 21, 100)  # ten and a half makers
    assert taker.status == "filled"
    statuses = [book.get(a, oid).status for a, oid in zip(accounts, ids, strict=True)]
    assert statuses == ["filled"] * 10 + ["partially_filled"] + ["enqueued"] * 14
    makers = book.makers()
    assert makers == list(range(1, 12))
    assert book.book().asks == [(100, 29, 15)]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_price_priority_then_time_on_both_sides(book, side):
    other = "sell" if side == "buy" else "buy"
    # Resting on `other`: the best price for a `side` taker is the lowest ask / highest bid.
    prices = [103, 101, 102, 101, 104] if side == "buy" else [97, 99, 98, 99, 96]
    ids = [book.place(f"m{i}", other, 1, p).id for i, p in enumerate(prices)]
    taker = book.place("t", side, 5, type="market")
    best_first = sorted(range(5), key=lambda i: (prices[i] if side == "buy" else -prices[i], i))
    assert [f.price for f in taker.fills] == [prices[i] for i in best_first]
    makers = book.makers()
    assert makers == [int(ids[i].split(":")[1]) for i in best_first]


def test_depth_is_best_first_on_both_sides_with_level_totals(book):
    for price, qty in [(99, 1), (100, 2), (98, 3), (100, 4)]:
        book.place("b", "buy", qty, price)
    for price, qty in [(102, 5), (101, 6), (101, 7)]:
        book.place("s", "sell", qty, price)
    view = book.book()
    assert view.bids == [(100, 6, 2), (99, 1, 1), (98, 3, 1)]
    assert view.asks == [(101, 13, 2), (102, 5, 1)]
    assert book.book(depth=1).bids == [(100, 6, 2)]


@pytest.mark.parametrize(("side", "limit", "maker_price"), [("buy", 110, 100), ("sell", 90, 100)])
def test_a_trade_happens_at_the_makers_price(book, side, limit, maker_price):
    other = "sell" if side == "buy" else "buy"
    book.place("m", other, 1, maker_price)
    taker = book.place("t", side, 1, limit)
    assert [f.price for f in taker.fills] == [maker_price]
    assert book.trades()[0].price == maker_price
    maker_fill = book.fills("m")[0]
    assert (maker_fill.price, maker_fill.liquidity) == (maker_price, "maker")


def test_a_limit_order_sweeps_levels_up_to_its_price_and_rests_the_rest(book):
    book.place("m", "sell", 1, 100)
    book.place("m", "sell", 1, 101)
    book.place("m", "sell", 1, 102)
    o = book.place("t", "buy", 5, 101)
    assert [f.price for f in o.fills] == [100, 101]
    assert (o.status, o.remaining_quantity) == ("partially_filled", 3)
    view = book.book()
    assert view.bids == [(101, 3, 1)] and view.asks == [(102, 1, 1)]


def test_the_sequence_rises_by_one_per_order_trade_and_kill(book):
    book.place("m", "sell", 1, 100)  # 1
    book.place("m", "sell", 1, 101)  # 2
    o = book.place("t", "buy", 3, 101, tif="IOC")  # 3, trades 4 and 5, kill 6
    assert o.sequence == 3 and [f.sequence for f in o.fills] == [4, 5]
    assert book.book().sequence == 6
    assert [q for q, _ in book.events()] == [1, 2, 3, 4, 5, 6]
    assert book.log()[2:] == [
        ("order",), ("trade", 1, 3, 1), ("trade", 2, 3, 1), ("kill", 3, "immediate_or_cancel"),
    ]  # fmt: skip


@pytest.mark.parametrize("start", [7, 99_997, 999_999_997])
def test_sequences_across_digit_boundaries_keep_arrival_order(book, start):
    """9 -> 10, 99,999 -> 100,000: a later arrival at the same price still comes later."""
    book.set_sequence(start)
    ids = [book.place(f"m{i}", "sell", 1, 100).id for i in range(4)]
    assert [int(i.split(":")[1]) for i in ids] == [start + 1, start + 2, start + 3, start + 4]
    taker = book.place("t", "buy", 4, 100)
    assert [f.sequence for f in taker.fills] == [start + 6, start + 7, start + 8, start + 9]
    makers = book.makers()
    assert makers == [start + 1, start + 2, start + 3, start + 4]
    assert book.book().sequence == start + 9
    assert [t.sequence for t in book.trades()] == [start + 9, start + 8, start + 7, start + 6]


def test_ten_thousand_orders_at_one_price(book):
    """Placed in pipelines on Redis; the level total is exact and the queue is FIFO."""
    n = 10_000
    reqs = [book.request("sell", 1 + i % 3, 100) for i in range(n)]
    results = book.place_many("maker", reqs)
    assert [r.order.sequence for r in results] == list(range(1, n + 1))
    total = sum(r.quantity for r in reqs)
    assert book.book().asks == [(100, total, n)]
    # Take exactly the first 5,000 makers (one placement meets them in arrival order).
    first = sum(r.quantity for r in reqs[:5000])
    taker = book.place("taker", "buy", first, 100)
    assert taker.status == "filled" and len(taker.fills) == 5000
    assert [f.sequence for f in taker.fills] == list(range(n + 2, n + 5002))
    assert book.book().asks == [(100, total - first, 5000)]
    assert book.get("maker", results[4999].order.id).status == "filled"
    assert book.get("maker", results[5000].order.id).status == "enqueued"
