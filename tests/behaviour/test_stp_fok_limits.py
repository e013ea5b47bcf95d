"""Self-trade prevention, FOK's fillable quantity, the match limit, and expiry."""

from __future__ import annotations

import pytest

# -- self-trade prevention ----------------------------------------------------------------


def test_cancel_newest_kills_the_incoming_rest_and_leaves_the_resting_order(book):
    book.place("bob", "sell", 1, 100)  # 1
    own = book.place("ann", "sell", 1, 100)  # 2
    book.place("bob", "sell", 1, 100)  # 3
    o = book.place("ann", "buy", 3, 100)  # default STP: cancel_newest
    assert (o.status, o.kill_reason, o.filled_quantity) == ("killed", "self_trade", 1)
    assert book.get("ann", own.id).status == "enqueued"
    assert book.book().asks == [(100, 2, 2)]
    assert book.log()[3:] == [("order",), ("trade", 1, 4, 1), ("kill", 4, "self_trade")]


def test_cancel_oldest_kills_the_resting_order_and_matching_goes_on(book):
    book.place("bob", "sell", 1, 100)
    own = book.place("ann", "sell", 1, 100)
    book.place("bob", "sell", 1, 100)
    o = book.place("ann", "buy", 3, 100, stp="cancel_oldest")
    assert (o.status, o.filled_quantity, o.remaining_quantity) == ("partially_filled", 2, 1)
    own_now = book.get("ann", own.id)
    assert (own_now.status, own_now.kill_reason) == ("killed", "self_trade")
    assert book.log()[3:] == [
        ("order",), ("trade", 1, 4, 1), ("kill", 2, "self_trade"), ("trade", 3, 4, 1),
    ]  # fmt: skip
    view = book.book()
    assert view.asks == [] and view.bids == [(100, 1, 1)]


def test_cancel_both_kills_both(book):
    book.place("bob", "sell", 1, 100)
    own = book.place("ann", "sell", 1, 100)
    book.place("bob", "sell", 1, 100)
    o = book.place("ann", "buy", 3, 100, stp="cancel_both")
    assert (o.status, o.kill_reason, o.filled_quantity) == ("killed", "self_trade", 1)
    assert book.get("ann", own.id).kill_reason == "self_trade"
    assert book.log()[3:] == [
        ("order",), ("trade", 1, 4, 1), ("kill", 2, "self_trade"), ("kill", 4, "self_trade"),
    ]  # fmt: skip
    assert book.book().asks == [(100, 1, 1)]


@pytest.mark.parametrize("stp", ["cancel_newest", "cancel_oldest", "cancel_both"])
def test_no_trade_ever_has_one_account_on_both_sides(book, stp):
    for _ in range(3):
        book.place("ann", "sell", 1, 100)
    book.place("ann", "buy", 5, 101, stp=stp)
    assert book.trades() == []


# -- FOK: the fillable quantity -----------------------------------------------------------


def test_fok_skips_own_orders_under_cancel_oldest(book):
    own = book.place("ann", "sell", 5, 100)
    book.place("bob", "sell", 2, 100)
    o = book.place("ann", "buy", 2, 100, tif="FOK", stp="cancel_oldest")
    assert (o.status, o.filled_quantity) == ("filled", 2)
    assert book.get("ann", own.id).kill_reason == "self_trade"  # killed on the way


def test_fok_short_after_skipping_own_orders_changes_nothing(book):
    own = book.place("ann", "sell", 5, 100)
    book.place("bob", "sell", 1, 100)
    o = book.place("ann", "buy", 2, 100, tif="FOK", stp="cancel_oldest")
    assert (o.status, o.kill_reason) == ("killed", "fill_or_kill")
    assert book.get("ann", own.id).status == "enqueued"  # not killed: nothing changed
    assert book.book().asks == [(100, 6, 2)]


@pytest.mark.parametrize("stp", ["cancel_newest", "cancel_both"])
def test_fok_stops_at_the_first_own_order_under_cancel_newest_and_both(book, stp):
    book.place("bob", "sell", 1, 100)
    book.place("ann", "sell", 1, 100)
    book.place("bob", "sell", 5, 100)
    o = book.place("ann", "buy", 2, 100, tif="FOK", stp=stp)
    assert (o.status, o.kill_reason, o.filled_quantity) == ("killed", "fill_or_kill", 0)
    assert book.book().asks == [(100, 7, 3)]
    # Enough before the own order: it fills and never reaches it.
    ok = book.place("ann", "buy", 1, 100, tif="FOK", stp=stp)
    assert (ok.status, ok.filled_quantity) == ("filled", 1)


def test_fok_counts_only_crossing_quantity(book):
    book.place("bob", "sell", 2, 100)
    book.place("bob", "sell", 5, 102)
    o = book.place("ann", "buy", 3, 101, tif="FOK")
    assert o.kill_reason == "fill_or_kill"
    market = book.place("ann", "buy", 3, type="market", tif="FOK")
    assert [(f.price, f.quantity) for f in market.fills] == [(100, 2), (102, 1)]


def test_fok_skips_due_orders(book):
    due = book.place("bob", "sell", 5, 100, tif="GTD", expires_at=book.now() + 50_000)
    book.place("cat", "sell", 2, 100)
    book.advance(100_000)
    short = book.place("ann", "buy", 3, 100, tif="FOK")
    assert short.kill_reason == "fill_or_kill"
    assert book.get("bob", due.id).status == "enqueued"  # a failed FOK changes nothing
    o = book.place("ann", "buy", 2, 100, tif="FOK")
    assert o.status == "filled"
    assert book.get("bob", due.id).kill_reason == "expired"  # met, so killed on contact


def test_fok_needing_more_than_the_match_limit_is_killed_fill_or_kill(book):
    book.configure(match_limit=3)
    for i in range(4):
        book.place(f"m{i}", "sell", 1, 100)
    o = book.place("ann", "buy", 4, 100, tif="FOK")
    assert (o.kill_reason, o.filled_quantity) == ("fill_or_kill", 0)
    assert book.place("ann", "buy", 3, 100, tif="FOK").status == "filled"


def test_fok_counts_own_and_due_orders_against_the_match_limit(book):
    book.configure(match_limit=3)
    book.place("ann", "sell", 1, 100, tif="GTD", expires_at=book.now() + 50_000)  # due soon
    book.place("ann", "sell", 1, 100)  # own
    book.place("bob", "sell", 1, 100)
    book.place("bob", "sell", 1, 100)
    book.advance(100_000)
    o = book.place("ann", "buy", 2, 100, tif="FOK", stp="cancel_oldest")
    assert o.kill_reason == "fill_or_kill"  # only 1 fillable within 3 met
    assert book.place("ann", "buy", 1, 100, tif="FOK", stp="cancel_oldest").status == "filled"


# -- match limit --------------------------------------------------------------------------


def test_a_placement_that_still_crosses_after_the_match_limit_is_killed_match_limit(book):
    book.configure(match_limit=3)
    for i in range(5):
        book.place(f"m{i}", "sell", 1, 100)
    o = book.place("t", "buy", 5, 100)
    assert (o.status, o.kill_reason, o.filled_quantity) == ("killed", "match_limit", 3)
    assert book.book().asks == [(100, 2, 2)]


def test_meeting_exactly_the_limit_and_then_not_crossing_is_no_match_limit(book):
    book.configure(match_limit=3)
    for i in range(3):
        book.place(f"m{i}", "sell", 1, 100)
    book.place("m9", "sell", 1, 105)
    o = book.place("t", "buy", 5, 100)  # meets 3, the next ask does not cross: it rests
    assert (o.status, o.remaining_quantity) == ("partially_filled", 2)
    market = book.place("u", "sell", 1, type="market")
    assert market.status == "filled"


def test_self_trade_kills_and_due_kills_count_against_the_match_limit(book):
    book.configure(match_limit=3)
    book.place("ann", "sell", 1, 100, tif="GTD", expires_at=book.now() + 50_000)
    book.place("ann", "sell", 1, 100)
    book.place("bob", "sell", 1, 100)
    book.place("bob", "sell", 1, 100)
    book.advance(100_000)
    o = book.place("ann", "buy", 3, 100, stp="cancel_oldest")
    assert (o.kill_reason, o.filled_quantity) == ("match_limit", 1)
    assert book.log()[4:] == [
        ("order",), ("kill", 1, "expired"), ("kill", 2, "self_trade"), ("trade", 3, 5, 1),
        ("kill", 5, "match_limit"),
    ]  # fmt: skip


# -- expiry -------------------------------------------------------------------------------


def test_expire_kills_due_gtd_orders_with_expired(book):
    now = book.now()
    soon = book.place("ann", "buy", 1, 99, tif="GTD", expires_at=now + 50_000)
    later = book.place("ann", "buy", 1, 98, tif="GTD", expires_at=now + 10_000_000)
    book.advance(100_000)
    expired, aged, more, lateness = book.expire()
    assert (expired, aged, more, len(lateness)) == (1, 0, False, 1)
    assert lateness[0] >= 0
    gone = book.get("ann", soon.id)
    assert (gone.status, gone.kill_reason) == ("killed", "expired")
    assert book.get("ann", later.id).status == "enqueued"
    assert book.book().bids == [(98, 1, 1)]


def test_expire_in_batches_says_when_more_are_due(book):
    for i in range(3):
        book.place("ann", "buy", 1, 90 + i, tif="GTD", expires_at=book.now() + 50_000 + i)
    book.advance(100_000)
    assert book.expire(budget=2)[:3] == (2, 0, True)
    assert book.expire(budget=2)[:3] == (1, 0, False)
    assert book.book().bids == []


def test_max_age_kills_gtc_orders_after_order_max_age(book):
    book.configure(order_max_age=1)
    o = book.place("ann", "sell", 3, 100)
    gtd = book.place("ann", "sell", 1, 101, tif="GTD", expires_at=book.now() + 60_000_000)
    book.place("bob", "buy", 1, 100)  # partly filled: max age counts from acceptance anyway
    book.advance(1_000_000)
    assert book.expire()[:3] == (0, 1, False)
    aged = book.get("ann", o.id)
    assert (aged.status, aged.kill_reason, aged.filled_quantity) == ("killed", "max_age", 1)
    assert book.get("ann", gtd.id).status == "enqueued"  # max age is for GTC only


def test_order_max_age_0_turns_max_age_off(book):
    book.configure(order_max_age=0)
    o = book.place("ann", "sell", 1, 100)
    book.advance(10_000_000)
    assert book.expire() == (0, 0, False, [])
    assert book.place("bob", "buy", 1, 100).status == "filled"
    assert book.get("ann", o.id).status == "filled"


@pytest.mark.parametrize("reason", ["expired", "max_age"])
def test_a_due_order_met_by_a_placement_is_killed_instead_of_trading(book, reason):
    book.configure(order_max_age=1)
    if reason == "expired":
        due = book.place("ann", "sell", 1, 100, tif="GTD", expires_at=book.now() + 50_000)
    else:
        due = book.place("ann", "sell", 1, 100)
    book.advance(1_000_000)
    book.place("cat", "sell", 1, 101)
    o = book.place("bob", "buy", 2, 101)
    assert [f.price for f in o.fills] == [101]
    assert book.get("ann", due.id).kill_reason == reason
    assert book.log()[2:] == [("order",), ("kill", 1, reason), ("trade", 2, 3, 1)]


def test_post_only_is_killed_by_a_due_order_too(book):
    """Documented choice: post-only looks at the book as it is, due orders included."""
    book.place("ann", "sell", 1, 100, tif="GTD", expires_at=book.now() + 50_000)
    book.advance(100_000)
    assert book.place("bob", "buy", 1, 100, post_only=True).kill_reason == "post_only"


def test_expire_says_more_while_passed_entries_may_hide_due_orders(redis_book):
    """The max-age sweep passes at most 10 x budget + 1000 list entries per call: when it
    stops there, it must say `more`, or a sweep would stop with due orders left."""
    book = redis_book
    book.configure(order_max_age=1)
    book.place_many("ann", [book.request("sell", 1, 100) for _ in range(1100)])
    book.place("bob", "buy", 1100, type="market")  # 1100 finished entries in the GTC list
    due = book.place("ann", "sell", 1, 100)
    book.advance(1_000_000)
    assert book.expire(budget=1) == (0, 0, True, [])  # passed 1010 entries, more to look at
    assert book.expire(budget=1)[:3] == (0, 1, False)
    assert book.get("ann", due.id).kill_reason == "max_age"
