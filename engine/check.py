"""Verify one symbol's whole Redis state (exchange-core's validateInternalState).

Reads every key of the symbol; meant for the CLI (`book check`) and tests, not for requests.
"""

from __future__ import annotations

from collections import defaultdict

from engine.keys import symbol_keys


def _scan_hash(redis, key: str) -> dict[str, str]:
    return dict(redis.hscan_iter(key, count=1000))


def check_symbol(redis, symbol: str, max_age: int | None = None) -> list[str]:
    """Every inconsistency found in the symbol's state, as readable sentences ([] = ok)."""
    k = symbol_keys(symbol)
    faults: list[str] = []
    meta = redis.hgetall(k.meta)
    if not meta:
        return [f"symbol {symbol} has no meta hash (unknown symbol)"]
    seq = int(meta.get("seq", 0))
    orders = _scan_hash(redis, k.orders)
    parsed = {}
    for member, raw in orders.items():
        f = raw.split("|")
        if len(f) != 15:
            faults.append(f"order {member}: record has {len(f)} fields, not 15")
            continue
        parsed[member] = f
        qty, filled, status = int(f[5]), int(f[6]), f[7]
        if int(member) > seq:
            faults.append(f"order {member}: sequence above the symbol's sequence {seq}")
        if not 0 <= filled <= qty:
            faults.append(f"order {member}: filled {filled} outside 0..{qty}")
        if status == "e" and filled != 0:
            faults.append(f"order {member}: enqueued with {filled} filled")
        if status == "p" and not 0 < filled < qty:
            faults.append(f"order {member}: partially_filled with {filled}/{qty}")
        if status == "f" and filled != qty:
            faults.append(f"order {member}: filled with {filled}/{qty}")
        if status == "k" and not f[8]:
            faults.append(f"order {member}: killed without a kill reason")

    def index_member(m: str) -> str:
        f = parsed[m]
        return f"{f[0]}|{int(f[9]):016d}|{m}"

    book: dict[str, tuple[str, int]] = {}
    levels: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for side, key, sign in (("b", k.bids, -1), ("s", k.asks, 1)):
        last = None
        for member, score in redis.zscan_iter(key, count=1000):
            f = parsed.get(member)
            if f is None:
                faults.append(f"book {side}: {member} has no order record")
                continue
            price = int(score) * sign
            if f[1] != side:
                faults.append(f"book {side}: order {member} is on the other side")
            if f[2] != "l" or f[4] == "" or int(f[4]) != price:
                faults.append(f"book {side}: order {member} rests at {price}, record says {f[4]!r}")
            if f[7] not in ("e", "p"):
                faults.append(f"book {side}: order {member} is not open (status {f[7]})")
            if f[3] not in ("GTC", "GTD"):
                faults.append(f"book {side}: order {member} with time in force {f[3]} rests")
            remaining = int(f[5]) - int(f[6])
            lv = levels[(side, price)]
            lv[0] += remaining
            lv[1] += 1
            book[member] = (side, price)
            last = (price, member)
        del last
    best_bid = redis.zrange(k.bids, 0, 0, withscores=True)
    best_ask = redis.zrange(k.asks, 0, 0, withscores=True)
    if best_bid and best_ask and -best_bid[0][1] >= best_ask[0][1]:
        faults.append(
            f"book is crossed: best bid {-best_bid[0][1]:.0f} >= best ask {best_ask[0][1]:.0f}"
        )

    # Price-level aggregates.
    stored = _scan_hash(redis, k.level_sizes)
    expected: dict[str, int] = {}
    for (side, price), (lots, count) in levels.items():
        p = "b" if side == "b" else "a"
        expected[f"{p}q{price}"] = lots
        expected[f"{p}n{price}"] = count
    for field in sorted(set(stored) | set(expected)):
        if int(stored.get(field, 0)) != expected.get(field, 0):
            faults.append(
                f"level {field}: stored {stored.get(field)}, book says {expected.get(field)}"
            )
    for side, key, p in (("b", k.bid_levels, "b"), ("s", k.ask_levels, "a")):
        px = {m for m, _ in redis.zscan_iter(key, count=1000)}
        want = {str(price) for (s, price) in levels if s == side}
        if px != want:
            faults.append(f"{p} price levels {sorted(px ^ want)[:5]} differ from the book")

    # Every open order rests; the open/final indexes hold exactly the open/final orders.
    open_idx = {m for m, _ in redis.zscan_iter(k.open, count=1000)}
    final_idx = {m for m, _ in redis.zscan_iter(k.final, count=1000)}
    want_open = {index_member(m) for m, f in parsed.items() if f[7] in ("e", "p")}
    want_final = {index_member(m) for m, f in parsed.items() if f[7] in ("f", "k")}
    for m, f in parsed.items():
        if f[7] in ("e", "p") and m not in book:
            faults.append(f"order {m} is open but not in the book")
    if open_idx != want_open:
        faults.append(f"open index differs from open orders: {sorted(open_idx ^ want_open)[:5]}")
    if not final_idx <= want_final:
        faults.append(f"final index holds non-final orders: {sorted(final_idx - want_final)[:5]}")
    if want_final - final_idx:
        faults.append(
            f"final orders missing from the final index: {sorted(want_final - final_idx)[:5]}"
        )

    # Deadlines: every resting GTD order is in the deadline zset at its expires_at.
    gtd = dict(redis.zscan_iter(k.gtd, count=1000))
    want_gtd = {m: int(f[11]) for m, f in parsed.items() if f[7] in ("e", "p") and f[3] == "GTD"}
    if {m: int(s) for m, s in gtd.items()} != want_gtd:
        faults.append("GTD deadline index differs from the resting GTD orders")
    if max_age:
        listed = set(redis.lrange(k.gtc, 0, -1))
        missing = [
            m for m, f in parsed.items() if f[7] in ("e", "p") and f[3] == "GTC" and m not in listed
        ]
        if missing:
            faults.append(f"resting GTC orders missing from the max-age list: {missing[:5]}")

    # client_order_id index points at the account's order with that id.
    for field, member in _scan_hash(redis, k.client_ids).items():
        acct, _, coid = field.partition("|")
        f = parsed.get(member)
        if f is not None and (f[0] != acct or f[14] != coid):
            faults.append(f"client_order_id {field} points at order {member} of another id")

    # The event stream ends at the symbol's sequence.
    last = redis.xrevrange(k.events, count=1)
    if last:
        last_seq = int(last[0][0].split("-")[0])
        if last_seq != seq:
            faults.append(f"event stream ends at {last_seq}, symbol sequence is {seq}")
    elif seq and not redis.exists(k.snapshot):
        faults.append(f"symbol sequence is {seq} but the event stream is empty")
    return faults
