"""Order types, time in force, post-only, cancels: each outcome and each kill reason."""

from __future__ import annotations

import pytest

from engine.errors import NotFound, OrderNotOpen, SymbolHalted, ValidationFailed


def test_an_empty_book_has_no_levels_and_sequence_0(book):
    view = book.book()
    assert (view.sequence, view.bids, view.asks) == (0, [], [])
    assert book.trades() == []


def test_a_limit_order_that_does_not_cross_rests(book):
    o = book.place("ann", "buy", 5, 100)
    assert (o.status, o.filled_quantity, o.remaining_quantity) == ("enqueued", 0, 5)
    assert (o.type, o.time_in_force, o.sequence, o.fills) == ("limit", "GTC", 1, [])
    view = book.book()
    assert view.bids == [(100, 5, 1)] and view.asks == [] and view.sequence == 1


def test_one_sided_books_answer_both_sides(book):
    book.place("ann", "sell", 1, 105)
    book.place("ann", "sell", 2, 101)
    view = book.book()
    assert view.bids == [] and view.asks == [(101, 2, 1), (105, 1, 1)]
    # A market buy into a one-sided book takes it; a market sell finds nothing.
    sell = book.place("bob", "sell", 1)
    assert (sell.status, sell.kill_reason, sell.filled_quantity) == ("killed", "no_liquidity", 0)


def test_a_crossing_limit_order_fills_at_the_makers_price(book):
    maker = book.place("ann", "sell", 3, 100)
    taker = book.place("bob", "buy", 3, 104)
    assert (taker.status, taker.filled_quantity, taker.remaining_quantity) == ("filled", 3, 0)
    assert [(f.price, f.quantity, f.liquidity) for f in taker.fills] == [(100, 3, "taker")]
    assert taker.notional == 300
    assert book.get("ann", maker.id).status == "filled"
    trade = book.trades()[0]
    assert (trade.price, trade.quantity, trade.taker_side, trade.sequence) == (100, 3, "buy", 3)
    assert book.book().asks == []


def test_a_partly_filled_limit_order_rests_with_its_rest(book):
    book.place("ann", "sell", 2, 100)
    taker = book.place("bob", "buy", 5, 100)
    assert (taker.status, taker.filled_quantity, taker.remaining_quantity) == (
        "partially_filled", 2, 3,
    )  # fmt: skip
    assert book.book().bids == [(100, 3, 1)]


def test_a_partly_filled_maker_keeps_its_place_and_its_rest(book):
    first = book.place("ann", "sell", 5, 100)
    second = book.place("cat", "sell", 5, 100)
    book.place("bob", "buy", 2, 100)
    assert book.get("ann", first.id).status == "partially_filled"
    assert book.book().asks == [(100, 8, 2)]
    book.place("bob", "buy", 4, 100)  # 3 more from the first, then 1 from the second
    assert book.get("ann", first.id).status == "filled"
    second_now = book.get("cat", second.id)
    assert (second_now.status, second_now.filled_quantity) == ("partially_filled", 1)


def test_market_order_takes_what_there_is_and_the_rest_is_killed_no_liquidity(book):
    book.place("ann", "sell", 2, 100)
    book.place("ann", "sell", 2, 101)
    o = book.place("bob", "buy", 10)
    assert (o.type, o.time_in_force, o.price) == ("market", "IOC", None)
    assert (o.status, o.kill_reason, o.filled_quantity) == ("killed", "no_liquidity", 4)
    assert [(f.price, f.quantity) for f in o.fills] == [(100, 2), (101, 2)]
    assert o.remaining_quantity == 0


def test_market_order_on_an_empty_book_is_killed_no_liquidity(book):
    o = book.place("bob", "sell", 1)
    assert (o.status, o.kill_reason, o.filled_quantity, o.fills) == (
        "killed", "no_liquidity", 0, [],
    )  # fmt: skip
    assert book.log() == [("order",), ("kill", 1, "no_liquidity")]


def test_ioc_fills_what_crosses_and_the_rest_is_killed(book):
    book.place("ann", "sell", 2, 100)
    o = book.place("bob", "buy", 5, 100, tif="IOC")
    assert (o.status, o.kill_reason, o.filled_quantity) == ("killed", "immediate_or_cancel", 2)
    assert book.book().bids == []
    none = book.place("bob", "buy", 5, 99, tif="IOC")
    assert (none.status, none.kill_reason, none.filled_quantity) == (
        "killed", "immediate_or_cancel", 0,
    )  # fmt: skip


def test_fok_fills_completely(book):
    book.place("ann", "sell", 2, 100)
    book.place("cat", "sell", 3, 101)
    o = book.place("bob", "buy", 5, 101, tif="FOK")
    assert (o.status, o.filled_quantity) == ("filled", 5)
    assert book.book().asks == []


def test_fok_that_cannot_fill_is_killed_and_nothing_else_changes(book):
    book.place("ann", "sell", 2, 100)
    book.place("cat", "sell", 3, 102)
    before = book.book()
    o = book.place("bob", "buy", 5, 101, tif="FOK")
    assert (o.status, o.kill_reason, o.filled_quantity, o.fills) == (
        "killed", "fill_or_kill", 0, [],
    )  # fmt: skip
    after = book.book()
    assert (after.bids, after.asks) == (before.bids, before.asks)
    assert after.sequence == before.sequence + 2  # accepted, then killed
    assert book.trades() == []


def test_market_fok(book):
    book.place("ann", "sell", 2, 100)
    short = book.place("bob", "buy", 3, type="market", tif="FOK")
    assert (short.status, short.kill_reason, short.filled_quantity) == (
        "killed", "fill_or_kill", 0,
    )  # fmt: skip
    assert book.book().asks == [(100, 2, 1)]
    whole = book.place("bob", "buy", 2, type="market", tif="FOK")
    assert (whole.status, whole.filled_quantity) == ("filled", 2)
    empty = book.place("bob", "buy", 1, type="market", tif="FOK")
    assert empty.kill_reason == "fill_or_kill"


def test_gtd_rests_until_its_time(book):
    expires = book.now() + 60_000_000
    o = book.place("ann", "buy", 1, 100, tif="GTD", expires_at=expires)
    assert (o.status, o.time_in_force, o.expires_at) == ("enqueued", "GTD", expires)
    assert book.expire() == (0, 0, False, [])
    assert book.get("ann", o.id).status == "enqueued"


def test_gtd_in_the_past_is_refused(book):
    with pytest.raises(ValidationFailed) as err:
        book.place("ann", "buy", 1, 100, tif="GTD", expires_at=book.now() - 1)
    assert err.value.field == "expires_at"
    assert book.book().sequence == 0


def test_post_only_rests_when_it_would_not_take(book):
    book.place("ann", "sell", 1, 101)
    o = book.place("bob", "buy", 1, 100, post_only=True)
    assert (o.status, o.post_only) == ("enqueued", True)


@pytest.mark.parametrize("price", [101, 102])
def test_post_only_that_would_take_is_killed_without_any_trade(book, price):
    book.place("ann", "sell", 1, 101)
    before = book.book()
    o = book.place("bob", "buy", 1, price, post_only=True)
    assert (o.status, o.kill_reason, o.filled_quantity, o.fills) == (
        "killed", "post_only", 0, [],
    )  # fmt: skip
    assert (book.book().asks, book.trades()) == (before.asks, [])


def test_post_only_is_killed_by_its_own_accounts_order_too(book):
    book.place("ann", "buy", 1, 100)
    o = book.place("ann", "sell", 1, 100, post_only=True, stp="cancel_oldest")
    assert o.kill_reason == "post_only"
    assert book.book().bids == [(100, 1, 1)]  # the resting order is untouched


def test_cancel_kills_with_user_and_keeps_what_filled(book):
    o = book.place("ann", "sell", 5, 100)
    book.place("bob", "buy", 2, 100)
    killed = book.cancel("ann", o.id)
    assert (killed.status, killed.kill_reason, killed.filled_quantity) == ("killed", "user", 2)
    assert killed.remaining_quantity == 0 and killed.notional == 200
    assert book.book().asks == []
    assert book.log()[-1] == ("kill", 1, "user")


def test_cancel_of_a_final_order_is_order_not_open(book):
    o = book.place("ann", "sell", 1, 100)
    book.place("bob", "buy", 1, 100)
    with pytest.raises(OrderNotOpen):
        book.cancel("ann", o.id)  # filled
    other = book.place("ann", "sell", 1, 100)
    book.cancel("ann", other.id)
    with pytest.raises(OrderNotOpen):
        book.cancel("ann", other.id)  # killed already
    assert book.get("ann", o.id).status == "filled"


@pytest.mark.parametrize("oid", ["BTC-USD:1", "BTC-USD:99", "nope", "ETH-USD:1"])
def test_cancel_of_another_accounts_or_unknown_order_is_not_found(book, oid):
    book.place("ann", "sell", 1, 100)
    with pytest.raises(NotFound):
        book.cancel("bob", oid)
    with pytest.raises(NotFound):
        book.get("bob", oid)
    assert book.book().asks == [(100, 1, 1)]


def test_cancel_all_kills_every_open_order_of_the_account_only(book):
    a1 = book.place("ann", "buy", 1, 99)
    b1 = book.place("bob", "buy", 1, 99)
    a2 = book.place("ann", "sell", 2, 105)
    a3 = book.place("ann", "sell", 1, 104)
    book.place("cat", "buy", 1, 104)  # fills a3
    assert book.cancel_all("ann") == [a1.id, a2.id]
    assert book.get("bob", b1.id).status == "enqueued"
    assert book.get("ann", a3.id).status == "filled"
    assert book.cancel_all("ann") == []
    view = book.book()
    assert view.bids == [(99, 1, 1)] and view.asks == []


def test_halted_symbol_refuses_orders_but_cancels_still_work(book):
    o = book.place("ann", "buy", 1, 100)
    book.set_status("halted")
    with pytest.raises(SymbolHalted):
        book.place("ann", "buy", 1, 100)
    assert book.cancel("ann", o.id).kill_reason == "user"
    book.set_status("trading")
    assert book.place("ann", "buy", 1, 100).status == "enqueued"


def test_unknown_symbol_is_a_validation_error(book):
    with pytest.raises(ValidationFailed) as err:
        book.place("ann", "buy", 1, 100, symbol="NOPE-USD")
    assert err.value.field == "symbol"
