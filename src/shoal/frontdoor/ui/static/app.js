// shoal console: the page. Hand-written, no build step, no library.
//
// How it stays fast with 5,000 nodes and 100,000 tasks:
// - Counts first: the summary bar is one small request.
// - Nodes are columns, virtualised horizontally: only the columns in view (and one either side) exist
//   in the DOM; nodes are fetched in pages of NODE_PAGE as their columns come into view.
// - Each column's cards are virtualised vertically: fixed-height cards, only those in view exist;
//   a column's tasks are fetched in pages of TASK_PAGE for what is in view.
// - Live: one EventSource on /api/stream. A notice names the kinds and nodes that changed; after a
//   short debounce the page refetches only what it shows and what changed (no polling loop).
// - Everything is drawn with textContent (never innerHTML of data).
"use strict";

const NODE_PAGE = 100;
const TASK_PAGE = 50;
const DEBOUNCE_MS = 250;
const MAX_EVENTS = 1000;
const WL_PAGE = 100;
const MAX_REJECTIONS = 200; // rows of a pending task's per-node rejections drawn

const $ = (id) => document.getElementById(id);
const css = getComputedStyle(document.documentElement);
const px = (name) => parseInt(css.getPropertyValue(name), 10);
const COL_W = px("--col-w"), COL_GAP = px("--col-gap"), CARD_H = px("--card-h");
const STRIDE = COL_W + COL_GAP;

// ------------------------------------------------------------------ state

const S = {
  session: { LoggedIn: false, LoginRequired: false },
  tab: "board",
  q: "",            // the search box (tasks, workloads, payloads)
  nodeQ: "",        // the node filter
  state: "",        // the task state filter
  nodeTotal: 0,
  nodePages: new Map(),   // page index -> {items, stale}
  nodeFetching: new Set(),
  nodeGen: 0,              // bumped when the node filter changes: answers to older asks are dropped
  nodeRefetch: new Set(),  // node pages marked stale while their fetch was in flight
  cols: new Map(),        // column key (node ID, "-" for pending) -> {total, pages: Map, fetching: Set, stale: Set}
  colScroll: new Map(),   // column key -> scrollTop, kept while its column is out of view
  colEls: new Map(),      // column index -> element
  wlOffset: 0,
  drafts: new Map(),      // workload ID -> replicas typed, not sent yet
  detailID: "",
  pending: { kinds: new Set(), nodes: new Set(), all: false },
  firstDrawn: false,
  live: false,
};
window.shoalStats = { fetches: 0, bytes: 0, firstRenderMs: null };

// ------------------------------------------------------------------ helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "style") el.style.cssText = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null) p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}

class HTTPError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const text = await r.text();
  window.shoalStats.fetches += 1;
  window.shoalStats.bytes += text.length;
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!r.ok) {
    const msg = (body && body.message) || `${r.status} ${r.statusText}`;
    throw new HTTPError(r.status, msg);
  }
  return body;
}

// Answers can come back out of order: of a view fetched again and again (the summary, the
// workloads, the payloads, the detail), only the answer to the latest request is drawn.
const STALE = new Error("superseded");
const latestSeq = new Map();
async function latest(name, url) {
  const n = (latestSeq.get(name) || 0) + 1;
  latestSeq.set(name, n);
  const body = await getJSON(url);
  if (latestSeq.get(name) !== n) throw STALE;
  return body;
}

async function postJSON(url, body) {
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body || {}),
  });
  const text = await r.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
  if (!r.ok) throw new HTTPError(r.status, (parsed && parsed.message) || `${r.status} ${r.statusText}`);
  return parsed;
}

function notice(msg) {
  const n = $("notice");
  if (msg) { n.textContent = msg; n.hidden = false; } else { n.hidden = true; n.textContent = ""; }
}

function failed(e) {
  if (e === STALE) return;
  if (e instanceof HTTPError && e.status === 401 && S.session.LoginRequired) { showLogin(); return; }
  notice(e.message || String(e));
}

function fmtBytes(n) {
  if (!n) return "0";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(n >= 10 || i === 0 ? 0 : 1)} ${u[i]}`;
}
const fmtCPU = (nano) => (nano / 1e9).toFixed(nano % 1e9 ? 1 : 0);

function ago(iso) {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (isNaN(t)) return iso;
  let s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  s /= 60; if (s < 60) return `${Math.round(s)} min ago`;
  s /= 60; if (s < 48) return `${Math.round(s)} h ago`;
  return `${Math.round(s / 24)} d ago`;
}

let rafPending = false;
function scheduleRender() {
  if (rafPending) return;
  rafPending = true;
  requestAnimationFrame(() => { rafPending = false; render(); });
}

function render() {
  if (S.tab === "board") renderBoard();
}

// ------------------------------------------------------------------ session and login

async function loadSession() {
  S.session = await getJSON("/api/session");
  document.body.classList.toggle("hidden-actions", !S.session.LoggedIn);
  $("login-btn").textContent = S.session.LoggedIn ? "Log out" : "Log in";
}

function showLogin() {
  $("login-error").textContent = "";
  const d = $("login");
  if (!d.open) d.showModal();
}

async function doLogin(ev) {
  ev.preventDefault();
  try {
    await postJSON("/api/login", { token: $("login-token").value });
    $("login").close();
    $("login-token").value = "";
    await loadSession();
    notice("");
    refreshAll();
    openStream();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
}

async function loginButton() {
  if (S.session.LoggedIn) {
    await postJSON("/api/logout", {});
    await loadSession();
    refreshAll();
  } else {
    showLogin();
  }
}

// ------------------------------------------------------------------ summary

const STATE_ORDER = ["pending", "assigned", "preparing", "starting", "running", "complete", "failed", "shutdown",
  "rejected", "orphaned"];

async function loadSummary() {
  const s = await latest("summary", "/api/summary");
  const bar = $("summary");
  const items = [];
  const count = (label, n, cls) => items.push(h("span", { class: "count " + (cls || ""), "data-count": label },
    h("b", null, n.toLocaleString()), " ", label));
  count("nodes", s.Nodes);
  for (const [k, v] of Object.entries(s.NodesByState || {})) if (k !== "ready" && v) count("nodes " + k, v, "bad");
  for (const [k, v] of Object.entries(s.NodesByAvailability || {})) if (k !== "active" && v) count("nodes " + k, v, "warn");
  count("managers", s.Managers);
  count("tasks", s.Tasks);
  if (s.Pods) count("pods", s.Pods);
  const byState = s.TasksByState || {};
  for (const st of [...STATE_ORDER, ...Object.keys(byState).filter((k) => !STATE_ORDER.includes(k))]) {
    if (byState[st]) count(st, byState[st], st === "failed" || st === "rejected" ? "bad" : "");
  }
  count("waiting for a node", s.Pending, s.Pending ? "warn" : "");
  if (s.Pending && s.OldestPendingSeconds) {
    items.push(h("span", { class: "count warn" }, "oldest pending ", h("b", null, Math.round(s.OldestPendingSeconds) + " s")));
  }
  count("services", s.Services);
  count("deployments", s.Deployments);
  count("rollouts", s.Rollouts, s.Rollouts ? "warn" : "");
  count("secrets", s.Secrets);
  count("configs", s.Configs);
  bar.replaceChildren(...items);
  notice("");
}

// ------------------------------------------------------------------ the board: columns

function colKeyAt(i) {
  if (i === 0) return "-";
  const node = nodeAt(i - 1);
  return node ? node.ID : null;
}

function nodeAt(n) {
  const page = S.nodePages.get(Math.floor(n / NODE_PAGE));
  return page ? page.items[n % NODE_PAGE] || null : null;
}

function ensureNodePage(p) {
  const page = S.nodePages.get(p);
  if ((page && !page.stale) || S.nodeFetching.has(p)) return;
  S.nodeFetching.add(p);
  const gen = S.nodeGen;
  getJSON("/api/nodes" + qs({ q: S.nodeQ, offset: p * NODE_PAGE, limit: NODE_PAGE }))
    .then((pg) => {
      if (gen !== S.nodeGen) return; // the node filter changed meanwhile
      S.nodeTotal = pg.Total;
      S.nodePages.set(p, { items: pg.Items, stale: S.nodeRefetch.delete(p) });
      scheduleRender();
    })
    .catch(failed)
    .finally(() => { if (gen === S.nodeGen) S.nodeFetching.delete(p); });
}

function colData(key) {
  let c = S.cols.get(key);
  if (!c) {
    c = { total: null, pages: new Map(), fetching: new Set(), stale: new Set(), refetch: new Set() };
    S.cols.set(key, c);
  }
  return c;
}

function ensureTaskPage(key, p) {
  const c = colData(key);
  if ((c.pages.has(p) && !c.stale.has(p)) || c.fetching.has(p)) return;
  c.fetching.add(p);
  getJSON("/api/tasks" + qs({ node: key, state: S.state, q: S.q, offset: p * TASK_PAGE, limit: TASK_PAGE }))
    .then((pg) => {
      if (S.cols.get(key) !== c) return; // reset meanwhile
      c.total = pg.Total;
      c.pages.set(p, pg.Items);
      if (!c.refetch.delete(p)) c.stale.delete(p); // marked stale while in flight: ask again
      scheduleRender();
    })
    .catch(failed)
    .finally(() => c.fetching.delete(p));
}

function visibleColumns() {
  // node columns: index i is node i - 1 (the pending column, index 0, is pinned on the left)
  const box = $("columns");
  const first = Math.max(1, Math.floor(box.scrollLeft / STRIDE));
  const last = Math.min(S.nodeTotal, Math.ceil((box.scrollLeft + box.clientWidth) / STRIDE) + 1);
  return [first, last];
}

function renderBoard() {
  const box = $("columns");
  $("columns-spacer").style.width = `${S.nodeTotal * STRIDE + COL_GAP}px`;
  const [first, last] = visibleColumns();
  ensureNodePage(Math.floor((first - 1) / NODE_PAGE));
  if (last >= 1) ensureNodePage(Math.floor((last - 1) / NODE_PAGE));
  // drop the columns out of view
  for (const [i, el] of S.colEls) {
    if (i !== 0 && (i < first || i > last)) {
      S.colScroll.set(el.dataset.key, el.querySelector(".col-body").scrollTop);
      el.remove();
      S.colEls.delete(i);
    }
  }
  let drawnWithData = false;
  const draw = (i, parent) => {
    const key = colKeyAt(i);
    let el = S.colEls.get(i);
    if (el && el.dataset.key !== (key || "")) { el.remove(); S.colEls.delete(i); el = null; }
    if (!el) {
      el = makeColumn(i, key);
      parent.append(el);
      S.colEls.set(i, el);
      const top = S.colScroll.get(key || "");
      if (top) el.querySelector(".col-body").scrollTop = top;
    }
    drawHead(el, i);
    if (key) {
      drawCards(el, key);
      if (i > 0 && colData(key).total !== null) drawnWithData = true;
    }
  };
  draw(0, $("pending-slot"));
  for (let i = first; i <= last; i++) draw(i, box);
  if (!S.nodeTotal && S.nodePages.size && colData("-").total !== null) drawnWithData = true;
  $("board-info").textContent = `${S.nodeTotal.toLocaleString()} nodes`
    + (last >= first ? ` (${first.toLocaleString()}–${last.toLocaleString()} in view)` : "");
  if (drawnWithData && !S.firstDrawn) {
    S.firstDrawn = true;
    requestAnimationFrame(() => {
      performance.mark("shoal-first-render");
      window.shoalStats.firstRenderMs = performance.now();
      document.body.dataset.rendered = "1";
    });
  }
}

function makeColumn(i, key) {
  const el = h("div", { class: "col" + (i === 0 ? " pending" : ""), "data-key": key || "", "data-index": i,
    style: `left:${i === 0 ? COL_GAP : (i - 1) * STRIDE + COL_GAP}px` });
  const head = h("div", { class: "col-head" });
  const body = h("div", { class: "col-body" }, h("div", { class: "spacer" }));
  body.addEventListener("scroll", () => { S.colScroll.set(el.dataset.key, body.scrollTop); drawCards(el, el.dataset.key); },
    { passive: true });
  el.append(head, body);
  return el;
}

function bar(label, used, cap, fmt) {
  const pct = cap ? Math.min(100, (100 * used) / cap) : 0;
  return [
    h("div", { class: "bar", title: `${label}: ${fmt(used)} reserved of ${fmt(cap)}` },
      h("i", { class: pct > 90 ? "hot" : "", style: `width:${pct.toFixed(1)}%` })),
    h("div", { class: "bar-label" }, `${label} ${fmt(used)} / ${fmt(cap)} reserved`),
  ];
}

function states(byState) {
  const out = h("div", { class: "states" });
  for (const [st, n] of Object.entries(byState || {})) if (n) out.append(h("span", { class: "st-" + st }, `${n} ${st}`));
  return out;
}

function drawHead(el, i) {
  const head = el.querySelector(".col-head");
  const key = el.dataset.key;
  if (i === 0) {
    const c = S.cols.get("-");
    const sig = `pending|${c ? c.total : ""}`;
    if (head.dataset.sig === sig) return;
    head.dataset.sig = sig;
    head.replaceChildren(
      h("h3", null, "Pending"),
      h("div", { class: "meta" }, c && c.total !== null ? `${c.total.toLocaleString()} not placed on a node` : "…"),
      h("div", { class: "meta" }, "Tasks and Pods waiting for a node; click one for why."),
    );
    return;
  }
  const node = nodeAt(i - 1);
  if (!node) {
    if (head.dataset.sig !== "loading") { head.dataset.sig = "loading"; head.replaceChildren(h("h3", null, "…")); }
    return;
  }
  const sig = JSON.stringify(node) + S.session.LoggedIn;
  if (head.dataset.sig === sig) return;
  head.dataset.sig = sig;
  const labels = Object.entries(node.Labels || {}).map(([k, v]) => (v ? `${k}=${v}` : k));
  const kids = [
    h("h3", { title: node.Hostname }, node.Hostname),
    h("div", { class: "meta" },
      h("span", { class: "badge " + node.State }, node.State),
      h("span", { class: "badge " + node.Availability }, node.Availability),
      h("span", { class: "badge" + (node.Leader ? " leader" : "") }, node.Leader ? "leader" : node.Role),
      node.Reachability && !node.Leader ? h("span", { class: "badge" }, node.Reachability) : null),
    h("div", { class: "meta", title: node.ID }, `${node.Addr || ""} · ${node.ID.slice(0, 12)}`),
    ...bar("CPU", node.ReservedNanoCPUs, node.NanoCPUs, fmtCPU),
    ...bar("Mem", node.ReservedMemoryBytes, node.MemoryBytes, fmtBytes),
    h("div", { class: "chips", title: labels.join("\n") }, labels.length ? "labels: " + labels.join(", ") : ""),
    node.Taints && node.Taints.length ? h("div", { class: "chips", title: node.Taints.join("\n") }, "taints: " + node.Taints.join(", ")) : null,
    states(node.TasksByState),
    node.Message && node.State !== "ready" ? h("div", { class: "chips error", title: node.Message }, node.Message) : null,
  ];
  if (S.session.LoggedIn) {
    const sel = h("select", { class: "node-actions", "aria-label": "availability", onchange: (ev) => setAvailability(node.ID, ev.target) });
    for (const a of ["active", "pause", "drain"]) {
      const o = h("option", { value: a }, a === "pause" ? "pause (cordon)" : a);
      if (a === node.Availability) o.selected = true;
      sel.append(o);
    }
    kids.push(sel);
  }
  head.replaceChildren(...kids.filter((k) => k));
}

function drawCards(el, key) {
  if (!key) return;
  const body = el.querySelector(".col-body");
  const c = colData(key);
  const height = body.clientHeight || 600;
  const from = Math.max(0, Math.floor(body.scrollTop / CARD_H) - 2);
  const to = Math.ceil((body.scrollTop + height) / CARD_H) + 2;
  for (let p = Math.floor(from / TASK_PAGE); p <= Math.floor(to / TASK_PAGE); p++) {
    if (p === 0 || p * TASK_PAGE < c.total) ensureTaskPage(key, p); // page 0 even when empty: it may not be now
  }
  const total = c.total || 0;
  body.firstChild.style.height = `${total * CARD_H}px`;
  const want = new Map();
  for (let n = from; n < Math.min(to, total); n++) {
    const page = c.pages.get(Math.floor(n / TASK_PAGE));
    const t = page ? page[n % TASK_PAGE] : null;
    if (t) want.set(n, t);
  }
  // keep the cards whose slot and content did not change; make the others
  for (const card of [...body.querySelectorAll(".card")]) {
    const n = Number(card.dataset.n);
    const t = want.get(n);
    if (t && card.dataset.sig === cardSig(t)) want.delete(n);
    else card.remove();
  }
  for (const [n, t] of want) body.append(makeCard(n, t));
  let empty = body.querySelector(".empty");
  if (c.total === 0 && !empty) body.append(h("div", { class: "empty" }, key === "-" ? "nothing pending" : "no tasks"));
  else if (c.total && empty) empty.remove();
}

const cardSig = (t) => `${t.ID}|${t.State}|${t.Err}|${t.Message}|${t.DesiredState}`;

function makeCard(n, t) {
  const name = t.Namespace ? `${t.Namespace}/${t.Name}` : t.Name;
  const second = t.NodeID ? `${t.State} · ${t.Image || t.Kind}` : (t.Err || t.Message || t.State);
  return h("div", {
    class: `card st-${t.State}`, "data-n": n, "data-id": t.ID, "data-sig": cardSig(t), "data-state": t.State,
    style: `top:${n * CARD_H + 3}px`, title: `${name}\n${t.State}${t.Err ? "\n" + t.Err : ""}`,
    onclick: () => openDetail(t.ID),
  }, h("div", { class: "n" }, name), h("div", { class: "s" + (t.NodeID ? "" : " why") }, second));
}

function resetBoard() {
  for (const el of S.colEls.values()) el.remove();
  S.colEls.clear();
  S.cols.clear();
  S.colScroll.clear();
  scheduleRender();
}

function resetNodes() {
  S.nodePages.clear();
  S.nodeRefetch.clear();
  S.nodeFetching.clear();
  S.nodeGen += 1;
  S.nodeTotal = 0;
  resetBoard();
}

async function setAvailability(id, sel) {
  try {
    await postJSON(`/api/nodes/${encodeURIComponent(id)}/availability`, { availability: sel.value });
  } catch (e) { failed(e); }
}

// ------------------------------------------------------------------ the detail of a card

async function openDetail(id) {
  S.detailID = id;
  $("detail").hidden = false;
  await loadDetail();
}

async function loadDetail() {
  if (!S.detailID) return;
  let d;
  try { d = await latest("detail", `/api/tasks/${encodeURIComponent(S.detailID)}`); } catch (e) {
    if (e === STALE) return;
    $("detail-body").replaceChildren(h("p", { class: "error" }, e.message));
    return;
  }
  const t = d.Task;
  const row = (k, v) => (v || v === 0 ? [h("dt", null, k), h("dd", null, v)] : []);
  const kids = [
    h("h2", null, t.Namespace ? `${t.Namespace}/${t.Name}` : t.Name),
    h("dl", null,
      ...row("state", `${t.State}${t.DesiredState ? " (desired " + t.DesiredState + ")" : ""}`),
      ...row("kind", t.Kind), ...row("ID", t.ID),
      ...row(t.OwnerKind || "owner", t.Owner), ...row("node", t.NodeID || "not placed"),
      ...row("image", t.Image), ...row("phase", t.Phase), ...row("message", t.Message),
      ...row("error", t.Err), ...row("since", t.UpdatedAt ? `${t.UpdatedAt} (${ago(t.UpdatedAt)})` : "")),
  ];
  if (d.PendingReason) kids.push(h("div", { class: "reason", id: "pending-reason" }, h("b", null, "Why it is pending: "), d.PendingReason));
  if (d.Rejections && d.Rejections.length) {
    const shown = d.Rejections.slice(0, MAX_REJECTIONS);
    const rejected = Math.max(d.RejectedNodes || 0, d.Rejections.length); // the core lists the first ones only
    kids.push(h("h3", null, `Nodes that turned it down (${rejected.toLocaleString()})`));
    kids.push(h("table", { class: "grid", id: "rejections" },
      h("thead", null, h("tr", null, h("th", null, "Node"), h("th", null, "Why"))),
      h("tbody", null, ...shown.map((r) => h("tr", null, h("td", { title: r.NodeID }, r.Hostname || r.NodeID), h("td", null, r.Reason))))));
    if (rejected > shown.length) kids.push(h("p", null, `… and ${(rejected - shown.length).toLocaleString()} more nodes`));
  }
  if (d.History && d.History.length) {
    kids.push(h("h3", null, "History"));
    kids.push(h("ol", { class: "history" }, ...d.History.map((e) =>
      h("li", null, h("b", null, e.State), " ", e.At ? `${e.At} (${ago(e.At)})` : "",
        e.Message ? ` · ${e.Message}` : "", e.Err ? h("span", { class: "error" }, ` · ${e.Err}`) : "",
        e.NodeID ? ` · on ${e.NodeID.slice(0, 12)}` : "", e.TaskID !== t.ID ? ` · task ${e.TaskID.slice(0, 12)}` : ""))));
  }
  $("detail-body").replaceChildren(...kids);
}

function closeDetail() {
  S.detailID = "";
  $("detail").hidden = true;
}

// ------------------------------------------------------------------ workloads

async function loadWorkloads() {
  const pg = await latest("workloads", "/api/workloads" + qs({ q: S.q, offset: S.wlOffset, limit: WL_PAGE }));
  const rows = pg.Items.map((w) => {
    const rollout = w.Rollout ? h("div", { class: "rollout", "data-rollout": w.Rollout },
      h("span", { class: "badge" }, w.Rollout), w.Step ? h("span", { class: "step" }, " " + w.Step) : "",
      w.RolloutMessage ? h("div", null, w.RolloutMessage) : "") : "";
    const act = h("td", { class: "act" });
    if (S.session.LoggedIn) {
      if (w.Mode === "replicated") {
        // what the user typed survives the rows being drawn again on a notice
        const inp = h("input", { type: "number", min: 0, value: S.drafts.has(w.ID) ? S.drafts.get(w.ID) : w.Replicas,
          "aria-label": "replicas", oninput: (ev) => S.drafts.set(w.ID, ev.target.value) });
        const scale = () => {
          S.drafts.delete(w.ID);
          act1(`/api/workloads/${w.Kind}/${encodeURIComponent(w.ID)}/scale`, { replicas: Number(inp.value) });
        };
        act.append(inp, h("button", { onclick: scale }, "Scale"));
      }
      act.append(h("button", { onclick: () => act1(`/api/workloads/${w.Kind}/${encodeURIComponent(w.ID)}/rollback`, {}) }, "Roll back"));
    }
    return h("tr", { "data-id": w.ID, "data-name": w.Name },
      h("td", null, w.Kind), h("td", null, w.Namespace ? `${w.Namespace}/${w.Name}` : w.Name), h("td", null, w.Mode),
      h("td", null, w.Image), h("td", { class: "replicas" }, `${w.Running}/${w.Replicas} running` + (w.Kind === "deployment" ? `, ${w.Ready} ready` : "")),
      h("td", null, rollout), h("td", null, (w.Ports || []).join(", ")), h("td", null, (w.Addresses || []).join(", ")), act);
  });
  $("workload-rows").replaceChildren(...rows);
  $("wl-info").textContent = pg.Total ? `${pg.Offset + 1}–${pg.Offset + pg.Items.length} of ${pg.Total}` : "none";
  $("wl-prev").disabled = S.wlOffset === 0;
  $("wl-next").disabled = S.wlOffset + WL_PAGE >= pg.Total;
}

async function act1(url, body) {
  try { await postJSON(url, body); notice(""); } catch (e) { failed(e); }
}

// ------------------------------------------------------------------ payloads

async function loadPayloads() {
  const items = await latest("payloads", "/api/payloads" + qs({ q: S.q }));
  $("payload-rows").replaceChildren(...items.map((p) => h("tr", null,
    h("td", null, p.Kind), h("td", null, p.Name), h("td", null, p.Namespace), h("td", null, p.Type),
    h("td", null, (p.Keys || []).join(", ")),
    h("td", null, Object.entries(p.Labels || {}).map(([k, v]) => `${k}=${v}`).join(", ")),
    h("td", null, ago(p.CreatedAt)), h("td", null, ago(p.UpdatedAt)))));
}

// ------------------------------------------------------------------ events (live)

let eventSource = null;
let eventQueue = [];
function openEvents() {
  closeEvents();
  $("event-list").replaceChildren();
  const q = $("event-filter").value.trim();
  eventSource = new EventSource("/api/events" + qs({ q, type: $("event-type").value }));
  eventSource.addEventListener("event", (m) => {
    eventQueue.push(JSON.parse(m.data));
    if (eventQueue.length === 1) requestAnimationFrame(flushEvents);
  });
  eventSource.onerror = () => { $("event-info").textContent = "reconnecting…"; };
  eventSource.onopen = () => { $("event-info").textContent = "live"; };
}
function flushEvents() {
  const list = $("event-list");
  const items = eventQueue.map((e) => h("li", { class: e.Level || "", title: JSON.stringify(e.Attributes || {}) },
    `${e.Time.replace("T", " ").slice(0, 19)}  ${e.Source === "kubernetes" ? "k8s" : "docker"}  ${e.Type} ${e.Action}  `
    + `${e.Namespace ? e.Namespace + "/" : ""}${e.Name || e.Actor.slice(0, 12)}${e.Message ? "  " + e.Message : ""}`
    + (e.Count > 1 ? `  (x${e.Count})` : "")));
  eventQueue = [];
  list.prepend(...items.reverse());
  while (list.childElementCount > MAX_EVENTS) list.lastElementChild.remove();
}
function closeEvents() {
  if (eventSource) { eventSource.close(); eventSource = null; }
}

// ------------------------------------------------------------------ live notices

let stream = null;
function openStream() {
  if (stream && stream.readyState !== EventSource.CLOSED) return;
  const es = new EventSource("/api/stream");
  stream = es;
  let lost = false;
  es.onopen = () => {
    S.live = true;
    $("live").className = "live on";
    if (lost) { lost = false; refreshAll(); } // notices may have been missed
  };
  es.onerror = () => {
    S.live = false;
    lost = true;
    $("live").className = "live off";
    // an answer other than a stream (401, 503 while the node is no manager) ends an EventSource: try
    // again a little later (the browser itself retries a dropped stream)
    if (es.readyState === EventSource.CLOSED) setTimeout(() => { openStream(); refreshAll(); }, 5000);
  };
  es.addEventListener("change", (m) => {
    const ch = JSON.parse(m.data);
    for (const k of ch.Kinds || []) S.pending.kinds.add(k);
    if ((ch.Kinds || []).includes("tasks") && !(ch.Nodes || []).length) S.pending.all = true;
    for (const n of ch.Nodes || []) S.pending.nodes.add(n === "" ? "-" : n);
    debounceApply();
  });
}

let applyTimer = 0;
function debounceApply() {
  if (applyTimer) return;
  applyTimer = setTimeout(() => { applyTimer = 0; applyChanges(); }, DEBOUNCE_MS);
}

function applyChanges() {
  const { kinds, nodes, all } = S.pending;
  S.pending = { kinds: new Set(), nodes: new Set(), all: false };
  loadSummary().catch(failed);
  const visibleKeys = new Set([...S.colEls.values()].map((el) => el.dataset.key));
  if (kinds.has("nodes")) markNodesStale();
  if (kinds.has("nodes")) scheduleRender();
  if (kinds.has("tasks")) {
    for (const [key, c] of S.cols) {
      if (!(all || nodes.has(key))) continue;
      if (visibleKeys.has(key)) markColumnStale(c); else S.cols.delete(key);
    }
    // a node whose tasks changed may have become non-empty: its column must ask again
    scheduleRender();
  }
  if (S.tab === "workloads" && (kinds.has("workloads") || kinds.has("tasks"))) loadWorkloads().catch(failed);
  if (S.tab === "payloads" && kinds.has("payloads")) loadPayloads().catch(failed);
  if (S.detailID && kinds.has("tasks")) loadDetail();
}

function markNodesStale() {
  for (const page of S.nodePages.values()) page.stale = true;
  for (const p of S.nodeFetching) S.nodeRefetch.add(p);
}

function markColumnStale(c) {
  for (const p of c.pages.keys()) c.stale.add(p);
  for (const p of c.fetching) c.refetch.add(p);
}

function refreshAll() {
  loadSummary().catch(failed);
  markNodesStale();
  for (const c of S.cols.values()) markColumnStale(c);
  scheduleRender();
  if (S.tab === "workloads") loadWorkloads().catch(failed);
  if (S.tab === "payloads") loadPayloads().catch(failed);
  if (S.detailID) loadDetail();
}

// ------------------------------------------------------------------ tabs, search, start

function showTab(tab) {
  S.tab = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("main > .tab")) s.classList.toggle("on", s.id === tab);
  if (tab === "events") openEvents(); else closeEvents();
  if (tab === "workloads") loadWorkloads().catch(failed);
  if (tab === "payloads") loadPayloads().catch(failed);
  if (tab === "board") scheduleRender();
}

function debounced(fn, ms) {
  let t = 0;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

async function start() {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("search").addEventListener("input", debounced(() => {
    S.q = $("search").value.trim();
    S.wlOffset = 0;
    resetBoard();
    if (S.tab === "workloads") loadWorkloads().catch(failed);
    if (S.tab === "payloads") loadPayloads().catch(failed);
  }, 300));
  $("node-filter").addEventListener("input", debounced(() => { S.nodeQ = $("node-filter").value.trim(); $("columns").scrollLeft = 0; resetNodes(); }, 300));
  $("state-filter").addEventListener("change", () => { S.state = $("state-filter").value; resetBoard(); });
  $("event-filter").addEventListener("input", debounced(openEvents, 300));
  $("event-type").addEventListener("change", openEvents);
  $("columns").addEventListener("scroll", scheduleRender, { passive: true });
  window.addEventListener("resize", scheduleRender);
  $("detail-close").addEventListener("click", closeDetail);
  $("login-btn").addEventListener("click", loginButton);
  $("login-form").addEventListener("submit", doLogin);
  $("login-cancel").addEventListener("click", () => $("login").close());
  $("wl-prev").addEventListener("click", () => { S.wlOffset = Math.max(0, S.wlOffset - WL_PAGE); loadWorkloads().catch(failed); });
  $("wl-next").addEventListener("click", () => { S.wlOffset += WL_PAGE; loadWorkloads().catch(failed); });
  try {
    await loadSession();
  } catch (e) { failed(e); return; }
  if (S.session.LoginRequired && !S.session.LoggedIn) { showLogin(); }
  try { await loadSummary(); } catch (e) { failed(e); }
  ensureNodePage(0);
  scheduleRender();
  openStream();
}

document.addEventListener("DOMContentLoaded", start);
