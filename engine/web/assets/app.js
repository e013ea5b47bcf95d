// Trade Engine's live market page: plain JavaScript, no build step.
//
// Market data: GET /api/v1/stream (Server-Sent Events: a book snapshot, then updates with
// trades and changed levels), /ticker and /candles. Private data, once an API key is pasted
// (kept in this tab's sessionStorage only): /orders and /fills, read again whenever the
// account's event feed (GET /events, long poll) has news, after every trade the stream
// brings, and every few seconds anyway. Every API error is shown as a readable message.
"use strict";

(() => {
  const API = "/api/v1";
  const KEY_STORE = "trade-engine.api-key";
  const LEVELS = 16; // price levels shown per side in the ladder
  const STREAM_DEPTH = 100; // levels per side in the stream's snapshot (depth chart)
  const TAPE_SIZE = 60;
  const PRIVATE_POLL_MS = 5000;
  const EVENTS_WAIT_S = 25; // GET /events long poll
  const TICKER_POLL_MS = 5000;
  const CANDLES_POLL_MS = 15000;
  const INTERVAL_SECONDS = { "1m": 60, "5m": 300, "1h": 3600, "1d": 86400 };

  const $ = (id) => document.getElementById(id);

  const state = {
    symbols: [],
    spec: null,
    book: { seq: 0, bids: new Map(), asks: new Map() }, // price -> [quantity, orders]
    source: null,
    interval: "1m",
    chart: null,
    candleSeries: null,
    volumeSeries: null,
    lastBar: null,
    candleSeq: 0, // the last trade folded into the candles the chart was loaded with
    lastTradeSeq: 0,
    key: sessionStorage.getItem(KEY_STORE) || "",
    timers: [],
    privateBusy: false,
    privateAgain: false,
    eventsFor: null, // the key the event feed loop follows
  };

  // -- the API --------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field || null;
    }
  }

  async function api(method, path, body, { auth = false } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) {
      if (!state.key) throw new ApiError(0, "no_key", "Paste an API key first (top right).");
      headers["X-API-Key"] = state.key;
    }
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, "network", `The server cannot be reached (${err.message}).`);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const e = data && data.error;
      if (e) throw new ApiError(response.status, e.code, e.message, e.field);
      throw new ApiError(response.status, `http_${response.status}`,
        `The server answered ${response.status} ${response.statusText}.`);
    }
    return data;
  }

  function describe(err, what) {
    if (!(err instanceof ApiError)) return `${what}: ${err && err.message ? err.message : err}`;
    if (err.status === 0) return `${what}: ${err.message}`;
    const field = err.field ? ` (field ${err.field})` : "";
    let hint = "";
    if (err.status === 401) hint = " Check the API key.";
    if (err.status === 429) hint = " Slow down and try again in a moment.";
    if (err.status === 503) hint = " Try again in a moment.";
    return `${what}: ${err.message}${field}. [${err.status} ${err.code}]${hint}`;
  }

  let messageTimer = null;
  function showMessage(text, kind = "error") {
    const box = $("message");
    box.textContent = text;
    box.className = `message ${kind === "ok" ? "ok" : ""}`;
    box.dataset.kind = kind;
    box.hidden = false;
    clearTimeout(messageTimer);
    messageTimer = setTimeout(() => { box.hidden = true; }, kind === "ok" ? 6000 : 15000);
  }

  // -- numbers (decimal strings from the API; BigInt for exact ordering) ----------------------

  const units = (text) => BigInt(text.replace(".", ""));
  const byPriceAsc = (a, b) => (units(a[0]) < units(b[0]) ? -1 : units(a[0]) > units(b[0]) ? 1 : 0);
  const byPriceDesc = (a, b) => -byPriceAsc(a, b);
  const isZero = (text) => /^0*\.?0*$/.test(text);
  const utcTime = (iso) => iso.slice(11, 19);

  function decimalsOf(step) {
    const i = step.indexOf(".");
    return i < 0 ? 0 : step.length - i - 1;
  }

  // -- the book ---------------------------------------------------------------------------------

  function applySnapshot(data) {
    state.book = { seq: data.sequence, bids: new Map(), asks: new Map() };
    for (const [p, q, n] of data.bids) state.book.bids.set(p, [q, n]);
    for (const [p, q, n] of data.asks) state.book.asks.set(p, [q, n]);
    renderBook();
  }

  function applyLevels(side, levels) {
    for (const [p, q, n] of levels) {
      if (n === 0 || isZero(q)) side.delete(p);
      else side.set(p, [q, n]);
    }
  }

  function renderLadder(el, levels, max) {
    const rows = levels.map(([price, [qty, count]]) => {
      const row = document.createElement("div");
      row.className = "row";
      row.dataset.price = price;
      row.setAttribute("data-testid", "level");
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${Math.min(100, (Number(qty) / max) * 100).toFixed(1)}%`;
      const cells = [["price", price], ["qty", qty], ["count", String(count)]].map(([cls, text]) => {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = text;
        return span;
      });
      row.append(bar, ...cells);
      row.addEventListener("click", () => {
        $("f-price").value = price;
        $("f-type").value = "limit";
        syncForm();
      });
      return row;
    });
    el.replaceChildren(...rows);
  }

  function renderBook() {
    const asks = [...state.book.asks.entries()].sort(byPriceAsc);
    const bids = [...state.book.bids.entries()].sort(byPriceDesc);
    const shownAsks = asks.slice(0, LEVELS).reverse();
    const shownBids = bids.slice(0, LEVELS);
    const max = Math.max(1e-18, ...[...shownAsks, ...shownBids].map(([, [q]]) => Number(q)));
    renderLadder($("asks"), shownAsks, max);
    renderLadder($("bids"), shownBids, max);
    $("book-seq").textContent = `#${state.book.seq}`;
    const bestBid = bids[0], bestAsk = asks[0];
    if (bestBid && bestAsk && state.spec) {
      const d = decimalsOf(state.spec.tick_size);
      const spread = Number(bestAsk[0]) - Number(bestBid[0]);
      $("spread").textContent = `spread ${spread.toFixed(d)}`;
    } else {
      $("spread").textContent = "–";
    }
    $("t-bidask").textContent = `${bestBid ? bestBid[0] : "–"} / ${bestAsk ? bestAsk[0] : "–"}`;
    drawDepth(bids, asks);
  }

  function drawDepth(bids, asks) {
    const canvas = $("depth");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    const g = canvas.getContext("2d");
    g.scale(ratio, ratio);
    g.clearRect(0, 0, width, height);
    const cumulate = (levels) => {
      let total = 0;
      return levels.map(([p, [q]]) => [Number(p), (total += Number(q))]);
    };
    const b = cumulate(bids), a = cumulate(asks);
    if (!b.length && !a.length) {
      g.fillStyle = "#7d8595";
      g.fillText("No orders in the book", 10, 20);
      return;
    }
    const prices = [...b, ...a].map(([p]) => p);
    let lo = Math.min(...prices), hi = Math.max(...prices);
    if (lo === hi) { lo -= 1; hi += 1; }
    const top = Math.max(...[...b, ...a].map(([, c]) => c));
    const pad = 18;
    const x = (p) => ((p - lo) / (hi - lo)) * (width - 2) + 1;
    const y = (c) => height - pad - (c / top) * (height - pad - 6);
    const area = (points, stroke, fill, leftward) => {
      if (!points.length) return;
      g.beginPath();
      g.moveTo(x(points[0][0]), height - pad);
      let lastY = height - pad;
      for (const [p, c] of points) {
        g.lineTo(x(p), lastY);
        lastY = y(c);
        g.lineTo(x(p), lastY);
      }
      const end = leftward ? x(lo) : x(hi);
      g.lineTo(end, lastY);
      g.lineTo(end, height - pad);
      g.closePath();
      g.fillStyle = fill;
      g.fill();
      g.strokeStyle = stroke;
      g.stroke();
    };
    area(b, "#26a69a", "rgba(38,166,154,0.25)", true);
    area(a, "#ef5350", "rgba(239,83,80,0.25)", false);
    g.fillStyle = "#7d8595";
    g.font = "11px system-ui, sans-serif";
    const d = state.spec ? decimalsOf(state.spec.tick_size) : 2;
    g.fillText(lo.toFixed(d), 2, height - 4);
    const hiText = hi.toFixed(d);
    g.fillText(hiText, width - g.measureText(hiText).width - 2, height - 4);
  }

  // -- trades and candles ---------------------------------------------------------------------

  function addTrades(trades) {
    const tape = $("tape");
    for (const t of trades) {
      if (t.sequence <= state.lastTradeSeq) continue;
      state.lastTradeSeq = t.sequence;
      const li = document.createElement("li");
      li.className = `${t.taker_side} new`;
      li.setAttribute("data-testid", "trade");
      li.dataset.sequence = String(t.sequence);
      for (const [cls, text] of [["price", t.price], ["qty", t.quantity], ["time", utcTime(t.created_at)]]) {
        const span = document.createElement("span");
        span.className = cls;
        span.textContent = text;
        li.append(span);
      }
      tape.prepend(li);
      updateLastBar(t);
      $("t-last").textContent = t.price;
      $("t-last").className = t.taker_side === "buy" ? "up" : "down";
    }
    while (tape.children.length > TAPE_SIZE) tape.lastElementChild.remove();
  }

  async function loadTrades() {
    const symbol = state.spec.symbol;
    try {
      const data = await api("GET", `/trades/${encodeURIComponent(symbol)}?limit=${TAPE_SIZE}`);
      if (state.spec.symbol !== symbol) return;
      addTrades(data.trades.slice().reverse());
    } catch (err) {
      showMessage(describe(err, "Could not load the trades"));
    }
  }

  function setupChart() {
    const LW = window.LightweightCharts;
    if (!LW) {
      $("candles").textContent = "The chart library did not load.";
      return;
    }
    state.chart = LW.createChart($("candles"), {
      autoSize: true,
      layout: { background: { type: "solid", color: "#171b23" }, textColor: "#d7dbe3" },
      grid: { vertLines: { color: "#222733" }, horzLines: { color: "#222733" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#262c38" },
      rightPriceScale: { borderColor: "#262c38" },
    });
    state.candleSeries = state.chart.addSeries(LW.CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false,
      wickUpColor: "#26a69a", wickDownColor: "#ef5350",
    });
    state.volumeSeries = state.chart.addSeries(LW.HistogramSeries, {
      priceFormat: { type: "volume" }, priceScaleId: "", color: "rgba(79,140,255,0.45)",
    });
    state.volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  }

  const bar = (c) => ({
    time: Math.floor(Date.parse(c.start) / 1000),
    open: Number(c.open), high: Number(c.high), low: Number(c.low), close: Number(c.close),
    volume: Number(c.volume),
  });

  async function loadCandles() {
    if (!state.candleSeries || !state.spec) return;
    const symbol = state.spec.symbol, interval = state.interval;
    try {
      const data = await api("GET",
        `/candles/${encodeURIComponent(symbol)}?interval=${interval}&limit=500`);
      if (state.spec.symbol !== symbol || state.interval !== interval) return;
      const bars = data.candles.map(bar);
      // The workers fold trades about once a second: keep a newer bar the stream built.
      if (state.lastBar && (!bars.length || bars[bars.length - 1].time < state.lastBar.time)) {
        bars.push(state.lastBar);
      }
      state.candleSeq = data.sequence || 0;
      state.candleSeries.setData(bars);
      state.volumeSeries.setData(bars.map((b) => ({ time: b.time, value: b.volume })));
      state.lastBar = bars.length ? { ...bars[bars.length - 1] } : null;
    } catch (err) {
      showMessage(describe(err, "Could not load the candles"));
    }
  }

  function updateLastBar(trade) {
    if (!state.candleSeries || trade.sequence <= state.candleSeq) return; // already folded in
    const seconds = INTERVAL_SECONDS[state.interval];
    const t = Math.floor(Date.parse(trade.created_at) / 1000 / seconds) * seconds;
    const p = Number(trade.price), q = Number(trade.quantity);
    let b = state.lastBar;
    if (b && t < b.time) return; // older than the chart's last bar: the next reload has it
    if (!b || t > b.time) b = { time: t, open: p, high: p, low: p, close: p, volume: 0 };
    b.high = Math.max(b.high, p);
    b.low = Math.min(b.low, p);
    b.close = p;
    b.volume += q;
    state.lastBar = b;
    state.candleSeries.update({ time: b.time, open: b.open, high: b.high, low: b.low, close: b.close });
    state.volumeSeries.update({ time: b.time, value: b.volume });
  }

  async function loadTicker() {
    if (!state.spec) return;
    const symbol = state.spec.symbol;
    try {
      const t = await api("GET", `/ticker/${encodeURIComponent(symbol)}`);
      if (state.spec.symbol !== symbol) return;
      if (t.last_price !== null && $("t-last").textContent === "–") $("t-last").textContent = t.last_price;
      const change = $("t-change");
      if (t.change_24h === null) {
        change.textContent = "–";
        change.className = "";
      } else {
        const up = !t.change_24h.startsWith("-");
        change.textContent = `${up ? "+" : ""}${t.change_24h} (${up ? "+" : ""}${t.change_percent_24h}%)`;
        change.className = up ? "up" : "down";
      }
      $("t-high").textContent = t.high_24h ?? "–";
      $("t-low").textContent = t.low_24h ?? "–";
      $("t-volume").textContent = t.volume_24h;
    } catch (err) {
      showMessage(describe(err, "Could not load the ticker"));
    }
  }

  // -- the stream -------------------------------------------------------------------------------

  function live(on, text) {
    const el = $("live");
    el.className = `live ${on ? "on" : "off"}`;
    el.textContent = text || (on ? "live" : "reconnecting");
  }

  function connect() {
    if (state.source) state.source.close();
    const symbol = state.spec.symbol;
    const url = `${API}/stream?symbol=${encodeURIComponent(symbol)}&depth=${STREAM_DEPTH}`;
    const source = new EventSource(url);
    state.source = source;
    live(false, "connecting");
    source.addEventListener("open", () => live(true));
    source.addEventListener("snapshot", (e) => {
      applySnapshot(JSON.parse(e.data));
      live(true);
    });
    source.addEventListener("update", (e) => {
      const u = JSON.parse(e.data);
      if (u.prev > state.book.seq) {
        // Something was missed: start over from a new snapshot.
        connect();
        return;
      }
      if (u.sequence > state.book.seq) {
        applyLevels(state.book.bids, u.bids);
        applyLevels(state.book.asks, u.asks);
        state.book.seq = u.sequence;
        renderBook();
      }
      if (u.trades.length) {
        addTrades(u.trades);
        refreshPrivate();
      }
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        live(false, "disconnected");
        showMessage(`The market data stream for ${symbol} stopped; reconnecting in 3 s.`);
        setTimeout(() => { if (state.source === source) connect(); }, 3000);
      } else {
        live(false); // EventSource reconnects by itself, with Last-Event-ID
      }
    });
  }

  // -- the account ------------------------------------------------------------------------------

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function renderOrders(orders) {
    const body = $("orders").querySelector("tbody");
    const rows = orders.map((o) => {
      const tr = document.createElement("tr");
      tr.setAttribute("data-testid", "order-row");
      tr.dataset.orderId = o.id;
      tr.dataset.status = o.status;
      const status = document.createElement("span");
      status.className = `status ${o.status}`;
      status.setAttribute("data-testid", "order-status");
      status.textContent = o.status.replace("_", " ") + (o.kill_reason ? ` (${o.kill_reason})` : "");
      const statusCell = cell("");
      statusCell.append(status);
      const action = cell("");
      if (o.status === "enqueued" || o.status === "partially_filled") {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "small";
        button.textContent = "Cancel";
        button.setAttribute("data-testid", "cancel");
        button.addEventListener("click", () => cancelOrder(o.id, button));
        action.append(button);
      }
      tr.append(
        cell(o.id), cell(o.side, o.side), cell(o.type), cell(o.price ?? "market"),
        cell(o.quantity), cell(o.filled_quantity), statusCell, action,
      );
      return tr;
    });
    body.replaceChildren(...rows);
    if (!orders.length) {
      const tr = document.createElement("tr");
      const td = cell("No orders in this market yet.", "muted");
      td.colSpan = 8;
      tr.append(td);
      body.append(tr);
    }
    $("cancel-all").hidden = !orders.some((o) => o.status === "enqueued" || o.status === "partially_filled");
  }

  function renderFills(fills) {
    const body = $("fills").querySelector("tbody");
    const rows = fills.map((f) => {
      const tr = document.createElement("tr");
      tr.setAttribute("data-testid", "fill-row");
      tr.append(
        cell(f.trade_id), cell(f.order_id), cell(f.side, f.side), cell(f.price),
        cell(f.quantity), cell(f.liquidity), cell(utcTime(f.created_at)),
      );
      return tr;
    });
    body.replaceChildren(...rows);
    if (!fills.length) {
      const tr = document.createElement("tr");
      const td = cell("No fills in this market yet.", "muted");
      td.colSpan = 7;
      tr.append(td);
      body.append(tr);
    }
  }

  async function refreshPrivate() {
    if (!state.key || !state.spec) return;
    if (state.privateBusy) {
      state.privateAgain = true;
      return;
    }
    state.privateBusy = true;
    const symbol = encodeURIComponent(state.spec.symbol);
    try {
      const [orders, fills] = await Promise.all([
        api("GET", `/orders?symbol=${symbol}&limit=25`, undefined, { auth: true }),
        api("GET", `/fills?symbol=${symbol}&limit=25`, undefined, { auth: true }),
      ]);
      renderOrders(orders.orders);
      renderFills(fills.fills);
    } catch (err) {
      showMessage(describe(err, "Could not load your orders"));
    } finally {
      state.privateBusy = false;
      if (state.privateAgain) {
        state.privateAgain = false;
        refreshPrivate();
      }
    }
  }

  // The account's event feed: skip what is already there, then wait for news (long poll).
  async function followEvents() {
    const key = state.key;
    if (!key || state.eventsFor === key) return;
    state.eventsFor = key;
    const q = (after, extra) =>
      `/events?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ""}${extra}`;
    let after = null;
    try {
      for (let page = 0; page < 100; page++) {
        const r = await api("GET", q(after, ""), undefined, { auth: true });
        after = r.next_cursor || after;
        if (r.events.length < 1000) break;
      }
      while (state.key === key) {
        const r = await api("GET", q(after, `&wait=${EVENTS_WAIT_S}`), undefined, { auth: true });
        if (state.key !== key) break;
        after = r.next_cursor || after;
        if (r.events.some((e) => state.spec && e.order && e.order.symbol === state.spec.symbol)) {
          refreshPrivate();
        }
      }
    } catch (err) {
      // 401 is shown by the orders' refresh; anything else: the polling goes on regardless.
      if (!(err instanceof ApiError && err.status === 401)) {
        setTimeout(() => { if (state.eventsFor === key) { state.eventsFor = null; followEvents(); } }, 5000);
        return;
      }
    }
    if (state.eventsFor === key) state.eventsFor = null;
  }

  function showKeyState() {
    const has = Boolean(state.key);
    $("key-forget").hidden = !has;
    $("api-key").placeholder = has ? "API key set (this tab only)" : "Paste an API key";
    $("mine-hint").hidden = has;
    $("orders").hidden = !has;
    $("fills").hidden = !has;
    if (!has) $("cancel-all").hidden = true;
  }

  async function cancelOrder(id, button) {
    if (button) button.disabled = true;
    try {
      const o = await api("DELETE", `/orders/${encodeURIComponent(id)}`, undefined, { auth: true });
      showMessage(`Cancelled ${o.id} (${o.filled_quantity} of ${o.quantity} filled).`, "ok");
    } catch (err) {
      showMessage(describe(err, `Could not cancel ${id}`));
    } finally {
      if (button) button.disabled = false;
      refreshPrivate();
    }
  }

  async function cancelAll() {
    try {
      const r = await api("DELETE", `/orders?symbol=${encodeURIComponent(state.spec.symbol)}`,
        undefined, { auth: true });
      showMessage(`Cancelled ${r.killed.length} order(s).`, "ok");
    } catch (err) {
      showMessage(describe(err, "Could not cancel your orders"));
    } finally {
      refreshPrivate();
    }
  }

  // -- the order form ---------------------------------------------------------------------------

  function syncForm() {
    const form = $("order-form");
    const side = form.elements.side.value;
    const market = $("f-type").value === "market";
    const tif = $("f-tif");
    for (const option of tif.options) option.disabled = market && !["IOC", "FOK"].includes(option.value);
    if (market && !["IOC", "FOK"].includes(tif.value)) tif.value = "IOC";
    $("price-row").hidden = market;
    $("post-only-row").hidden = market || ["IOC", "FOK"].includes(tif.value);
    $("expires-row").hidden = tif.value !== "GTD";
    const base = state.spec ? state.spec.symbol.split("-")[0] : "";
    const submit = $("f-submit");
    submit.textContent = `${side === "buy" ? "Buy" : "Sell"} ${base}`;
    submit.className = side;
  }

  async function placeOrder(event) {
    event.preventDefault();
    if (!state.spec) return;
    const form = $("order-form");
    const type = $("f-type").value;
    const tif = $("f-tif").value;
    const body = {
      symbol: state.spec.symbol,
      side: form.elements.side.value,
      type,
      quantity: $("f-quantity").value.trim(),
      time_in_force: tif,
    };
    if (type === "limit") body.price = $("f-price").value.trim();
    if (tif === "GTD") {
      const local = $("f-expires").value;
      if (!local) {
        showMessage("Order not placed: choose when a GTD order expires.");
        return;
      }
      body.expires_at = new Date(local).toISOString();
    }
    if (type === "limit" && !["IOC", "FOK"].includes(tif) && $("f-post-only").checked) {
      body.post_only = true;
    }
    const submit = $("f-submit");
    submit.disabled = true;
    try {
      const o = await api("POST", "/orders", body, { auth: true });
      const filled = o.fills.length ? `, ${o.filled_quantity} filled at ${o.average_price}` : "";
      const why = o.kill_reason ? ` (${o.kill_reason})` : "";
      showMessage(`Order ${o.id}: ${o.status.replace("_", " ")}${why}${filled}.`, "ok");
    } catch (err) {
      showMessage(describe(err, "Order not placed"));
    } finally {
      submit.disabled = false;
      refreshPrivate();
    }
  }

  // -- symbols and start ------------------------------------------------------------------------

  function selectSymbol(name) {
    const spec = state.symbols.find((s) => s.symbol === name) || state.symbols[0];
    if (!spec) return;
    state.spec = spec;
    $("symbol").value = spec.symbol;
    if (location.hash !== `#${spec.symbol}`) history.replaceState(null, "", `#${spec.symbol}`);
    document.title = `${spec.symbol} · Trade Engine`;
    state.lastTradeSeq = 0;
    state.lastBar = null;
    state.candleSeq = 0;
    $("tape").replaceChildren();
    for (const id of ["t-last", "t-change", "t-high", "t-low", "t-volume", "t-bidask"]) {
      $(id).textContent = "–";
      $(id).className = "";
    }
    $("f-price").placeholder = `step ${spec.tick_size}`;
    $("f-quantity").placeholder = `step ${spec.lot_size}`;
    if (state.candleSeries) {
      const d = decimalsOf(spec.tick_size);
      state.candleSeries.applyOptions({
        priceFormat: { type: "price", precision: d, minMove: Number(spec.tick_size) },
      });
      state.candleSeries.setData([]);
      state.volumeSeries.setData([]);
    }
    if (spec.status === "halted") showMessage(`${spec.symbol} is halted: new orders are refused.`);
    syncForm();
    applySnapshot({ sequence: 0, bids: [], asks: [] });
    connect();
    loadTrades().then(loadCandles);
    loadTicker();
    refreshPrivate();
  }

  async function start() {
    setupChart();
    showKeyState();
    $("order-form").addEventListener("submit", placeOrder);
    $("order-form").addEventListener("change", syncForm);
    $("symbol").addEventListener("change", (e) => selectSymbol(e.target.value));
    $("cancel-all").addEventListener("click", cancelAll);
    $("key-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) {
        showMessage("Paste an API key into the box first.");
        return;
      }
      state.key = key;
      sessionStorage.setItem(KEY_STORE, key);
      $("api-key").value = "";
      showKeyState();
      refreshPrivate();
      followEvents();
    });
    $("key-forget").addEventListener("click", () => {
      state.key = "";
      sessionStorage.removeItem(KEY_STORE);
      showKeyState();
    });
    for (const button of document.querySelectorAll(".intervals button")) {
      button.addEventListener("click", () => {
        state.interval = button.dataset.interval;
        for (const b of document.querySelectorAll(".intervals button")) b.classList.toggle("on", b === button);
        state.lastBar = null;
        state.candleSeq = 0;
        loadCandles();
      });
    }
    window.addEventListener("resize", renderBook);
    try {
      state.symbols = (await api("GET", "/symbols")).symbols;
    } catch (err) {
      showMessage(describe(err, "Could not load the markets"));
      return;
    }
    const picker = $("symbol");
    picker.replaceChildren(...state.symbols.map((s) => new Option(s.symbol, s.symbol)));
    if (!state.symbols.length) {
      showMessage("No markets yet: add one with `flask --app app symbols add`.");
      return;
    }
    selectSymbol(decodeURIComponent(location.hash.slice(1)));
    state.timers.push(setInterval(refreshPrivate, PRIVATE_POLL_MS));
    followEvents();
    state.timers.push(setInterval(loadTicker, TICKER_POLL_MS));
    state.timers.push(setInterval(loadCandles, CANDLES_POLL_MS));
  }

  document.addEventListener("DOMContentLoaded", start);
})();
