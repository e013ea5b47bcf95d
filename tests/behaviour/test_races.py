"""A cancel racing a fill (two threads on the Redis engine): exactly one of them wins."""

from __future__ import annotations

import threading

import pytest

from engine.check import check_symbol
from engine.errors import OrderNotOpen


def _race(book, cancel, take):
    """Run both calls at once (as far as threads allow); their outcomes."""
    barrier = threading.Barrier(2)
    out: dict[str, object] = {}

    def run(name, call):
        barrier.wait()
        try:
            out[name] = call()
        except OrderNotOpen as exc:
            out[name] = exc

    threads = [threading.Thread(target=run, args=a) for a in (("cancel", cancel), ("take", take))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return out["cancel"], out["take"]


@pytest.mark.parametrize("take_qty", [2, 1])
def test_a_cancel_racing_a_fill(redis_book, take_qty):
    book = redis_book
    for _ in range(40):
        maker = book.place("ann", "sell", 2, 100)
        cancelled, taker = _race(
            book,
            lambda m=maker: book.cancel("ann", m.id),
            lambda: book.place("bob", "buy", take_qty, 100, tif="IOC"),
        )
        final = book.get("ann", maker.id)
        if taker.filled_quantity == 0:  # the cancel came first
            assert taker.kill_reason == "immediate_or_cancel"
            assert (cancelled.kill_reason, cancelled.filled_quantity) == ("user", 0)
        elif take_qty == 2:  # the fill came first and left nothing to cancel
            assert isinstance(cancelled, OrderNotOpen)
            assert final.status == "filled"
        else:  # the fill came first, the cancel killed the rest
            assert (cancelled.status, cancelled.kill_reason, cancelled.filled_quantity) == (
                "killed", "user", 1,
            )  # fmt: skip
        assert not final.is_open
        assert taker.filled_quantity in (0, take_qty)
    assert book.book().asks == [] and book.book().bids == []
    assert check_symbol(book.r, "BTC-USD") == []
