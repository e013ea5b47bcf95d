"""The live market page at / in a real browser: Debian's chromium driven by Playwright.

Playwright downloads no browser here: it launches the system's `chromium` (installed by
`make test`'s chromium step, apt-get). The page is served by the Procfile's own web command.
A test that cannot find chromium is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from engine.keys import symbol_keys
from engine.marketdata import MarketData
from tests.test_stream_server import Web

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

ROOT = Path(__file__).resolve().parent.parent
SYMBOL = "BTC-USD"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a headless chromium needs on a closed network, as root (see the README's tests).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 15_000

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on the PATH and `make test` could not install it "
    "(apt-get install chromium needs root and Debian's package servers)",
)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def web(redis_url, make_symbol):
    make_symbol(SYMBOL, "0.01", "0.0001")
    server = Web(redis_url)
    yield server
    # The page's long poll on GET /events keeps a request open for up to 25 s, which a
    # graceful stop would wait for: these tests do not need a graceful stop.
    try:
        server.stop(timeout=3)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture
def page(browser, web):
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{web.url}/#{SYMBOL}")
    expect(page.get_by_test_id("live")).to_have_text("live")
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def expect(locator):
    return playwright_api.expect(locator)


def api(web: Web, method: str, path: str, key: str | None = None, body: dict | None = None):
    req = urllib.request.Request(
        web.url + "/api/v1" + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"X-API-Key": key} if key else {})},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=5) as response:
        return json.load(response)


def use_key(page, key: str) -> None:
    page.get_by_test_id("api-key").fill(key)
    page.get_by_test_id("api-key-use").click()
    expect(page.get_by_test_id("my-orders")).to_be_visible()


def place(page, side: str, price: str, quantity: str, order_type: str = "limit") -> None:
    page.get_by_test_id(f"side-{side}").check()
    page.get_by_test_id("type").select_option(order_type)
    if order_type == "limit":
        page.get_by_test_id("price").fill(price)
    page.get_by_test_id("quantity").fill(quantity)
    page.get_by_test_id("submit").click()


def level(page, side: str, price: str):
    return page.get_by_test_id(side).locator(f'[data-testid="level"][data-price="{price}"]')


def test_place_see_it_filled_by_another_account_and_cancel_from_the_page(page, web, make_account):
    alice, bob = make_account("alice"), make_account("bob")
    use_key(page, alice)
    expect(page.get_by_test_id("my-orders")).to_contain_text("No orders in this market yet")

    # 1. alice places a limit buy through the form: it rests in the ladder and in her orders
    place(page, "buy", "100.00", "0.5")
    expect(page.get_by_test_id("message")).to_contain_text("enqueued")
    bid = level(page, "bids", "100.00")
    expect(bid).to_contain_text("0.5000")
    row = page.get_by_test_id("order-row").filter(has_text="100.00")
    expect(row).to_have_attribute("data-status", "enqueued")
    order_id = row.get_attribute("data-order-id")

    # 2. bob crosses it through the API: the trade reaches the tape, alice's order is filled
    sold = api(web, "POST", "/orders", bob,
               {"symbol": SYMBOL, "side": "sell", "price": "99.00", "quantity": "0.5"})  # fmt: skip
    assert sold["status"] == "filled"
    trade = page.get_by_test_id("tape").locator(
        f'[data-sequence="{sold["fills"][0]["trade_id"].split(":")[1]}"]'
    )
    expect(trade).to_contain_text("100.00")
    expect(trade).to_contain_text("0.5000")
    filled = page.locator(f'[data-testid="order-row"][data-order-id="{order_id}"]')
    expect(filled).to_have_attribute("data-status", "filled")
    expect(bid).to_have_count(0)
    expect(page.get_by_test_id("my-fills")).to_contain_text(order_id)

    # 3. alice rests a sell and cancels it with the button on its row
    place(page, "sell", "105.00", "1")
    ask = level(page, "asks", "105.00")
    expect(ask).to_contain_text("1.0000")
    resting = page.get_by_test_id("order-row").filter(has_text="105.00")
    expect(resting).to_have_attribute("data-status", "enqueued")
    resting.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("message")).to_contain_text("Cancelled")
    expect(resting).to_have_attribute("data-status", "killed")
    expect(resting).to_contain_text("killed (user)")
    expect(ask).to_have_count(0)
    assert (
        api(web, "GET", f"/orders/{resting.get_attribute('data-order-id')}", alice)["kill_reason"]
        == "user"
    )


def test_api_errors_show_as_readable_messages(page, make_account):
    place(page, "buy", "100.00", "1")
    expect(page.get_by_test_id("message")).to_contain_text("Paste an API key first")

    use_key(page, make_account("alice"))
    place(page, "buy", "100.001", "1")
    message = page.get_by_test_id("message")
    expect(message).to_contain_text("Order not placed: price must be a multiple of 0.01")
    expect(message).to_contain_text("422 validation_error")

    page.get_by_test_id("api-key-forget").click()
    use_key(page, "te_999_not-a-key")
    expect(message).to_contain_text("401")
    expect(message).to_contain_text("Check the API key")


def test_the_key_stays_in_this_tab_only(page, browser, web, make_account):
    use_key(page, make_account("alice"))
    stored = page.evaluate("() => sessionStorage.getItem('trade-engine.api-key')")
    assert stored and stored.startswith("te_")
    assert page.evaluate("() => localStorage.length") == 0
    other = browser.new_context().new_page()
    other.goto(web.url + "/")
    assert other.evaluate("() => sessionStorage.getItem('trade-engine.api-key')") is None
    other.context.close()


def seed_history(r, symbol: str, minutes: int, seed: int = 3) -> None:
    """Past trades for the demo's candles, written where place.lua writes trades, before any
    order: the engine's sequence continues after them (their events are not in the stream)."""
    sec, _ = r.time()
    start = (int(sec) // 60 - minutes) * 60
    rng = random.Random(seed)
    price, seq = 10_000_00, 0
    k = symbol_keys(symbol)
    for minute in range(minutes):
        for _ in range(rng.randint(2, 9)):
            seq += 1
            price = max(9_000_00, price + rng.randint(-900, 950))
            ts = (start + minute * 60 + rng.randint(0, 59)) * 1_000_000 + seq
            side = rng.choice("bs")
            member = f"{seq:016d}|{price}|{rng.randint(100, 40_000)}|{side}|{ts}|{0:016d}|{0:016d}"
            r.zadd(k.trades, {member: seq})
    r.hset(k.meta, mapping={"seq": seq})


def test_screenshot_of_a_busy_market(browser, web, r, make_account):
    """The README's picture: a book, trades, candles and an account's orders (var/ui/)."""
    alice, bob, carol = make_account("alice"), make_account("bob"), make_account("carol")
    seed_history(r, SYMBOL, 90)
    rng = random.Random(9)
    for i in range(1, 13):
        for side, key, sign in (("buy", bob, -1), ("sell", carol, 1)):
            price = f"{10_075 + sign * (i * 3 + rng.randint(0, 2))}.00"
            qty = f"{rng.randint(1, 40) / 10:.4f}"
            api(web, "POST", "/orders", key, {"symbol": SYMBOL, "side": side, "price": price,
                                               "quantity": qty})  # fmt: skip
    api(web, "POST", "/orders", alice, {"symbol": SYMBOL, "side": "buy", "price": "10074.00",
                                        "quantity": "0.75"})  # fmt: skip
    api(web, "POST", "/orders", alice, {"symbol": SYMBOL, "side": "sell", "price": "10150.00",
                                        "quantity": "0.4"})  # fmt: skip
    MarketData(r).fold(SYMBOL)

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{web.url}/#{SYMBOL}")
    expect(page.get_by_test_id("live")).to_have_text("live")
    use_key(page, alice)
    for side, price in (("sell", "10060.00"), ("buy", "10090.00"), ("sell", "10055.00")):
        api(web, "POST", "/orders", carol if side == "sell" else bob,
            {"symbol": SYMBOL, "side": side, "price": price, "quantity": "0.3"})  # fmt: skip
    expect(page.get_by_test_id("tape").locator("li")).to_have_count(60)
    expect(page.get_by_test_id("my-fills").get_by_test_id("fill-row")).not_to_have_count(0)
    MarketData(r).fold(SYMBOL)
    page.locator(".intervals button[data-interval='1m']").click()
    page.wait_for_timeout(1500)
    out = ROOT / "var" / "ui" / "market.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    if os.environ.get("UI_SCREENSHOT"):
        page.screenshot(path=os.environ["UI_SCREENSHOT"], full_page=True)
    context.close()
    assert out.stat().st_size > 20_000
