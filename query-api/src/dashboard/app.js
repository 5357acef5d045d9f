// The admin dashboard: plain DOM and fetch against the query API, nothing loaded from elsewhere.
// Every value from the API is placed with textContent (through `h`), never as HTML: message
// texts and names come from website visitors.
// Over 500 lines: the dashboard is three static files compiled into query-api; each view is a
// section below (`// ---- name ----`), sharing the helpers at the top.
"use strict";

const state = { token: sessionStorage.getItem("colloquy-token"), loggedIn: false, websites: [], stream: null };

// ---- helpers --------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: Object.assign(
      { Authorization: `Bearer ${state.token}` },
      body === undefined ? {} : { "Content-Type": "application/json" },
    ),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    // A session whose token stopped working (revoked) ends; a login attempt just fails.
    if (state.loggedIn) logout();
    throw new Error("the token was not accepted");
  }
  const text = await response.text();
  const json = text ? JSON.parse(text) : {};
  if (!response.ok) throw new Error(json.message || json.error || `${response.status}`);
  return json;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== undefined && v !== null) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

const when = (t) => (t ? new Date(t).toLocaleString() : "");
const day = (d) => d.toISOString().slice(0, 10);
const number = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString(undefined, { maximumFractionDigits: 2 }));
const percent = (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)}%`);
// A time in milliseconds, in the unit that reads best.
const duration = (ms) => {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7200000) return `${(ms / 60000).toFixed(1)} min`;
  return `${(ms / 3600000).toFixed(1)} h`;
};

function websiteSelect(value, onchange) {
  return h("label", {}, "Website",
    h("select", { id: "website", onchange },
      h("option", { value: "" }, "All websites"),
      state.websites.map((w) => h("option", { value: w.website_id, selected: w.website_id === value }, w.name || w.website_id))));
}

function showError(where, error) {
  where.replaceChildren(h("p", { class: "error", role: "alert" }, String(error.message || error)));
}

// ---- login ----------------------------------------------------------------------------------

function logout() {
  sessionStorage.removeItem("colloquy-token");
  state.token = null;
  if (state.stream) state.stream.abort();
  location.hash = "";
  location.reload();
}

async function login(token) {
  state.token = token;
  const answer = await api("GET", "/v1/websites");
  state.websites = answer.websites || [];
  sessionStorage.setItem("colloquy-token", token);
  state.loggedIn = true;
  document.getElementById("tabs").hidden = false;
  document.getElementById("logout").hidden = false;
  listen();
  route();
}

document.getElementById("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    await login(document.getElementById("token").value.trim());
  } catch (error) {
    state.token = null;
    document.getElementById("login-error").textContent = `Cannot log in: ${error.message}`;
  }
});
document.getElementById("logout").addEventListener("click", logout);

// ---- live updates: GET /v1/stream, read with fetch so the token stays in a header ------------

const listeners = new Set();

async function listen() {
  const badge = document.getElementById("live");
  badge.hidden = false;
  for (;;) {
    state.stream = new AbortController();
    try {
      const response = await fetch("/v1/stream", {
        headers: { Authorization: `Bearer ${state.token}` },
        signal: state.stream.signal,
      });
      if (!response.ok) throw new Error(`${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let name = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
          }
          if (!data) continue;
          if (name === "ready") badge.className = "live";
          for (const f of listeners) f(name, JSON.parse(data));
        }
      }
    } catch (error) {
      if (state.stream.signal.aborted) return;
    }
    badge.className = "live off";
    // Reconnect, and read again what is shown: changes may have been missed.
    await new Promise((r) => setTimeout(r, 2000));
    for (const f of listeners) f("resync", {});
  }
}

// Calls `refresh` at most once a second while events of `types` arrive for the view.
function onLive(types, refresh) {
  let pending = null;
  const f = (name) => {
    if (name !== "resync" && !types.includes(name)) return;
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, 1000);
  };
  listeners.add(f);
  return () => { listeners.delete(f); clearTimeout(pending); };
}

// ---- routing --------------------------------------------------------------------------------

let leave = () => {};
const views = { overview, conversations, contacts, requests, quality, reports, integrations };

// ---- bot quality ----------------------------------------------------------------------------

// The questions the bot could not handle, near-identical ones grouped, busiest first: what to
// teach the bot next.
function quality(main) {
  const today = new Date();
  const filters = { website_id: "", from: day(new Date(today.getTime() - 6 * 86400000)), to: day(today), limit: 50 };
  const table = h("div", { class: "table-wrap" });
  main.append(
    h("form", { class: "card filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      websiteSelect("", (e) => { filters.website_id = e.target.value; load(); }),
      h("label", {}, "From", h("input", { type: "date", value: filters.from, onchange: (e) => { filters.from = e.target.value; load(); } })),
      h("label", {}, "To", h("input", { type: "date", value: filters.to, onchange: (e) => { filters.to = e.target.value; load(); } }))),
    table);
  const link = (a) => h("a", { href: conversationHash(a) }, a.conversation_id);
  async function load() {
    try {
      const answer = await api("GET", `/v1/bot-quality${query(filters)}`);
      table.replaceChildren(
        h("p", { class: "muted", id: "question-count" },
          `${number(answer.questions)} questions the bot answered unsure, handed to a human or left unanswered` +
          `${answer.capped ? " (the newest only)" : ""}, in ${number(answer.groups.length)} groups`),
        h("table", { id: "question-groups" },
          h("thead", {}, h("tr", {}, h("th", {}, "Question"), h("th", {}, "Asked"), h("th", {}, "Unsure"),
            h("th", {}, "Handed off"), h("th", {}, "Unanswered"), h("th", { class: "optional" }, "Conversations"))),
          h("tbody", {}, answer.groups.map((g) => h("tr", { "data-group": g.example },
            h("td", {}, h("strong", {}, g.example), g.wordings.length ? h("div", { class: "muted" }, g.wordings.join(" · ")) : ""),
            h("td", {}, number(g.count)), h("td", {}, number(g.unsure)), h("td", {}, number(g.handed_off)),
            h("td", {}, number(g.unanswered)),
            h("td", { class: "optional" }, ...g.conversations.slice(0, 5).flatMap((a, i) => (i ? [" ", link(a)] : [link(a)]))))))));
    } catch (error) {
      showError(table, error);
    }
  }
  load();
  leave = onLive(["message.sent", "message.flagged_for_human"], load);
}

function route() {
  if (!state.token) return;
  // `#view/id/website`: the same conversation id may be used on two websites. A list's
  // filters follow a `?`, so a reload or a shared link shows the same rows.
  const [path, search] = (location.hash.slice(1) || "overview").split("?");
  const [name, id, website] = path.split("/");
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.hash === `#${name}`);
  leave();
  leave = () => {};
  const main = document.getElementById("main");
  main.replaceChildren();
  const decode = (part) => (part ? decodeURIComponent(part) : undefined);
  (views[name] || overview)(main, decode(id), decode(website), new URLSearchParams(search || ""));
}
window.addEventListener("hashchange", route);

// ---- overview -------------------------------------------------------------------------------

// The cards, by their `GET /v1/stats` names; a card opens as the conversations of the figure
// it names or, for a rate, of the rate's numerator.
const METRICS = [
  ["widget_loads", "Widget loads", number],
  ["engaged_conversations", "Engaged conversations", number],
  ["engaged_without_load", "Engaged without a load", number],
  ["interaction_rate", "Interaction rate", percent, "loaded_engaged_conversations"],
  ["messages", "Messages", number, "conversations"],
  ["avg_messages_per_conversation", "Messages per engaged conversation", number, "engaged_conversations"],
  ["unique_visitors", "Unique visitors", number, "conversations"],
  ["cta_conversations", "Conversations with a CTA click", number],
  ["cta_rate", "CTA rate", percent, "cta_conversations"],
  ["contact_requests", "Contact requests", number],
  ["conversion_rate", "Conversion rate", percent, "contact_requests"],
  ["avg_bot_response_ms", "Bot response (ms)", number, "conversations"],
  ["escalated_conversations", "Handed to a human", number],
  ["escalation_rate", "Handoff rate", percent, "escalated_conversations"],
  ["waiting_for_human", "Waiting for a human", number],
  ["containment_rate", "Containment rate", percent, "contained_conversations"],
  ["abandonment_rate", "Abandonment rate", percent, "abandoned_conversations"],
  ["reopen_rate", "Reopen rate", percent, "reopened_conversations"],
  ["median_bot_first_response_ms", "Bot first response (median)", duration, "bot_answered_conversations"],
  ["p90_bot_first_response_ms", "Bot first response (p90)", duration, "bot_answered_conversations"],
  ["median_agent_first_response_ms", "Agent first response (median)", duration, "agent_answered_conversations"],
  ["median_handoff_response_ms", "Human reply after handoff (median)", duration, "handoff_answered_conversations"],
  ["median_resolution_ms", "Resolution time (median)", duration, "resolved_conversations"],
  ["median_duration_ms", "Conversation duration (median)", duration, "engaged_conversations"],
  ["avg_rating", "Average rating", number, "ratings"],
  ["csat", "CSAT (rated 4–5)", percent, "satisfied_ratings"],
];

// What each figure means, in the words of the API document (`/openapi.json`), fetched once.
let definitions = null;
async function figureDefinitions() {
  if (!definitions) {
    definitions = fetch("/openapi.json").then((r) => r.json()).then((doc) => {
      const schemas = (doc.components && doc.components.schemas) || {};
      const out = {};
      for (const name of ["ContactPeriod", "Period", "Figures"]) {
        for (const [k, v] of Object.entries((schemas[name] && schemas[name].properties) || {})) {
          if (v.description) out[k] = v.description;
        }
      }
      const population = ((doc.paths["/v1/conversations"] || {}).get || { parameters: [] }).parameters
        .find((p) => p.name === "population");
      out.populations = (population && population["x-definitions"]) || {};
      return out;
    }).catch(() => ({ populations: {} }));
  }
  return definitions;
}

// `#conversations?…` for an `open` path of the statistics (`/v1/conversations?…`).
const opening = (path) => (path ? `#conversations?${path.split("?")[1] || ""}` : null);

function overview(main) {
  const today = new Date();
  const from = new Date(today.getTime() - 6 * 86400000);
  const filters = { website_id: "", from: day(from), to: day(today) };
  const body = h("div", {});
  const form = h("form", { class: "card filters", onsubmit: (e) => { e.preventDefault(); load(); } },
    websiteSelect("", (e) => { filters.website_id = e.target.value; load(); }),
    h("label", {}, "From", h("input", { type: "date", value: filters.from, onchange: (e) => { filters.from = e.target.value; load(); } })),
    h("label", {}, "To", h("input", { type: "date", value: filters.to, onchange: (e) => { filters.to = e.target.value; load(); } })),
    exportButtons("events", "Export the range's events", () => filters));
  main.append(form, body);

  async function load() {
    try {
      const [stats, funnel, breakdown] = await Promise.all([
        api("GET", `/v1/stats${query(filters)}`),
        api("GET", `/v1/stats/funnel${query(filters)}`),
        api("GET", `/v1/stats/breakdown${query(filters)}`),
      ]);
      const hourly = await api("GET", `/v1/stats${query(Object.assign({ interval: "hour" }, filters))}`).catch(() => null);
      render(stats, funnel, breakdown, hourly, await figureDefinitions());
    } catch (error) {
      showError(body, error);
    }
  }

  function render(stats, funnel, breakdown, hourly, words) {
    const open = stats.current.open || {};
    const cards = h("div", { class: "cards" }, METRICS.map(([key, label, format, opens]) => {
      const change = stats.change[key];
      const href = opening(open[opens || key]);
      const card = h(href ? "a" : "div", { class: "metric", "data-metric": key, title: words[key] || "", href: href || undefined },
        h("div", { class: "label" }, label),
        h("div", { class: "value" }, format(stats.current[key])),
        h("div", { class: "muted" }, `before: ${format(stats.previous[key])} `,
          change === null || change === undefined ? "" :
            h("span", { class: change >= 0 ? "up" : "down" }, `${change >= 0 ? "▲" : "▼"} ${percent(Math.abs(change))}`)));
      return card;
    }));
    const series = stats.series || [];
    const labels = series.map((r) => r.day.slice(5));
    // Conversations started by local day of the week and hour (`YYYY-MM-DDTHH:00`, the
    // website's wall clock).
    const week = Array.from({ length: 7 }, () => new Array(24).fill(0));
    for (const r of (hourly && hourly.series) || []) {
      const weekday = (new Date(`${r.hour.slice(0, 10)}T00:00:00Z`).getUTCDay() + 6) % 7;
      week[weekday][Number(r.hour.slice(11, 13))] += r.conversations || 0;
    }
    const ratings = stats.current.rating_distribution || {};
    const stages = funnel.stages || {};
    const peak = new Array(24).fill(0);
    // Hours are the website's wall-clock hours (`YYYY-MM-DDTHH:00`).
    for (const r of (hourly && hourly.series) || []) {
      peak[Number(r.hour.slice(11, 13))] += r.user_messages || 0;
    }
    // A bar of a day opens the conversations of that figure started on that day.
    const daily = (key) => series.map((r) => opening((open[key] || "").replace(/from=[^&]*&to=[^&]*/, `from=${r.day}&to=${r.day}`)));
    const zone = stats.time_zone || "each website's time zone";
    body.replaceChildren(
      h("section", { class: "card" }, h("h2", {}, `${stats.current.from} – ${stats.current.to}, against the ${series.length} days before`), cards),
      h("div", { class: "charts" },
        chart(`Widget loads and engaged conversations per day (${zone})`, labels, [
          ["Widget loads", "#9db7f5", series.map((r) => r.widget_loads), daily("widget_loads")],
          ["Engaged conversations", "#2f6feb", series.map((r) => r.engaged_conversations), daily("engaged_conversations")],
        ]),
        chart("Messages per day", labels, [
          ["Visitors", "#2f6feb", series.map((r) => r.user_messages)],
          ["Bot", "#9db7f5", series.map((r) => r.bot_messages)],
          ["Agents", "#1a7f37", series.map((r) => r.agent_messages)],
        ]),
        chart("Funnel", ["Loaded", "Loaded and engaged", "CTA clicked", "Contact submitted"], [
          ["Conversations", "#2f6feb",
            [stages.loaded, stages.loaded_engaged, stages.cta_clicked, stages.contact_submitted].map((v) => v || 0),
            ["loaded", "loaded_engaged", "cta_clicked", "contact_submitted"].map((k) => opening((funnel.open || {})[k]))],
        ]),
        chart(`Peak hours (visitors' messages by hour of day, ${zone})`, peak.map((_, i) => String(i)), [
          ["Messages", "#2f6feb", peak],
        ]),
        heatMap(`Conversations started by day and hour (${zone})`, week),
        chart("Ratings", ["1", "2", "3", "4", "5"], [
          ["Rated conversations", "#2f6feb", ["1", "2", "3", "4", "5"].map((k) => ratings[k] || 0),
            ["1", "2", "3", "4", "5"].map((k) => opening(open[`rating_distribution.${k}`]))],
        ]),
        shares("Conversations by channel", breakdown.by_channel),
        shares("Conversations by device", breakdown.by_device),
        shares("Conversations by country", breakdown.by_country),
        shares("Conversations by language", breakdown.by_language)));
  }

  load();
  leave = onLive(["conversation.started", "widget.loaded", "message.sent", "contact.submitted"], load);
}

// A breakdown (`[{key, conversations, messages}]`) as a bar chart of its busiest keys.
// A day-of-week × hour grid, darker for more.
function heatMap(title, week) {
  const most = Math.max(1, ...week.flat());
  const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  return h("section", { class: "card heat", "data-chart": "heat" }, h("h3", {}, title),
    h("table", {},
      h("tr", {}, h("th", {}), ...Array.from({ length: 24 }, (_, i) => h("th", {}, String(i)))),
      ...week.map((hours, d) => h("tr", {}, h("th", {}, days[d]),
        ...hours.map((n, hour) => {
          const cell = h("td", { title: `${days[d]} ${hour}:00 – ${n}` }, n ? String(n) : "");
          // Through the CSSOM: the page's policy refuses style attributes.
          cell.style.background = `rgba(47, 111, 235, ${(n / most).toFixed(2)})`;
          return cell;
        })))));
}

function shares(title, rows) {
  const top = (rows || []).slice(0, 8);
  return chart(title, top.map((r) => r.key), [
    ["Conversations", "#2f6feb", top.map((r) => r.conversations), top.map((r) => opening(r.open))],
    ["Messages", "#9db7f5", top.map((r) => r.messages)],
  ]);
}

// A bar chart as SVG: one group of bars per label, one bar per series.
function chart(title, labels, series) {
  const W = 480, H = 200, pad = 28;
  const max = Math.max(1, ...series.flatMap(([, , values]) => values));
  const group = (W - pad) / Math.max(1, labels.length);
  const bar = Math.max(1, (group - 4) / series.length);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H + 18}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const add = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    svg.append(el);
    return el;
  };
  add("text", { x: 0, y: 10, "font-size": 10, fill: "#667085" }, number(max));
  add("line", { x1: pad, y1: H, x2: W, y2: H, stroke: "#e4e7ec" });
  labels.forEach((label, i) => {
    series.forEach(([name, color, values, links], s) => {
      const v = values[i] || 0;
      const height = (v / max) * (H - 14);
      const rect = add("rect", { x: pad + i * group + s * bar, y: H - height, width: bar - 1, height, fill: color });
      rect.append(Object.assign(document.createElementNS("http://www.w3.org/2000/svg", "title"), { textContent: `${name} ${label}: ${number(v)}` }));
      // A bar with a link opens the conversations it counts.
      const link = links && links[i];
      if (link) {
        const a = document.createElementNS("http://www.w3.org/2000/svg", "a");
        a.setAttribute("href", link);
        a.setAttribute("class", "bar-link");
        rect.replaceWith(a);
        a.append(rect);
      }
    });
    if (labels.length <= 31 && (labels.length <= 12 || i % 2 === 0)) {
      add("text", { x: pad + i * group + 1, y: H + 13, "font-size": 9, fill: "#667085" }, label);
    }
  });
  return h("section", { class: "card chart" }, h("h2", {}, title),
    h("div", { class: "legend" }, series.map(([name, color]) => {
      // Through the CSSOM: the page's policy refuses style attributes.
      const swatch = h("i", {});
      swatch.style.background = color;
      return h("span", {}, swatch, name);
    })),
    svg);
}

// ---- conversations --------------------------------------------------------------------------

// The hash of a conversation's transcript.
const conversationHash = (c) => `#conversations/${encodeURIComponent(c.conversation_id)}/${encodeURIComponent(c.website_id)}`;

// A conversation's priorities, most urgent first.
const PRIORITIES = ["urgent", "high", "normal", "low"];

// The list's filters that a link may set; the form edits the first seven.
const LIST_FILTERS = ["website_id", "status", "requires_human", "q", "outcome", "sort", "priority", "population", "from", "to", "tz",
  "channel", "device", "country", "language", "ip", "page_url", "rating", "has_contact"];

function conversations(main, id, website, params) {
  if (id) return transcript(main, id, website);
  const filters = { limit: 50 };
  for (const k of LIST_FILTERS) filters[k] = (params && params.get(k)) || "";
  const table = h("div", { class: "table-wrap" });
  let known = new Set();
  // Keeps the filters in the address, without routing again.
  const remember = () => {
    const shown = Object.fromEntries(LIST_FILTERS.map((k) => [k, filters[k]]));
    history.replaceState(null, "", `#conversations${query(shown)}`);
  };
  const change = (k) => (e) => { filters[k] = e.target.value; remember(); load(); };
  const select = (k, options) => h("select", { id: k === "status" ? "status" : undefined, onchange: change(k) },
    options.map(([v, label]) => h("option", { value: v, selected: filters[k] === v }, label)));
  const drill = h("div", {});
  main.append(
    h("form", { class: "card filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      websiteSelect(filters.website_id, change("website_id")),
      h("label", {}, "Status", select("status", [["", "any"], ["loaded", "loaded"], ["active", "active"], ["closed", "closed"]])),
      h("label", {}, "Needs a human", select("requires_human", [["", "any"], ["true", "yes"], ["false", "no"]])),
      h("label", {}, "Outcome", select("outcome", [["", "any"], ["contained", "contained by the bot"],
        ["handed_off", "handed off"], ["abandoned", "abandoned"], ["open", "open"]])),
      h("label", {}, "Priority", select("priority", [["", "any"], ...PRIORITIES.map((p) => [p, p])])),
      h("label", {}, "Order", select("sort", [["", "latest activity"], ["-priority", "most urgent first"], ["handoff_at", "handed off, earliest first"]])),
      h("label", {}, "Text in a message", h("input", { id: "q", type: "search", value: filters.q, onchange: change("q") })),
      h("button", { type: "submit" }, "Filter"),
      exportButtons("conversations", "Export conversations", () => filters),
      exportButtons("messages", "their messages", () => filters)),
    drill,
    table);

  // Which statistic the list was opened from, in the words of the API document.
  async function describe() {
    const words = await figureDefinitions();
    const parts = [];
    if (filters.population) parts.push(words.populations[filters.population] || filters.population);
    if (filters.from || filters.to) parts.push(`started ${filters.from || "…"} – ${filters.to || "…"}${filters.tz ? ` (${filters.tz})` : ""}`);
    for (const k of ["channel", "device", "country", "language", "ip", "page_url", "rating"]) if (filters[k]) parts.push(`${k.replace("_", " ")} ${filters[k]}`);
    drill.replaceChildren(parts.length ? h("p", { class: "card drill", id: "drill-down" }, parts.join(" · "), " ",
      h("a", { href: "#conversations" }, "clear")) : "");
  }

  const row = (c) => {
    const key = `${c.website_id}/${c.conversation_id}/${c.message_count}/${c.status}`;
    return h("tr", { class: `clickable${known.size && !known.has(key) ? " fresh" : ""}`, "data-conversation": c.conversation_id,
      onclick: () => { location.hash = conversationHash(c); } },
      h("td", {}, c.conversation_id),
      h("td", { class: "optional" }, c.website_id),
      h("td", {}, h("span", { class: "badge" }, c.status), c.requires_human ? h("span", { class: "badge human" }, "needs a human") : "",
        c.priority === "urgent" || c.priority === "high" ? h("span", { class: `badge ${c.priority}` }, c.priority) : "",
        c.outcome && c.outcome !== "open" ? h("span", { class: "badge" }, c.outcome.replace("_", " ")) : ""),
      h("td", {}, number(c.message_count)),
      h("td", { class: "optional" }, c.channel, c.device ? ` · ${c.device}` : "", c.country ? ` · ${c.country}` : ""),
      h("td", {}, when(c.last_activity_at)));
  };
  const keys = (list) => list.map((c) => `${c.website_id}/${c.conversation_id}/${c.message_count}/${c.status}`);
  const loading = latestOnly();

  async function load() {
    describe();
    const current = loading();
    try {
      const answer = await api("GET", `/v1/conversations${query(filters)}`);
      if (!current()) return;
      const body = h("tbody", {}, answer.conversations.map(row));
      let shown = answer.conversations.length;
      known = new Set(keys(answer.conversations));
      const count = h("p", { class: "muted", id: "conversation-count" });
      const counted = () => count.replaceChildren(`${number(answer.total)}${answer.total_capped ? "+" : ""} conversations, ${number(shown)} shown`);
      counted();
      // The next page after the last row shown, appended.
      let cursor = answer.next_cursor;
      const more = h("button", { class: "plain", id: "more", onclick: async () => {
        more.disabled = true;
        try {
          const page = await api("GET", `/v1/conversations${query(Object.assign({}, filters, { cursor }))}`);
          body.append(...page.conversations.map(row));
          for (const k of keys(page.conversations)) known.add(k);
          shown += page.conversations.length;
          cursor = page.next_cursor;
          counted();
          more.hidden = !cursor;
        } catch (error) { alert(error.message); }
        more.disabled = false;
      } }, "Show more");
      more.hidden = !cursor;
      table.replaceChildren(
        count,
        h("table", { id: "conversation-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "Conversation"), h("th", { class: "optional" }, "Website"), h("th", {}, "Status"),
            h("th", {}, "Messages"), h("th", { class: "optional" }, "Channel"), h("th", {}, "Last activity"))),
          body),
        more);
    } catch (error) {
      showError(table, error);
    }
  }
  load();
  leave = onLive(["conversation.started", "widget.loaded", "message.sent", "conversation.closed",
    "message.flagged_for_human", "message.human_replied", "conversation.rated", "conversation.priority_changed"], load);
}

function transcript(main, id, website) {
  const body = h("div", {});
  main.append(h("p", {}, h("a", { href: "#conversations" }, "← Conversations")), body);
  async function load() {
    try {
      const { conversation: c, messages, same_address_conversations: sameAddress } =
        await api("GET", `/v1/conversations/${encodeURIComponent(id)}${query({ website_id: website })}`);
      const act = (label, method, path, cls) => h("button", { class: cls, onclick: async (e) => {
        e.target.disabled = true;
        try { await api(method, path, {}); await load(); } catch (error) { alert(error.message); e.target.disabled = false; }
      } }, label);
      body.replaceChildren(
        h("section", { class: "card" },
          h("h1", {}, `Conversation ${c.conversation_id}`),
          h("p", { class: "muted" }, `${c.website_id} · ${c.channel}${c.device ? ` · ${c.device}` : ""}${c.country ? ` · ${c.country}` : ""}${c.language || c.detected_language ? ` · ${c.language || `${c.detected_language} (detected)`}` : ""} · started ${when(c.first_seen_at)}`,
            c.page_url ? ` · ${c.page_url}` : "", c.contact_id ? " · " : "",
            c.contact_id ? h("a", { href: `#contacts/${encodeURIComponent(c.contact_id)}` }, "contact") : "",
            sameAddress ? " · " : "",
            sameAddress ? h("a", { id: "same-address", href: `#conversations${query({ website_id: c.website_id, ip: c.ip_address })}` },
              `${number(sameAddress)} other conversation${sameAddress === 1 ? "" : "s"} from this address`) : ""),
          h("p", {}, h("span", { class: "badge", id: "conversation-status" }, c.status),
            c.requires_human ? h("span", { class: "badge human" }, "needs a human") : "",
            c.rating ? ` rated ${c.rating}/5` : ""),
          h("div", { class: "actions" },
            h("label", {}, "Priority ",
              h("select", { id: "priority", onchange: async (e) => {
                e.target.disabled = true;
                try {
                  await api("PUT", `/v1/conversations/${encodeURIComponent(c.conversation_id)}/priority${query({ website_id: c.website_id })}`,
                    { priority: e.target.value });
                  await load();
                } catch (error) { alert(error.message); e.target.disabled = false; }
              } }, PRIORITIES.map((p) => h("option", { value: p, selected: c.priority === p }, p)))),
            c.status !== "closed" ? act("Close", "POST", `/v1/conversations/${encodeURIComponent(c.conversation_id)}/close${query({ website_id: c.website_id })}`, "plain") : "")),
        h("section", { class: "card transcript", id: "transcript" }, messages.map((m) => h("div", { class: `bubble ${m.sender}` },
          m.text === null ? h("em", {}, "(text no longer kept)") : m.text,
          h("span", { class: "meta" }, `${m.sender_name || m.sender} · ${when(m.sent_at)}`,
            m.requires_human ? " · flagged for a human" : "", m.human_replied ? " · a human replied" : ""),
          h("span", { class: "actions" },
            !m.requires_human ? act("Flag for a human", "POST", `/v1/messages/${m.id}/flag`, "plain") : "",
            m.requires_human && !m.human_replied ? act("Mark replied", "POST", `/v1/messages/${m.id}/human-replied`, "plain") : "")))));
    } catch (error) {
      showError(body, error);
    }
  }
  load();
  leave = onLive(["message.sent", "conversation.closed", "message.flagged_for_human", "message.human_replied",
    "conversation.priority_changed"], load);
}

// ---- contacts -------------------------------------------------------------------------------

async function download(path, name) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (!response.ok) {
    const text = await response.text();
    let message = `${response.status}`;
    try { message = JSON.parse(text).message || message; } catch (_) { /* not JSON */ }
    return alert(`Export failed: ${message}`);
  }
  const url = URL.createObjectURL(await response.blob());
  h("a", { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// For a view that reloads as its filters change: each load asks for a ticket, and an answer
// whose ticket is no longer the latest is dropped, so a slow answer to old filters never
// replaces the answer to new ones.
function latestOnly() {
  let latest = 0;
  return () => {
    const mine = ++latest;
    return () => mine === latest;
  };
}

// The export formats the dashboard offers: CSV for any tool, CSV that Excel opens as UTF-8,
// an Excel workbook, and JSON.
const EXPORT_FORMATS = [
  ["CSV", { format: "csv" }, "csv"],
  ["CSV for Excel", { format: "csv", bom: "true" }, "csv"],
  ["Excel", { format: "xlsx" }, "xlsx"],
  ["JSON", { format: "json" }, "json"],
];

// Buttons downloading `/v1/exports/{kind}` with the filters `filters()` gives, in each format.
function exportButtons(kind, label, filters) {
  return h("span", { class: "actions", "data-export": kind }, `${label}: `, EXPORT_FORMATS.map(([name, format, ext]) =>
    h("button", { type: "button", class: "plain", onclick: () => {
      const params = Object.assign({}, filters(), format, { page: undefined, limit: undefined, cursor: undefined, sort: undefined });
      download(`/v1/exports/${kind}${query(params)}`, `${kind}.${ext}`);
    } }, name)));
}

// The contact insights' cards, by their `GET /v1/stats/contacts` names; a card opens as the
// contacts (or conversations) of the figure it names or, for a rate or an average, of the
// count it is taken over.
const CONTACT_METRICS = [
  ["total_contacts", "Total contacts", number],
  ["new_contacts", "New", number],
  ["contacts_in_open_conversations", "In an open conversation", number],
  ["awaiting_follow_up", "Awaiting follow-up", number],
  ["avg_conversations_per_contact", "Conversations per contact", number, "active_contacts"],
  ["avg_bot_first_response_ms", "Bot first response (mean)", duration, "contact_conversations_bot_answered"],
  ["avg_agent_first_response_ms", "Agent first response (mean)", duration, "contact_conversations_agent_answered"],
  ["conversion_rate", "Conversion rate", percent, "contact_conversations"],
  ["repeat_visitor_rate", "Repeat visitors", percent, "repeat_contacts"],
];

// An `open` path of the statistics as the dashboard's hash: contacts or conversations.
const openingAny = (path) => (path ? `#${path.startsWith("/v1/contacts") ? "contacts" : "conversations"}?${path.split("?")[1] || ""}` : null);

// The last 30 days of contact insights, as cards and channel shares.
async function contactInsights(box, website) {
  const today = new Date();
  const range = { website_id: website, from: day(new Date(today.getTime() - 29 * 86400000)), to: day(today) };
  try {
    const [insights, words] = await Promise.all([api("GET", `/v1/stats/contacts${query(range)}`), figureDefinitions()]);
    const current = insights.current;
    box.replaceChildren(
      h("p", { class: "muted" }, `Contacts, ${current.from} – ${current.to}, against the 30 days before`),
      h("div", { class: "cards", id: "contact-insights" }, CONTACT_METRICS.map(([key, label, format, opens]) => {
        const change = insights.change[key];
        const href = openingAny(current.open[opens || key]);
        return h(href ? "a" : "div", { class: "metric", "data-metric": key, title: words[key] || "", href: href || undefined },
          h("div", { class: "label" }, label),
          h("div", { class: "value" }, format(current[key])),
          h("div", { class: "muted" }, `before: ${format(insights.previous[key])} `,
            change === null || change === undefined ? "" :
              h("span", { class: change >= 0 ? "up" : "down" }, `${change >= 0 ? "▲" : "▼"} ${percent(Math.abs(change))}`)));
      })),
      h("p", { id: "contact-channels" }, "By channel: ", current.by_channel.length ? current.by_channel.map((c, i) => [i ? " · " : "",
        h("a", { href: openingAny(c.open) }, `${c.channel} ${number(c.contacts)} (${percent(c.share)})`)]).flat() : "none"));
  } catch (error) {
    showError(box, error);
  }
}

// The contacts list's filters that a link may set.
const CONTACT_FILTERS = ["website_id", "q", "channel", "created", "lead_score", "sort", "population", "from", "to", "tz"];

function contacts(main, id, _website, params) {
  if (id) return contactDetail(main, id);
  const filters = { website_id: "", q: "", channel: "", created: "", lead_score: "", sort: "", page: 1, limit: 50 };
  for (const k of CONTACT_FILTERS) if (params && params.get(k)) filters[k] = params.get(k);
  const table = h("div", { class: "table-wrap" });
  const insights = h("section", { class: "card" });
  const drill = filters.population
    ? h("p", { class: "card drill", id: "contact-drill-down" }, `${filters.population.replaceAll("_", " ")} contacts, ${filters.from} – ${filters.to}`,
      filters.channel ? `, channel ${filters.channel}` : "", " ", h("a", { href: "#contacts" }, "clear"))
    : "";
  main.append(insights, drill);
  contactInsights(insights, filters.website_id);
  main.append(
    h("form", { class: "card filters", onsubmit: (e) => { e.preventDefault(); filters.page = 1; load(); } },
      websiteSelect(filters.website_id, (e) => { filters.website_id = e.target.value; load(); contactInsights(insights, filters.website_id); }),
      h("label", {}, "Search", h("input", { id: "contact-q", type: "search", placeholder: "name, e-mail or phone", onchange: (e) => { filters.q = e.target.value; } })),
      h("label", {}, "Channel", h("input", { onchange: (e) => { filters.channel = e.target.value; } })),
      h("label", {}, "Created", h("select", { onchange: (e) => { filters.created = e.target.value; load(); } },
        [["", "any time"], ["today", "today"], ["7d", "last 7 days"], ["30d", "last 30 days"]].map(([v, l]) => h("option", { value: v }, l)))),
      h("label", {}, "Lead score", h("select", { id: "lead-score", onchange: (e) => { filters.lead_score = e.target.value; filters.page = 1; load(); } },
        [["", "any"], ["hot", "hot"], ["warm", "warm"], ["cold", "cold"]].map(([v, l]) => h("option", { value: v }, l)))),
      h("label", {}, "Order", h("select", { onchange: (e) => { filters.sort = e.target.value; filters.page = 1; load(); } },
        [["", "latest activity"], ["-lead_score", "hottest first"]].map(([v, l]) => h("option", { value: v }, l)))),
      h("button", { type: "submit" }, "Search"),
      exportButtons("contacts", "Export contacts", () => filters)),
    table);
  const loading = latestOnly();
  async function load() {
    const current = loading();
    try {
      const answer = await api("GET", `/v1/contacts${query(filters)}`);
      if (!current()) return;
      table.replaceChildren(
        h("p", { class: "muted" }, `${number(answer.total)}${answer.total_capped ? "+" : ""} contacts`),
        h("table", { id: "contact-list" },
          h("thead", {}, h("tr", {}, ["ID", "Name", "Email", "Phone", "Channel", "Lead", "Created at"].map((t, i) => h("th", { class: i === 0 || i === 4 ? "optional" : undefined }, t)))),
          h("tbody", {}, answer.contacts.map((c) => h("tr", { class: "clickable", onclick: () => { location.hash = `contacts/${encodeURIComponent(c.contact_id)}`; } },
            h("td", { class: "optional" }, c.contact_id.slice(0, 8)), h("td", {}, c.name || ""), h("td", {}, c.email || ""),
            h("td", {}, c.phone || ""), h("td", { class: "optional" }, c.channel),
            h("td", {}, h("span", { class: `badge lead-${c.lead_score}`, title: c.lead_reasons.join("; ") }, c.lead_score)),
            h("td", {}, when(c.first_seen_at)))))),
        h("div", { class: "actions" },
          filters.page > 1 ? h("button", { class: "plain", onclick: () => { filters.page -= 1; load(); } }, "← Previous") : "",
          answer.contacts.length === filters.limit ? h("button", { class: "plain", onclick: () => { filters.page += 1; load(); } }, "Next →") : ""));
    } catch (error) {
      showError(table, error);
    }
  }
  load();
  leave = onLive(["contact.submitted"], load);
}

function contactDetail(main, id) {
  const body = h("div", {});
  main.append(h("p", {}, h("a", { href: "#contacts" }, "← Contacts")), body);
  async function load() {
    try {
      const { contact: c, conversations: convs, requests: reqs } = await api("GET", `/v1/contacts/${encodeURIComponent(id)}`);
      const field = (name, label, value) => h("label", {}, label, h("input", { name, value: value || "" }));
      const form = h("form", { class: "filters", onsubmit: async (e) => {
        e.preventDefault();
        const data = Object.fromEntries(new FormData(form));
        for (const k of Object.keys(data)) if (data[k] === "") delete data[k];
        try { await api("PATCH", `/v1/contacts/${encodeURIComponent(c.contact_id)}`, data); await load(); } catch (error) { alert(error.message); }
      } },
        field("name", "Name", c.name), field("email", "Email", c.email), field("phone", "Phone", c.phone), field("notes", "Notes", c.notes),
        h("label", {}, "Lead status", h("select", { name: "lead_status" },
          ["new", "active", "follow_up", "archived"].map((s) => h("option", { value: s, selected: s === c.lead_status }, s)))),
        h("button", { type: "submit" }, "Save"));
      const mergeInput = h("input", { placeholder: "contact ids, comma-separated" });
      body.replaceChildren(
        h("section", { class: "card" },
          h("h1", {}, c.name || c.email || c.phone || c.contact_id),
          h("p", { class: "muted" }, `${c.contact_id} · ${c.channel} · created ${when(c.first_seen_at)} · ${c.conversation_count} conversations · ${c.request_count} requests`),
          h("p", { id: "lead-score" }, h("span", { class: `badge lead-${c.lead_score}` }, `${c.lead_score} lead`), " ", c.lead_reasons.join(" · ")),
          c.erased_at ? h("p", { class: "error" }, `Erased ${when(c.erased_at)}`) : form,
          c.erased_at ? "" : h("div", { class: "actions" },
            h("label", {}, "Merge into this contact", mergeInput),
            h("button", { class: "plain", onclick: async () => {
              const ids = mergeInput.value.split(",").map((s) => s.trim()).filter(Boolean);
              if (!ids.length || !confirm(`Merge ${ids.length} contact(s) into this one?`)) return;
              try { await api("POST", "/v1/contacts/merge", { surviving_contact_id: c.contact_id, merged_contact_ids: ids }); await load(); } catch (error) { alert(error.message); }
            } }, "Merge"),
            h("button", { class: "danger", onclick: async () => {
              if (!confirm("Erase this person's personal data everywhere? This cannot be undone.")) return;
              try { await api("DELETE", `/v1/contacts/${encodeURIComponent(c.contact_id)}`); await load(); } catch (error) { alert(error.message); }
            } }, "Delete"))),
        h("section", { class: "card" }, h("h2", {}, "Conversations"),
          h("div", { class: "table-wrap" }, h("table", {}, h("tbody", {}, (convs || []).map((v) => h("tr", { class: "clickable", onclick: () => { location.hash = conversationHash(Object.assign({ website_id: c.website_id }, v)); } },
            h("td", {}, v.conversation_id), h("td", {}, h("span", { class: "badge" }, v.status)), h("td", {}, `${number(v.message_count)} messages`), h("td", {}, when(v.last_activity_at)))))))),
        h("section", { class: "card" }, h("h2", {}, "Contact requests"),
          (reqs || []).map((r) => h("p", {}, h("a", { href: `#requests/${encodeURIComponent(r.request_id)}` }, r.request_id), " ", h("span", { class: `badge ${r.status}` }, r.status), ` ${when(r.created_at)}`))));
    } catch (error) {
      showError(body, error);
    }
  }
  load();
}

// ---- contact requests -----------------------------------------------------------------------

const NEXT_STATUS = { pending: ["contacted", "resolved"], contacted: ["resolved", "pending"], resolved: ["pending"] };

function requests(main, id) {
  if (id) return requestDetail(main, id);
  const filters = { website_id: "", status: "pending", limit: 50 };
  const table = h("div", { class: "table-wrap" });
  main.append(
    h("form", { class: "card filters", onsubmit: (e) => e.preventDefault() },
      websiteSelect("", (e) => { filters.website_id = e.target.value; load(); }),
      h("label", {}, "Status", h("select", { id: "request-status", onchange: (e) => { filters.status = e.target.value; load(); } },
        ["pending", "contacted", "resolved", ""].map((s) => h("option", { value: s }, s || "any")))),
      exportButtons("requests", "Export requests", () => ({ website_id: filters.website_id, status: filters.status }))),
    table);
  async function load() {
    try {
      const answer = await api("GET", `/v1/contact-requests${query(filters)}`);
      table.replaceChildren(
        h("p", { class: "muted" }, `${number(answer.total)} requests`),
        h("table", { id: "request-list" },
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Email"), h("th", { class: "optional" }, "Phone"), h("th", {}, "Status"), h("th", {}, "Created"))),
          h("tbody", {}, answer.requests.map((r) => h("tr", { class: "clickable", "data-request": r.request_id, onclick: () => { location.hash = `requests/${encodeURIComponent(r.request_id)}`; } },
            h("td", {}, r.name || ""), h("td", {}, r.email || ""), h("td", { class: "optional" }, r.phone || ""),
            h("td", {}, h("span", { class: `badge ${r.status}` }, r.status)), h("td", {}, when(r.created_at)))))));
    } catch (error) {
      showError(table, error);
    }
  }
  load();
  leave = onLive(["contact.submitted", "contact_request.status_changed"], load);
}

function requestDetail(main, id) {
  const body = h("div", {});
  main.append(h("p", {}, h("a", { href: "#requests" }, "← Contact requests")), body);
  async function load() {
    try {
      const { request: r, changes } = await api("GET", `/v1/contact-requests/${encodeURIComponent(id)}`);
      const notes = h("textarea", { id: "notes", rows: 2, placeholder: "notes" });
      body.replaceChildren(
        h("section", { class: "card" },
          h("h1", {}, r.name || r.email || r.request_id),
          h("p", { class: "muted" }, `${r.email || ""} ${r.phone || ""} · ${r.website_id} · `,
            h("a", { href: conversationHash(r) }, "conversation"), ` · ${when(r.created_at)}`),
          h("p", {}, "Status: ", h("span", { class: `badge ${r.status}`, id: "request-status-badge" }, r.status)),
          r.message ? h("p", {}, r.message) : "",
          h("div", { class: "actions" }, h("label", {}, "Notes", notes),
            (NEXT_STATUS[r.status] || []).map((s) => h("button", { "data-status": s, onclick: async (e) => {
              e.target.disabled = true;
              try {
                await api("PATCH", `/v1/contact-requests/${encodeURIComponent(r.request_id)}`, { status: s, expected_status: r.status, notes: notes.value || undefined });
                await load();
              } catch (error) { alert(error.message); e.target.disabled = false; }
            } }, `Mark ${s}`)))),
        h("section", { class: "card transcript" }, h("h2", {}, "What the visitor saw"),
          (r.chat_context || []).map((line) => h("div", { class: `bubble ${line.is_user ? "user" : "bot"}` }, line.text))),
        h("section", { class: "card" }, h("h2", {}, "History"),
          (changes || []).map((c) => h("p", {}, `${when(c.occurred_at)}: ${c.expected_status} → ${c.status}`,
            c.outcome ? ` (${c.outcome}${c.reason ? `: ${c.reason}` : ""})` : "", c.notes ? ` — ${c.notes}` : ""))));
    } catch (error) {
      showError(body, error);
    }
  }
  load();
  leave = onLive(["contact_request.status_changed"], load);
}

// ---- start ----------------------------------------------------------------------------------

if (state.token) login(state.token).catch(() => logout());

// ---- weekly reports -------------------------------------------------------------------------

const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

function reports(main) {
  const known = h("datalist", { id: "known-websites" }, state.websites.map((w) => h("option", { value: w.website_id }, w.name || "")));
  const website = h("input", { id: "report-website", list: "known-websites", required: true, value: (state.websites[0] || {}).website_id || "" });
  const body = h("div", {});
  main.append(
    h("form", { class: "card filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      h("label", {}, "Website", website), known, h("button", { type: "submit" }, "Open")),
    body);

  async function load() {
    const id = website.value.trim();
    if (!id) return;
    try {
      render(id, await api("GET", `/v1/websites/${encodeURIComponent(id)}/reports`));
    } catch (error) {
      showError(body, error);
    }
  }

  function render(id, settings) {
    const recipients = h("textarea", { id: "report-recipients", rows: 3, placeholder: "one address per line" });
    recipients.value = (settings.recipients || []).join("\n");
    const zone = h("input", { id: "report-time-zone", value: settings.time_zone, placeholder: "Europe/Berlin" });
    const weekday = h("select", { id: "report-weekday" }, WEEKDAYS.map((d, i) => h("option", { value: i + 1, selected: i + 1 === settings.weekday }, d)));
    const hour = h("input", { id: "report-hour", type: "number", min: 0, max: 23, value: settings.hour });
    const result = h("p", { id: "report-result", role: "status" });
    const save = async (e) => {
      e.preventDefault();
      try {
        await api("PUT", `/v1/websites/${encodeURIComponent(id)}/reports`, {
          recipients: recipients.value.split(/[\s,;]+/).filter(Boolean),
          time_zone: zone.value.trim() || undefined,
          weekday: Number(weekday.value),
          hour: Number(hour.value),
        });
        result.className = "";
        result.textContent = "Saved.";
      } catch (error) {
        result.className = "error";
        result.textContent = `Not saved: ${error.message}`;
      }
    };
    const send = async () => {
      try {
        const answer = await api("POST", `/reports/weekly${query({ website_id: id })}`);
        const r = answer.reports[0];
        result.className = "";
        result.textContent = r.status === "sent"
          ? `The report for ${r.from} to ${r.to} went to ${r.recipients} recipient(s).`
          : `The report for ${r.from} to ${r.to} was sent before${r.sent_at ? `, ${when(r.sent_at)}` : ""}; it is sent once.`;
      } catch (error) {
        result.className = "error";
        result.textContent = `Not sent: ${error.message}`;
      }
    };
    body.replaceChildren(h("form", { class: "card", onsubmit: save },
      h("h2", {}, `Weekly report for ${id}`),
      h("p", { class: "muted" }, "The week's statistics against the week before, the busiest pages and the open contact requests, by e-mail. It covers the seven days before the day it is sent on (UTC days)."),
      h("label", {}, "Recipients", recipients),
      h("div", { class: "filters" },
        h("label", {}, "Day", weekday),
        h("label", {}, "Hour", hour),
        h("label", {}, "Time zone", zone)),
      h("div", { class: "actions" },
        h("button", { type: "submit" }, "Save"),
        h("button", { type: "button", class: "plain", id: "report-send", onclick: send }, "Send last week's report now")),
      result));
  }

  load();
}

// ---- integrations ---------------------------------------------------------------------------

// The kinds of webhook message, as docs/webhooks.md names them.
const WEBHOOK_KINDS = ["contact.created", "contact.updated", "contact.erased", "contact_request.created",
  "contact_request.status_changed", "conversation.handed_off", "conversation.closed", "conversation.rated"];

function integrations(main) {
  const known = h("datalist", { id: "known-websites" }, state.websites.map((w) => h("option", { value: w.website_id }, w.name || "")));
  const website = h("input", { id: "webhook-website", list: "known-websites", required: true, value: (state.websites[0] || {}).website_id || "" });
  const body = h("div", {});
  const log = h("div", { id: "webhook-log" });
  main.append(
    h("form", { class: "card filters", onsubmit: (e) => { e.preventDefault(); load(); } },
      h("label", {}, "Website", website), known, h("button", { type: "submit" }, "Open")),
    body, log);

  async function load(message) {
    const id = website.value.trim();
    if (!id) return;
    try {
      render(id, (await api("GET", `/v1/websites/${encodeURIComponent(id)}/webhooks`)).webhooks, message);
    } catch (error) {
      showError(body, error);
    }
  }

  // What an endpoint's health reads as.
  const health = (w) => (w.disabled_at ? `disabled ${when(w.disabled_at)}: ${w.disabled_reason}`
    : !w.enabled ? "turned off" : w.failing_since ? `failing since ${when(w.failing_since)}` : "working");

  function render(id, webhooks, message) {
    const act = (method, path, after) => async () => {
      try {
        const answer = await api(method, path);
        await load(after(answer));
      } catch (error) {
        showError(log, error);
      }
    };
    const rows = webhooks.map((w) => {
      const path = `/v1/webhooks/${w.endpoint_id}`;
      return h("tr", {},
        h("td", {}, w.url, w.description ? h("div", { class: "muted" }, w.description) : null),
        h("td", {}, w.kinds.join(", "), w.channel ? h("div", { class: "muted" }, `channel ${w.channel}`) : null),
        h("td", { class: "webhook-health" }, health(w)),
        h("td", { class: "num" }, number(w.pending)),
        h("td", { class: "actions" },
          h("button", { type: "button", class: "plain", onclick: act("POST", `${path}/test`, (a) => `Test ${a.delivery_id} queued.`) }, "Send a test"),
          h("button", { type: "button", class: "plain", onclick: () => deliveries(w) }, "Delivery log"),
          h("button", { type: "button", class: "plain", onclick: async () => {
            try { await api("PATCH", path, { enabled: !w.enabled || Boolean(w.disabled_at) }); await load(); } catch (error) { showError(log, error); }
          } }, w.enabled && !w.disabled_at ? "Turn off" : "Enable"),
          h("button", { type: "button", class: "plain", onclick: act("POST", `${path}/secret`,
            (a) => `New secret (shown once): ${a.secret}. The old one signs too until ${when(a.previous_valid_until)}.`) }, "New secret"),
          h("button", { type: "button", class: "plain", onclick: act("DELETE", path, () => "Deleted.") }, "Delete")));
    });
    const url = h("input", { id: "webhook-url", type: "url", required: true, placeholder: "where your CRM receives webhooks (an HTTPS URL)" });
    const channel = h("input", { id: "webhook-channel", placeholder: "all channels" });
    const boxes = WEBHOOK_KINDS.map((k) => h("input", { type: "checkbox", value: k, checked: true }));
    const result = h("p", { id: "webhook-result", role: "status" }, message || "");
    const add = async (e) => {
      e.preventDefault();
      try {
        const answer = await api("POST", `/v1/websites/${encodeURIComponent(id)}/webhooks`, {
          url: url.value.trim(),
          kinds: boxes.filter((b) => b.checked).map((b) => b.value),
          channel: channel.value.trim() || undefined,
        });
        await load(`Registered. Its signing secret, shown once: ${answer.secret}`);
      } catch (error) {
        result.className = "error";
        result.textContent = `Not registered: ${error.message}`;
      }
    };
    body.replaceChildren(
      h("section", { class: "card" },
        h("h2", {}, `Webhooks of ${id}`),
        h("p", { class: "muted" }, "Signed JSON posted to your CRM or your own code when contacts, contact requests and conversations change; see docs/webhooks.md for what each message carries and how to verify its signature."),
        webhooks.length
          ? h("div", { class: "table-wrap" }, h("table", { id: "webhooks" },
            h("thead", {}, h("tr", {}, ["Endpoint", "Sends", "Health", "Waiting", ""].map((c) => h("th", {}, c)))),
            h("tbody", {}, rows)))
          : h("p", {}, "No endpoint yet."),
        result),
      h("form", { class: "card", onsubmit: add },
        h("h2", {}, "Add an endpoint"),
        h("label", {}, "URL", url),
        h("fieldset", {}, h("legend", {}, "Send"), boxes.map((b) => h("label", { class: "check" }, b, b.value))),
        h("label", {}, "Only the channel", channel),
        h("button", { type: "submit" }, "Add")));
  }

  async function deliveries(w) {
    try {
      const answer = await api("GET", `/v1/webhooks/${w.endpoint_id}/deliveries?limit=100`);
      const attempts = (d) => d.attempt_log.map((a) =>
        `#${a.attempt} ${when(a.at)}: ${a.status === null ? "no answer" : a.status}, ${duration(a.latency_ms)}${a.error ? ` (${a.error})` : ""}`).join("\n");
      const again = (d) => async () => {
        try {
          await api("POST", `/v1/webhooks/${w.endpoint_id}/deliveries/${d.delivery_id}/redeliver`);
          await deliveries(w);
        } catch (error) {
          showError(log, error);
        }
      };
      log.replaceChildren(h("section", { class: "card" },
        h("h2", {}, `Delivery log of ${w.url}`),
        answer.deliveries.length
          ? h("div", { class: "table-wrap" }, h("table", { id: "webhook-deliveries" },
            h("thead", {}, h("tr", {}, ["Message", "Happened", "State", "Attempts", "Last answer", "Next attempt", ""].map((c) => h("th", {}, c)))),
            h("tbody", {}, answer.deliveries.map((d) => h("tr", {},
              h("td", { title: d.delivery_id }, d.kind),
              h("td", {}, when(d.occurred_at)),
              h("td", {}, d.state),
              h("td", { class: "num", title: attempts(d) }, number(d.attempts)),
              h("td", {}, d.last_status === null ? (d.last_error || "") : `${d.last_status}${d.last_error ? ` ${d.last_error}` : ""}`),
              h("td", {}, when(d.next_attempt_at)),
              h("td", {}, ["delivered", "failed"].includes(d.state)
                ? h("button", { type: "button", class: "plain", onclick: again(d) }, "Send again") : null))))))
          : h("p", {}, "Nothing sent yet.")));
    } catch (error) {
      showError(log, error);
    }
  }

  load();
}
