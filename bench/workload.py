"""The benchmark's seeded workload: limit orders around a moving mid price, and cancels.

The same seed gives the same operations, so the engine and the baseline see the same
sequence of orders. Cancels name an earlier order by its position in the workload; the
runner resolves that to an order still resting (or skips it) from the answers it has had.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

SYMBOLS = (("BTC-USD", "0.01", "0.0001"), ("ETH-USD", "0.01", "0.001"))
MID = 100_000  # ticks: 1000.00 at tick 0.01
MID_DRIFT = 2_000  # the mid wanders at most this many ticks either way
SPREAD = 12  # limit prices within mid ± SPREAD ticks: about half of them cross
# Far from any price the workload uses: where the deep-book phase parks its resting orders.
FAR_BID, FAR_ASK = 20_000, 180_000


@dataclass(frozen=True, slots=True)
class Op:
    """One operation: a limit GTC order, or (cancel=True) a cancel of a resting order."""

    symbol: str
    account: int  # index into the run's accounts
    side: str  # 'buy' | 'sell'
    price: int = 0  # ticks
    quantity: int = 0  # lots
    cancel: bool = False


class Workload:
    """Seeded generator: limit orders around a random-walk mid per symbol, 10% cancels."""

    def __init__(
        self,
        seed: int = 1,
        accounts: int = 4,
        cancel_share: float = 0.10,
        symbols: tuple[str, ...] = tuple(s for s, _t, _l in SYMBOLS),
    ) -> None:
        self.rng = random.Random(seed)
        self.accounts = accounts
        self.cancel_share = cancel_share
        self.symbols = symbols
        self.mid = {s: MID for s in symbols}

    def ops(self, n: int) -> Iterator[Op]:
        rng = self.rng
        for _ in range(n):
            symbol = rng.choice(self.symbols)
            account = rng.randrange(self.accounts)
            side = "buy" if rng.random() < 0.5 else "sell"
            if rng.random() < self.cancel_share:
                yield Op(symbol, account, side, cancel=True)
                continue
            mid = self.mid[symbol] + rng.choice((-1, 0, 1))
            mid = min(max(mid, MID - MID_DRIFT), MID + MID_DRIFT)
            self.mid[symbol] = mid
            price = mid + rng.randint(-SPREAD, SPREAD)
            yield Op(symbol, account, side, price, rng.randint(1, 20))

    def orders_only(self, n: int) -> Iterator[Op]:
        """n placements, no cancels (for per-call Redis time and HTTP bodies)."""
        count = 0
        while count < n:
            for op in self.ops(n - count):
                if not op.cancel:
                    count += 1
                    yield op


def far_orders(n: int, seed: int, symbols: tuple[str, ...], accounts: int) -> Iterator[Op]:
    """n resting limit orders far from the mid: bids below and asks above on every symbol.

    Each symbol gets n / len(symbols) of them, half bids and half asks (the side alternates
    with each round of symbols, so that with two symbols neither book is one-sided), spread
    over 10,000 price levels per side.
    """
    rng = random.Random(seed)
    for i in range(n):
        symbol = symbols[i % len(symbols)]
        if (i // len(symbols)) % 2:
            yield Op(
                symbol,
                rng.randrange(accounts),
                "buy",
                FAR_BID - rng.randrange(10_000),
                rng.randint(1, 20),
            )
        else:
            yield Op(
                symbol,
                rng.randrange(accounts),
                "sell",
                FAR_ASK + rng.randrange(10_000),
                rng.randint(1, 20),
            )
