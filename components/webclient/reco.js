// reco.js: recommendations and reading events for a publisher's pages. An ES module, no
// dependencies. Served by the recommend service at /reco.js; docs/integrate.md shows its use.
//
//   import { createReco } from "https://reco.example.com/reco.js";
//   const reco = createReco({ recommendUrl: "https://reco.example.com",
//                             collectorUrl: "https://events.example.com",
//                             userId: "reader-42", consent: true });
//   const list = await reco.recommend({ k: 6, context: { page: "home" } });
//   reco.render(list, document.querySelector("#for-you"), (item) => `<a href="/a/${item.article_id}">...</a>`);
//   reco.view("a-this-story"); reco.trackDwell("a-this-story");
//
// Impressions are logged by the recommend service, never here. A click echoes the answer's
// request_id and the item's position; dwell is the visible reading time of an article page.
// Without consent no event is sent and the lists are non-personal (no reader id leaves the page).

const RETRYABLE = new Set([429, 503]);

function uuid4() {
  if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function trimSlash(url) {
  return String(url || "").replace(/\/+$/, "");
}

export function createReco(options) {
  const opts = { batchMs: 1000, maxBatch: 50, maxQueue: 1000, ...options };
  const recommendUrl = trimSlash(opts.recommendUrl);
  const eventsUrl = `${trimSlash(opts.collectorUrl)}/events`;
  let userId = opts.userId || null;
  let consent = Boolean(opts.consent);
  let queue = [];
  let timer = null;
  let retryAt = 0;
  let sending = false;
  const stats = { sent: 0, retried: 0, beacons: 0, dropped: 0 };

  function now() {
    return new Date().toISOString();
  }

  function schedule(ms) {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      flush();
    }, Math.max(0, ms));
  }

  function enqueue(event) {
    if (!consent || !userId) return false; // no consent: nothing leaves the page
    if (queue.length >= opts.maxQueue) {
      queue.shift();
      stats.dropped += 1;
    }
    queue.push({ event_id: uuid4(), user_id: userId, ts: now(), ...event });
    if (queue.length >= opts.maxBatch) flush();
    else schedule(opts.batchMs);
    return true;
  }

  async function flush() {
    if (sending || !queue.length) return;
    const wait = retryAt - Date.now();
    if (wait > 0) return schedule(wait);
    sending = true;
    // The batch leaves the queue while in flight: a beacon on page exit sends only the rest
    // (a keepalive fetch outlives the page).
    const batch = queue.splice(0, opts.maxBatch);
    try {
      const answer = await fetch(eventsUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(batch),
        keepalive: true,
      });
      if (RETRYABLE.has(answer.status)) {
        // The same events (same ids: the collector deduplicates) after Retry-After.
        const seconds = Number(answer.headers.get("retry-after")) || 1;
        retryAt = Date.now() + seconds * 1000;
        stats.retried += 1;
        if (consent) queue.unshift(...batch);
      } else {
        // Accepted, or refused for good (4xx names the field): never resent.
        stats.sent += batch.length;
        if (answer.status >= 400 && typeof opts.onError === "function") opts.onError(await answer.json());
      }
    } catch (error) {
      retryAt = Date.now() + 2000; // the network: try again shortly
      stats.retried += 1;
      if (consent) queue.unshift(...batch);
    } finally {
      sending = false;
    }
    if (queue.length) schedule(Math.max(retryAt - Date.now(), 0));
  }

  // The page is going away: what is queued leaves by beacon (a text/plain body the collector
  // reads as JSON), which outlives the page.
  function flushByBeacon() {
    if (!queue.length || typeof navigator.sendBeacon !== "function") return;
    while (queue.length) {
      const batch = queue.slice(0, opts.maxBatch);
      if (!navigator.sendBeacon(eventsUrl, JSON.stringify(batch))) break;
      queue = queue.slice(batch.length);
      stats.beacons += 1;
    }
  }

  async function post(path, body) {
    const answer = await fetch(`${recommendUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const payload = await answer.json();
    if (!answer.ok) {
      const error = new Error(`${path}: ${answer.status} ${payload.error ? payload.error.field + ": " + payload.error.reason : ""}`);
      error.status = answer.status;
      error.body = payload;
      throw error;
    }
    return payload;
  }

  function personal(body) {
    return consent && userId ? { ...body, user_id: userId } : body;
  }

  const dwells = new Map(); // article_id -> {visibleMs, since}: visible time of a tracked page

  function endDwells() {
    for (const [articleId, d] of dwells) {
      if (d.since !== null) d.visibleMs += performance.now() - d.since;
      d.since = null;
      if (d.visibleMs >= 1) enqueue({ type: "dwell", article_id: articleId, dwell_ms: Math.round(d.visibleMs) });
      d.visibleMs = 0;
    }
  }

  if (typeof document !== "undefined") {
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") {
        endDwells();
        flushByBeacon();
      } else {
        for (const d of dwells.values()) d.since = performance.now();
      }
    });
    addEventListener("pagehide", () => {
      endDwells();
      flushByBeacon();
    });
  }

  return {
    stats,
    get queued() {
      return queue.length;
    },
    setConsent(value) {
      consent = Boolean(value);
      if (!consent) queue = []; // withdrawn: what was not sent is not sent
    },
    setUser(id) {
      userId = id || null;
    },
    // {items, request_id, ranked_by, variant, arm, ...}; without consent, the non-personal list.
    recommend({ k = 10, exclude = [], filters, context = {} } = {}) {
      return post("/recommend", personal({ k, exclude, context, ...(filters ? { filters } : {}) }));
    },
    related(articleId, { k = 5, exclude = [], filters, context = {} } = {}) {
      return post("/related", personal({ article_id: articleId, k, exclude, context, ...(filters ? { filters } : {}) }));
    },
    // Fills `element` with one child per item (renderItem returns an element or HTML) and
    // reports a click on any of them with the list's request_id and the item's position.
    render(answer, element, renderItem) {
      element.replaceChildren();
      answer.items.forEach((item, position) => {
        let node = renderItem(item, position, answer);
        if (typeof node === "string") {
          const holder = document.createElement("div");
          holder.innerHTML = node;
          node = holder.firstElementChild || holder;
        }
        node.dataset.recoRequestId = answer.request_id;
        node.dataset.recoPosition = String(position);
        node.dataset.recoArticleId = item.article_id;
        node.addEventListener("click", () => this.click(answer, position));
        element.appendChild(node);
      });
    },
    view(articleId, context) {
      return enqueue({ type: "view", article_id: articleId, ...(context ? { context } : {}) });
    },
    click(answer, position) {
      const item = answer.items[position];
      const sent = enqueue({ type: "click", article_id: item.article_id, request_id: answer.request_id, position });
      flush(); // a click usually navigates away: send now (keepalive outlives the page)
      return sent;
    },
    // Counts the time `articleId`'s page is visible; a dwell event leaves when it is hidden or left.
    trackDwell(articleId) {
      dwells.set(articleId, { visibleMs: 0, since: document.visibilityState === "hidden" ? null : performance.now() });
    },
    flush,
  };
}
