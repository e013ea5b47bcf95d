"""Every Redis key name, built in one place.

Everything one placement changes lives under the symbol's hash tag ``{SYMBOL}`` so that a
symbol's keys share one Redis Cluster slot; account-wide keys live under the account's own
tag ``{a:ID}``. ``docs/redis-keys.md`` documents each key with redis-cli examples.
"""

from __future__ import annotations

PREFIX = "te"

# Global, untagged: read by Python only (never touched by a script together with a book).
SYMBOLS = f"{PREFIX}:symbols"  # hash symbol -> JSON {tick_size, lot_size}
ACCOUNTS = f"{PREFIX}:accounts"  # hash account name -> account id
ACCOUNT_IDS = f"{PREFIX}:account_ids"  # counter for account ids
SCHEDULER_HEARTBEAT = f"{PREFIX}:scheduler:heartbeat"
METRICS = f"{PREFIX}:metrics"  # hash: counters the workers keep (lateness buckets, webhooks)
WEBHOOKS_DUE = f"{PREFIX}:webhooks:due"  # zset account id -> earliest due delivery (ms)


def lease(name: str) -> str:
    """Lease a periodic job takes first (SET NX PX) so two schedulers double nothing."""
    return f"{PREFIX}:lease:{name}"


class SymbolKeys:
    """The keys of one symbol's book, all in the symbol's cluster slot."""

    __slots__ = (
        "symbol",
        "tag",
        "meta",
        "bids",
        "asks",
        "bid_levels",
        "ask_levels",
        "level_sizes",
        "orders",
        "open",
        "final",
        "client_ids",
        "gtd",
        "gtc",
        "done",
        "trades",
        "fills",
        "order_fills",
        "events",
        "snapshot",
        "stats",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.tag = t = f"{PREFIX}:{{{symbol}}}"
        self.meta = f"{t}:meta"  # hash: seq, last_us, status
        self.bids = f"{t}:bids"  # zset member=%016d seq, score=-price ticks
        self.asks = f"{t}:asks"  # zset member=%016d seq, score=+price ticks
        self.bid_levels = f"{t}:bidpx"  # zset member=price ticks, score=-price: one per level
        self.ask_levels = f"{t}:askpx"  # zset member=price ticks, score=+price
        self.level_sizes = f"{t}:levels"  # hash bq<price>/bn<price> (aq/an): lots, order count
        self.orders = f"{t}:orders"  # hash seq -> order record (engine/records.py)
        self.open = f"{t}:open"  # zset lex: account|created_us %016d|seq %016d (open orders)
        self.final = f"{t}:final"  # zset lex: same members, final orders until retention
        self.client_ids = f"{t}:coid"  # hash account|client_order_id -> seq
        self.gtd = f"{t}:gtd"  # zset member=%016d seq, score=expires_us (resting GTD)
        self.gtc = f"{t}:gtc"  # list of seq: resting GTC orders in acceptance order (max age)
        self.done = f"{t}:done"  # list of seq: orders in the order they became final (retention)
        self.trades = f"{t}:trades"  # zset score=seq, member=trade record
        self.fills = f"{t}:fills"  # zset lex: account|time_us %016d|trade seq %016d|fill record
        self.order_fills = f"{t}:ofills"  # zset lex: order seq %016d|trade seq %016d|record
        self.events = f"{t}:events"  # stream, entry id = "<sequence>-0"
        self.snapshot = f"{t}:snapshot"  # hash: stream id, book state (housekeeping)
        self.stats = f"{t}:stats"  # hash: counters of handled events (fan-out, with its XACK)

    def place_keys(self) -> list[str]:
        """KEYS of lua/place.lua and the other book-changing scripts, in their order."""
        return [
            self.meta,
            self.bids,
            self.asks,
            self.bid_levels,
            self.ask_levels,
            self.level_sizes,
            self.orders,
            self.open,
            self.final,
            self.client_ids,
            self.gtd,
            self.gtc,
            self.done,
            self.trades,
            self.fills,
            self.order_fills,
            self.events,
        ]


_symbol_keys: dict[str, SymbolKeys] = {}


def symbol_keys(symbol: str) -> SymbolKeys:
    """Cached SymbolKeys for a symbol (key strings are built once per process)."""
    keys = _symbol_keys.get(symbol)
    if keys is None:
        keys = _symbol_keys[symbol] = SymbolKeys(symbol)
    return keys


class AccountKeys:
    """Account-wide keys, under the account's own cluster tag."""

    __slots__ = (
        "account_id",
        "account",
        "rate",
        "symbols",
        "feed",
        "feed_hw",
        "webhook",
        "wh_due",
        "wh_head",
        "wh_wait",
        "wh_tries",
    )

    def __init__(self, account_id: str) -> None:
        t = f"{PREFIX}:{{a:{account_id}}}"
        self.account_id = account_id
        self.account = f"{t}:account"  # hash: name, key_hash, revoked, created_us
        self.rate = f"{t}:rate"  # hash: token bucket (tokens, ts_us)
        self.symbols = f"{t}:symbols"  # set of symbols the account has placed orders in
        # Status updates (engine/feed.py, engine/webhooks.py):
        self.feed = f"{t}:feed"  # stream: the account's events (GET /events), id = cursor
        self.feed_hw = f"{t}:feedhw"  # hash symbol -> last symbol sequence in the feed
        self.webhook = f"{t}:webhook"  # hash: url, secret
        self.wh_due = f"{t}:wh:due"  # zset feed id -> next attempt (ms): one per order at most
        self.wh_head = f"{t}:wh:head"  # hash order id -> feed id being delivered
        self.wh_wait = f"{t}:wh:wait"  # hash order id -> feed ids waiting behind it
        self.wh_tries = f"{t}:wh:tries"  # hash feed id -> "attempts|first attempt ms"

    def auth_keys(self) -> list[str]:
        return [self.account, self.rate, self.symbols]


def seq_member(seq: int) -> str:
    """Zero-padded sequence: equal-price book members sort by arrival (16 digits > 2^53)."""
    return "%016d" % seq


class MarketDataKeys:
    """What the workers fold from a symbol's trades (engine/marketdata.py), in its slot."""

    __slots__ = ("symbol", "tag", "state")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.tag = t = f"{PREFIX}:{{{symbol}}}"
        # hash: seq (the last trade folded), last, last_qty, last_side, last_us
        self.state = f"{t}:md"

    def candles(self, seconds: int) -> str:
        """hash: <start s> -> "open|high|low|close|trades" (ticks), v<start s> -> volume lots."""
        return f"{self.tag}:candles:{seconds}"

    def candle_index(self, seconds: int) -> str:
        """zset: member and score = a candle's start in seconds (oldest first)."""
        return f"{self.tag}:candles:{seconds}:idx"


def marketdata_keys(symbol: str) -> MarketDataKeys:
    return MarketDataKeys(symbol)
