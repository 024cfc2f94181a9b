"""What the harness runs inside the page, beside the page's own script: reading what the
editor sees from the DOM, and timing how late the page's timers fire."""

# Run in the page by the harness, not by the page's own script: what an editor would see.
READ_DOM = """() => {
  const body = document.body;
  const text = (selector) => (document.querySelector(selector) || {}).textContent || "";
  return {
    document: performance.timeOrigin,
    loaded: body.dataset.loaded || "false",
    state: body.dataset.state || "idle",
    websocketEnabled: body.dataset.websocketEnabled || "",
    unread: Number(text("#badge")) || 0,
    projects: [...document.querySelectorAll("#projects li")].map(
      (li) => [li.dataset.id, li.textContent]),
    dialogs: [...document.querySelectorAll("#dialogs [data-dialog]")].map(
      (d) => [d.id, d.dataset.dialog]),
    delays: (body.dataset.reconnectDelays || "").split(",").filter(Boolean).map(Number),
  };
}"""


# Run in every document before the page's own script: how late the page's timers fire, the
# renderer's share of the harness's lag (lag.py). Chromium is a process of its own, so a busy
# machine can starve it when the harness's loops are fine. Stamps are epoch milliseconds.
WATCH_TIMERS = """(interval) => {
  const seen = [];
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    const late = now - last - interval;
    last = now;
    if (late >= 2) {
      seen.push([performance.timeOrigin + now, late]);
      if (seen.length > 256) seen.shift();
    }
  }, interval);
  Object.defineProperty(window, "__wsharnessTimerLag", { value: seen });
}"""
READ_TIMER_LAG = "() => window.__wsharnessTimerLag || []"
