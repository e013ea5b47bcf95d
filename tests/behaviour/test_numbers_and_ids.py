"""Values at the contract's limits, large sequences, and client_order_id replays."""

from __future__ import annotations

import dataclasses

import pytest

from engine.check import check_symbol
from engine.errors import ClientOrderIdConflict, SymbolHalted
from engine.keys import symbol_keys

MAX = 10**12  # the largest price (ticks) and quantity (lots) the API accepts


def test_price_and_quantity_at_10_to_the_12(book):
    book.place("ann", "sell", MAX, MAX)
    o = book.place("bob", "buy", MAX, MAX)
    assert (o.status, o.filled_quantity) == ("filled", MAX)
    assert [(f.price, f.quantity) for f in o.fills] == [(MAX, MAX)]
    assert o.notional == MAX * MAX  # 10^24: exact, summed in Python
    trade = book.trades()[0]
    assert (trade.price, trade.quantity) == (MAX, MAX)


def test_level_totals_above_2_to_the_53_stay_exact(book):
    """10,000 orders of 10^12 lots at one price: 10^16 lots, beyond what a double holds."""
    n = 10_000
    book.place_many("maker", [book.request("sell", MAX, MAX) for _ in range(n)])
    assert book.book().asks == [(MAX, n * MAX, n)]
    assert n * MAX > 2**53
    book.place("taker", "buy", 1, MAX)  # leaves 10^16 - 1: odd, not a double
    assert book.book().asks == [(MAX, n * MAX - 1, n)]
    book.place("taker", "buy", MAX + 2, MAX)  # the rest of the first, 3 of the second
    assert book.book().asks == [(MAX, n * MAX - MAX - 3, n - 1)]


def test_sequences_just_below_2_to_the_53(book):
    start = 2**53 - 10
    book.set_sequence(start)
    a = book.place("ann", "sell", 1, 100)
    b = book.place("bob", "sell", 1, 100)
    t = book.place("cat", "buy", 2, 100)
    assert (a.sequence, b.sequence, t.sequence) == (start + 1, start + 2, start + 3)
    assert [f.sequence for f in t.fills] == [start + 4, start + 5]
    assert book.makers() == [start + 1, start + 2]
    assert book.book().sequence == start + 5


# -- client_order_id ----------------------------------------------------------------------


def test_the_same_placement_again_answers_the_order_as_it_is_now(book):
    book.place("bob", "sell", 1, 100)
    first = book.submit("ann", book.request("buy", 3, 100, coid="abc"))
    assert not first.replay and first.order.client_order_id == "abc"
    seq = book.book().sequence
    book.place("cat", "sell", 1, 100)  # fills ann's resting order a little more
    again = book.submit("ann", book.request("buy", 3, 100, coid="abc"))
    assert again.replay
    assert again.order.id == first.order.id
    assert (again.order.status, again.order.filled_quantity) == ("partially_filled", 2)
    assert again.order.fills == first.order.fills  # the trades it made on arrival only
    assert book.book().sequence == seq + 2  # cat's order and its trade; nothing for the replay


@pytest.mark.parametrize(
    "change",
    [
        {"price": 101}, {"quantity": 4}, {"side": "sell"}, {"time_in_force": "IOC"},
        {"self_trade_prevention": "cancel_both"}, {"post_only": True},
        {"type": "market", "price": None, "time_in_force": "IOC"},
    ],
)  # fmt: skip
def test_a_different_placement_with_a_taken_id_is_a_conflict(book, change):
    req = book.request("buy", 3, 100, coid="abc")
    book.submit("ann", req)
    seq = book.book().sequence
    with pytest.raises(ClientOrderIdConflict) as err:
        book.submit("ann", dataclasses.replace(req, **change))
    assert err.value.field == "client_order_id"
    assert book.book().sequence == seq  # nothing placed


def test_gtd_replay_needs_the_same_expires_at_to_the_microsecond(book):
    expires = book.now() + 60_000_000
    req = book.request("buy", 1, 100, tif="GTD", expires_at=expires, coid="g")
    book.submit("ann", req)
    assert book.submit("ann", req).replay
    with pytest.raises(ClientOrderIdConflict):
        book.submit("ann", dataclasses.replace(req, expires_at=expires + 1))


def test_client_order_ids_are_per_account(book):
    a = book.submit("ann", book.request("buy", 1, 100, coid="same")).order
    b = book.submit("bob", book.request("buy", 2, 99, coid="same"))
    assert not b.replay and b.order.id != a.id


def test_a_final_order_keeps_its_client_order_id(book):
    killed = book.submit("ann", book.request("buy", 1, 100, tif="IOC", coid="k")).order
    assert killed.kill_reason == "immediate_or_cancel"
    again = book.submit("ann", book.request("buy", 1, 100, tif="IOC", coid="k"))
    assert again.replay and again.order.id == killed.id and again.order.status == "killed"
    with pytest.raises(ClientOrderIdConflict):
        book.submit("ann", book.request("buy", 1, 100, coid="k"))


def test_a_replay_on_a_halted_symbol_still_answers(book):
    req = book.request("buy", 1, 100, coid="h")
    first = book.submit("ann", req).order
    book.set_status("halted")
    assert book.submit("ann", req).order.id == first.id
    with pytest.raises(SymbolHalted):
        book.submit("ann", book.request("buy", 1, 100, coid="other"))


def test_gtd_at_the_latest_expires_at_the_api_accepts(book):
    """2^53 - 1 µs (the year 2255), engine/clock.py's bound: the deadline stays exact."""
    latest = 2**53 - 1
    o = book.place("ann", "buy", 1, 100, tif="GTD", expires_at=latest)
    assert (o.status, o.expires_at) == ("enqueued", latest)
    assert book.get("ann", o.id).expires_at == latest
    assert book.expire() == (0, 0, False, [])
    if book.kind == "redis":
        assert book.r.zscore(symbol_keys("BTC-USD").gtd, "%016d" % o.sequence) == latest
        assert check_symbol(book.r, "BTC-USD") == []
