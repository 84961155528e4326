// The Flockwatch dashboard: a page over the query API (/api/v1), nothing it cannot do itself.
// Everything shown comes from the API with the token the user signed in with (kept in this tab's sessionStorage,
// never in the URL). Text from posts is attacker-controlled: it only ever reaches the page as text nodes (h()).
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "flockwatch-token";
const state = { token: sessionStorage.getItem(TOKEN_KEY), me: null };
const view = () => document.getElementById("view");

// Elements from data without innerHTML: attributes by name, `on*` as listeners, children as nodes or text.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Views return nested arrays of nodes (with nulls for what is absent): flatten them for replaceChildren.
const nodes = (content) => [content].flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false);
const enc = encodeURIComponent;
const link = (hash, text) => h("a", { href: hash }, text);
const when = (iso) => (iso ? String(iso).slice(0, 16).replace("T", " ") : "–");
const num = (x, digits = 2) => (typeof x === "number" ? x.toFixed(digits) : "–");
const can = (right) => Boolean(state.me && state.me.rights.includes(right));

class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (res.status === 401) {
    signOut("The API refused the token (revoked or mistyped). Paste a valid one.");
    throw new ApiError(401, "not signed in");
  }
  if (!res.ok) {
    let detail = res.statusText;
    try {
      const body = await res.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) { /* not JSON: keep the status text */ }
    throw new ApiError(res.status, detail);
  }
  return options.raw ? res : res.json();
}

// A server-drawn plot (PNG/SVG needs the token, so it is fetched and shown from a blob URL).
function plot(path, alt) {
  const box = h("figure", { class: "plotbox" }, h("p", { class: "muted" }, `Drawing ${alt}…`));
  api(path, { raw: true })
    .then((res) => res.blob())
    .then((blob) => {
      const img = h("img", { class: "plot", alt, src: URL.createObjectURL(blob) });
      box.replaceChildren(img, h("figcaption", { class: "muted" }, alt));
    })
    .catch((err) => box.replaceChildren(h("p", { class: "muted" }, `${alt}: ${err.message}`)));
  return box;
}

function table(headers, rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", {}, name)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", typeof c === "number" ? { class: "num" } : {}, c))))));
}

// Researchers see accounts as pseudonyms, which have no account page.
const accountLink = (account) =>
  account && state.me.role !== "researcher" ? link(`#/accounts/${enc(account)}`, account) : (account || "–");

// A stored post's account key; for researchers the API already gives the author as a pseudonym ("anon:...").
const accountOf = (p) => {
  const id = p.author && p.author.id;
  if (!id) return null;
  return String(id).startsWith("anon:") ? id : `${p.platform}:${id}`;
};

function postRows(posts) {
  return table(["when", "account", "text", "machine", "media"], posts.map((p) => [
    when(p.created_at),
    accountLink(p.account || accountOf(p)),
    h("span", {}, link(`#/posts/${enc(p.post_key || p.key)}`, "open"), " ", p.text || ""),
    num(p.machine_score ?? (p.text_score && p.text_score.machine_score)),
    num(p.media_risk),
  ]));
}

function mediaPanels(media) {
  if (!media.length) return h("p", { class: "muted" }, "No media was scored for these posts.");
  return media.map((m) => h("div", { class: "panel media" },
    h("div", { class: "row" }, h("strong", {}, m.media_kind || "media"), h("span", { class: "muted" }, m.media_url || ""),
      m.post_key ? link(`#/posts/${enc(m.post_key)}`, m.post_key) : null),
    h("p", { class: "verdict" }, m.verdict),
    m.sha256 ? h("p", { class: "muted" }, `sha256 ${m.sha256}`) : null,
    m.signals.length ? h("ul", { class: "evidence" }, m.signals.map((s) => h("li", {}, s))) : null,
    (m.observations || []).length ? h("div", {}, h("p", { class: "muted" }, "Observations (measured, not scored):"),
      h("ul", { class: "evidence observations" }, m.observations.map((o) => h("li", {}, o)))) : null,
    m.provenance ? h("p", {}, "Provenance: ", m.provenance) : null,
    m.matches.length ? h("p", {}, "Matches: ", m.matches.join("; ")) : null));
}

// "Add to case": attach what the page shows (kind, ref) to an open case, for roles that may act.
function addToCase(kind, ref) {
  if (!can("act")) return null;
  const box = h("span", { class: "actions add-to-case" });
  const open = h("button", { class: "secondary", onclick: async () => {
    const cases = (await api("/cases?limit=50")).items.filter((c) => c.status !== "closed");
    if (!cases.length) {
      box.replaceChildren(h("span", { class: "muted" }, "No open case: "), link("#/cases", "open one"));
      return;
    }
    const pick = h("select", { name: "case", "aria-label": "case" }, cases.map((c) => h("option", { value: c.case_id }, c.name)));
    const add = h("button", { onclick: async () => {
      add.disabled = true;
      try {
        await api(`/cases/${enc(pick.value)}/items`, { method: "POST", body: { kind, ref } });
        box.replaceChildren(h("span", {}, "Added to "), link(`#/cases/${enc(pick.value)}`, pick.selectedOptions[0].textContent));
      } catch (err) {
        box.replaceChildren(h("span", { class: "error" }, err.message));
      }
    } }, "Add");
    box.replaceChildren(pick, add);
  } }, `Add ${kind} to a case`);
  box.append(open);
  return box;
}

// A file from the API (it needs the token, so no plain link): fetched, then handed to the browser to save.
function download(path, filename, label) {
  return h("button", { class: "secondary", onclick: async (event) => {
    try {
      const blob = await (await api(path, { raw: true })).blob();
      const a = h("a", { href: URL.createObjectURL(blob), download: filename });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (err) {
      event.target.after(h("span", { class: "error" }, err.message));
    }
  } }, label);
}

// --- views -----------------------------------------------------------------------------------------------

function lifecycleButtons(alert, after) {
  if (!can("act") || alert.status === "resolved") return null;
  const act = (action) => async (event) => {
    event.target.disabled = true;
    try {
      await api(`/alerts/${enc(alert.alert_id)}/${action}`, { method: "POST" });
      after();
    } catch (err) {
      event.target.after(h("span", { class: "error" }, err.message));
    }
  };
  return h("span", { class: "actions" },
    alert.status === "new" ? h("button", { class: "secondary", onclick: act("acknowledge") }, "Acknowledge") : null,
    h("button", { class: "secondary", onclick: act("resolve") }, "Resolve"));
}

// The evidence behind an alert (its summary is shown beside it already).
function briefBody(brief) {
  return [
    brief.evidence.length ? h("ul", { class: "evidence" }, brief.evidence.map((e) => h("li", {}, e))) : null,
    brief.narrative ? h("section", {},
      h("h2", {}, "What the narrative says"),
      h("blockquote", {}, brief.narrative.text),
      h("p", { class: "muted" },
        `${brief.narrative.post_count ?? "?"} posts by ${brief.narrative.account_count ?? "?"} accounts on `,
        Object.entries(brief.narrative.platforms).map(([p, n]) => `${p} (${n})`).join(", ") || "–", ". ",
        link(`#/narratives/${enc(brief.narrative.narrative_id)}`, "Timeline and posts"))) : null,
    h("h2", {}, "Accounts behind it"),
    brief.accounts.length
      ? table(["account", "posts in this alert"], brief.accounts.map((a) => [accountLink(a.account), a.posts]))
      : h("p", { class: "muted" }, "No accounts known."),
    h("h2", {}, "Media verdicts"),
    mediaPanels(brief.media),
    h("h2", {}, "Earliest posts"),
    brief.posts.length ? postRows(brief.posts) : h("p", { class: "muted" }, "No posts stored."),
    h("p", { class: "row" },
      brief.links.cascade_id ? link(`#/spread/${enc(brief.links.cascade_id)}`, "Cascade view") : null,
      brief.links.cluster_id ? link(`#/clusters/${enc(brief.links.cluster_id)}`, "Coordination cluster") : null,
      brief.links.watch_entity ? link("#/watchlists", `Watchlist: ${brief.links.watch_entity}`) : null),
  ];
}

async function alertsView(params) {
  const status = params.get("status") || "";
  const filter = h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); location.hash = `#/alerts?status=${enc(e.target.status.value)}`; } },
    h("label", {}, "Status", h("select", { name: "status" }, ["", "new", "acknowledged", "resolved"].map((s) =>
      h("option", { value: s, selected: s === status }, s || "any")))),
    h("button", { type: "submit" }, "Show"));
  const page = await api(`/alerts?limit=50${status ? `&status=${enc(status)}` : ""}`);
  const cards = page.items.map((alert) => {
    const details = h("div", { class: "brief" });
    let open = false;
    const toggle = h("button", { class: "secondary", onclick: async () => {
      open = !open;
      toggle.textContent = open ? "Hide evidence" : "Evidence";
      if (!open) return details.replaceChildren();
      details.replaceChildren(h("p", { class: "muted" }, "Loading evidence…"));
      try {
        details.replaceChildren(...nodes(briefBody((await api(`/alerts/${enc(alert.alert_id)}`)).brief)));
      } catch (err) { details.replaceChildren(h("p", { class: "error" }, err.message)); }
    } }, "Evidence");
    return h("article", { class: "card alert", "data-alert": alert.alert_id },
      h("header", {},
        h("span", { class: `badge ${alert.severity}` }, alert.severity),
        h("span", { class: "badge status" }, alert.status),
        h("strong", {}, alert.rule), h("span", { class: "muted" }, when(alert.created_at)),
        h("span", { class: "muted" }, `${alert.post_count ?? (alert.post_keys || []).length} posts`)),
      h("p", { class: "about" }, alert.about || alert.entity),
      alert.summary ? h("p", {}, alert.summary) : null,
      h("div", { class: "row" }, toggle, link(`#/alerts/${enc(alert.alert_id)}`, "Open"),
        lifecycleButtons(alert, render)),
      details);
  });
  return [h("h1", {}, "Alerts"), filter,
    cards.length ? cards : h("p", { class: "muted" }, "No alerts. Raise some with the pipeline (flockwatch demo).")];
}

async function alertView(id) {
  const { alert, brief } = await api(`/alerts/${enc(id)}`);
  return [
    h("h1", {}, brief.headline),
    h("p", { class: "row" }, h("span", { class: `badge ${alert.severity}` }, alert.severity),
      h("span", { class: "badge status" }, alert.status), h("span", { class: "muted" }, `raised ${when(alert.created_at)}`),
      lifecycleButtons(alert, render), addToCase("alert", alert.alert_id)),
    brief.summary ? h("p", {}, brief.summary) : null,
    briefBody(brief),
    (alert.history || []).length ? [h("h2", {}, "History"), table(["when", "status", "by", "note"],
      alert.history.map((e) => [when(e.at), e.status || "", e.by || "", e.note || ""]))] : null,
  ];
}

async function narrativeView(id) {
  const n = await api(`/narratives/${enc(id)}`);
  return [
    h("h1", {}, "Narrative ", h("span", { class: "muted" }, id)),
    h("blockquote", {}, n.representative_text || "(no text)"),
    h("p", { class: "row" }, addToCase("narrative", id)),
    h("p", { class: "muted" }, `${n.post_count ?? "?"} posts, ${n.account_count ?? "?"} accounts, first ${when(n.first_seen)}, latest ${when(n.last_seen)}`),
    plot(`/narratives/${enc(id)}/plot?format=svg`, "Posts per day"),
    h("h2", {}, "Earliest posts"), postRows(n.earliest_posts || []),
    h("h2", {}, "Accounts"), h("p", {}, (n.accounts || []).map((a, i) => [i ? ", " : "", accountLink(a)])),
  ];
}

async function spreadView(key) {
  const s = await api(`/posts/${enc(key)}/spread?max_nodes=2000`);
  const metrics = Object.entries(s.metrics).filter(([, v]) => typeof v !== "object");
  return [
    h("h1", {}, "Cascade of ", link(`#/posts/${enc(s.root_key || key)}`, s.root_key || key)),
    h("p", { class: "row" }, addToCase("cascade", s.root_key || key)),
    h("div", { class: "plots" },
      plot(`/posts/${enc(key)}/spread/plot?kind=tree&format=png`, "Reshare tree"),
      plot(`/posts/${enc(key)}/spread/plot?kind=timeline&format=png`, "Reshares over time")),
    h("h2", {}, "Metrics"),
    table(["metric", "value"], metrics.map(([k, v]) => [k.replaceAll("_", " "), typeof v === "number" ? Number(v.toFixed(4)) : String(v)])),
    h("p", { class: "muted" }, `${s.tree.nodes.length} posts listed${s.tree.omitted ? `, ${s.tree.omitted} more left out` : ""}.`),
    verdictPanel(s.cascade_id, s.verdict, s.merged_verdicts),
    resharerHistory(s.metrics.resharer_history),
  ];
}

// An analyst's verdict on the cascade: shown to everyone; given, changed or withdrawn by roles that may act.
// False and true verdicts are what `flockwatch graph history --from-store` learns the resharers' records from.
// A verdict's badge, who and when, and its note.
function verdictLine(v, prefix) {
  return h("p", { class: "verdict" }, prefix || "", h("span", { class: `badge verdict-${v.verdict}` }, `judged ${v.verdict}`),
    ` by ${v.by}, ${when(v.at)}`, v.note ? `: ${v.note}` : "");
}

// A PUT or DELETE of a cascade's verdict, then the page again; an error shows in `box`.
const sendVerdict = (cascadeId, box, method, body) => async (event) => {
  event.target.disabled = true;
  try {
    await api(`/cascades/${enc(cascadeId)}/verdict`, { method, body: body && body() });
    render();
  } catch (err) {
    box.append(h("span", { class: "error" }, err.message));
    event.target.disabled = false;
  }
};

function verdictPanel(cascadeId, verdict, merged) {
  const acts = can("act") && cascadeId;
  // Verdicts given before their cascades merged into this one: on part of what it holds now. Withdrawn under
  // the merged cascade's own id, which is where the verdict is kept.
  const mergedLines = (merged || []).map((v) => {
    const line = verdictLine(v, `Before merging into this cascade, ${v.cascade_id} was `);
    if (acts) line.append(" ", h("button", { class: "secondary", "aria-label": `Withdraw ${v.cascade_id}'s verdict`, onclick: sendVerdict(v.cascade_id, line, "DELETE") }, "Withdraw"));
    return line;
  });
  const said = [verdict ? verdictLine(verdict) : h("p", { class: "muted verdict" }, "Not judged yet."), mergedLines];
  if (!acts) return [h("h2", {}, "Verdict"), said];
  const note = h("input", { type: "text", name: "verdict-note", "aria-label": "verdict note", placeholder: "why (fact-check, source)", maxlength: "2000" });
  const box = h("p", { class: "row actions verdict-actions" });
  box.append(note, ...["false", "true", "unverified"].map((v) =>
    h("button", { class: "secondary", onclick: sendVerdict(cascadeId, box, "PUT", () => ({ verdict: v, note: note.value })) }, `Judge ${v}`)));
  if (verdict) box.append(h("button", { class: "secondary", onclick: sendVerdict(cascadeId, box, "DELETE") }, "Withdraw"));
  return [h("h2", {}, "Verdict"), said, box];
}

// Who reshared (an account history was configured): the sentence, and the worst records as account links.
function resharerHistory(r) {
  if (!r) return [];
  return [
    h("h2", {}, "Who reshared"),
    h("p", { class: "history" }, r.explanation),
    (r.flagged_resharers || []).length
      ? table(["account", "judged false / rumour", "judged cascades reshared"], r.flagged_resharers.map((f) => [accountLink(f.account), f.flagged, f.seen]))
      : [],
  ];
}

async function clusterView(id) {
  const c = await api(`/clusters/${enc(id)}?edges=300`);
  return [
    h("h1", {}, "Coordination cluster ", h("span", { class: "muted" }, id)),
    h("p", { class: "row" }, addToCase("cluster", id)),
    plot(`/clusters/${enc(id)}/plot?format=png`, "Accounts and coordination edges"),
    h("h2", {}, `Accounts (${c.accounts.length})`), h("p", {}, c.accounts.map((a, i) => [i ? ", " : "", accountLink(a)])),
    h("h2", {}, "Windows"),
    table(["window end", "accounts", "kinds"], c.windows.map((w) => [when(w.window_end), (w.accounts || []).length, (w.kinds || []).join(", ")])),
    h("h2", {}, "Edges and their evidence"),
    table(["kind", "from", "to", "co-actions", "first co-action"], c.edges.map((e) => {
      const first = (e.coactions || [])[0];
      return [e.kind, accountLink(e.source), accountLink(e.target), (e.coactions || []).length,
        first ? `${first[0]} and ${first[1]} shared ${first[2]}` : "–"];
    })),
  ];
}

async function postView(key) {
  const [p, m] = await Promise.all([api(`/posts/${enc(key)}`), api(`/posts/${enc(key)}/media`)]);
  const ts = p.text_score || {};
  const author = p.author || {};
  return [
    h("h1", {}, "Post ", h("span", { class: "muted" }, key)),
    h("p", { class: "row" }, accountLink(p.account_key || accountOf(p)),
      author.handle ? h("span", { class: "muted" }, `@${author.handle}`) : null, h("span", { class: "muted" }, when(p.created_at)),
      p.url ? h("a", { href: p.url, rel: "noopener noreferrer", target: "_blank" }, "original") : null),
    h("blockquote", {}, p.text || "(no text)"),
    h("p", { class: "row" }, link(`#/spread/${enc(key)}`, "Spread (cascade view)"),
      p.narrative_id ? link(`#/narratives/${enc(p.narrative_id)}`, "Narrative") : null, addToCase("post", key)),
    h("h2", {}, "Machine-generated text"),
    h("p", {}, ts.label ? `${ts.label}, score ${num(ts.machine_score)}` +
      (ts.interval ? ` (interval ${num(ts.interval[0])}–${num(ts.interval[1])})` : "") : "not scored"),
    (ts.evidence || []).length ? h("ul", { class: "evidence" }, ts.evidence.map((e) => h("li", {}, `${e.signal} (${num(e.score)}) on ${e.on}: ${e.detail}`))) : null,
    h("h2", {}, "Media evidence"), mediaPanels(m.verdicts || []),
  ];
}

async function accountView(key) {
  const a = await api(`/accounts/${enc(key)}`);
  return [
    h("h1", {}, "Account ", h("span", { class: "muted" }, key)),
    h("p", { class: "row" }, addToCase("account", key)),
    (a.cluster_ids || []).length ? h("p", {}, "Coordination clusters: ",
      a.cluster_ids.map((c, i) => [i ? ", " : "", link(`#/clusters/${enc(c)}`, c)])) : h("p", { class: "muted" }, "In no coordination cluster."),
    h("h2", {}, "Newest posts"), postRows(a.posts || []),
  ];
}

async function watchlistsView() {
  const page = await api("/watchlists");
  const list = (value) => value.split(",").map((s) => s.trim()).filter(Boolean);
  const add = can("act") ? h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target;
    try {
      await api(`/watchlists/${enc(f.id.value.trim())}`, { method: "PUT", body: {
        name: f.name.value.trim(), aliases: list(f.aliases.value), handles: list(f.handles.value), languages: list(f.languages.value) } });
      render();
    } catch (err) { f.append(h("p", { class: "error" }, err.message)); }
  } },
  h("label", {}, "Id", h("input", { name: "id", required: true, pattern: "[a-z0-9_\\-]+", placeholder: "jdoe" })),
  h("label", {}, "Name", h("input", { name: "name", required: true, placeholder: "Jane Doe" })),
  h("label", {}, "Aliases (comma-separated)", h("input", { name: "aliases" })),
  h("label", {}, "Handles", h("input", { name: "handles" })),
  h("label", {}, "Languages", h("input", { name: "languages", placeholder: "en, es" })),
  h("button", { type: "submit" }, "Watch")) : null;
  const remove = (id) => async () => { await api(`/watchlists/${enc(id)}`, { method: "DELETE" }); render(); };
  return [
    h("h1", {}, "Watchlists"),
    h("p", { class: "muted" }, "Posts naming a watched entity raise watched-entity alerts."),
    add,
    page.items.length ? table(["id", "name", "aliases", "handles", "languages", ""], page.items.map((w) => [
      w.id, w.name, (w.aliases || []).join(", "), (w.handles || []).join(", "), (w.languages || []).join(", "),
      can("act") ? h("button", { class: "secondary", onclick: remove(w.id) }, "Stop watching") : "",
    ])) : h("p", { class: "muted" }, "Nothing is watched yet."),
  ];
}

const ITEM_ROUTES = { post: "posts", account: "accounts", cluster: "clusters", narrative: "narratives", alert: "alerts", cascade: "spread" };

async function casesView() {
  const page = await api("/cases?limit=100");
  const create = can("act") ? h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const made = await api("/cases", { method: "POST", body: { name: e.target.name.value.trim(), description: e.target.description.value } });
      location.hash = `#/cases/${enc(made.case_id)}`;
    } catch (err) { e.target.append(h("p", { class: "error" }, err.message)); }
  } },
  h("label", {}, "Name", h("input", { name: "name", required: true, maxlength: 200, placeholder: "Flood-relief scam" })),
  h("label", {}, "Description", h("input", { name: "description", size: 50 })),
  h("button", { type: "submit" }, "Open a case")) : null;
  return [
    h("h1", {}, "Cases"),
    h("p", { class: "muted" }, "Evidence gathered for a takedown or a report: posts, accounts, clusters, narratives, alerts and cascades, with notes."),
    create,
    page.items.length ? table(["case", "status", "items", "notes", "changed", "opened by"], page.items.map((c) => [
      link(`#/cases/${enc(c.case_id)}`, c.name), c.status, (c.items || []).length, (c.notes || []).length, when(c.updated_at), c.created_by,
    ])) : h("p", { class: "muted" }, "No cases yet."),
  ];
}

async function caseView(id) {
  const c = await api(`/cases/${enc(id)}`);
  const note = can("act") ? h("form", { class: "inline", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api(`/cases/${enc(id)}/notes`, { method: "POST", body: { text: e.target.text.value } });
      render();
    } catch (err) { e.target.append(h("p", { class: "error" }, err.message)); }
  } }, h("label", {}, "Note", h("input", { name: "text", required: true, size: 70 })), h("button", { type: "submit" }, "Add note")) : null;
  const itemLink = (i) => (ITEM_ROUTES[i.kind] && !(i.kind === "account" && state.me.role === "researcher")
    ? link(`#/${ITEM_ROUTES[i.kind]}/${enc(i.ref)}`, i.ref) : i.ref);
  return [
    h("h1", {}, "Case: ", c.name),
    c.description ? h("p", {}, c.description) : null,
    h("p", { class: "muted" }, `${c.status}, opened by ${c.created_by} on ${when(c.created_at)}, changed ${when(c.updated_at)}`),
    can("export") ? h("p", { class: "row" },
      download(`/cases/${enc(id)}/export?format=bundle`, `${id}.zip`, "Evidence bundle (zip)"),
      download(`/cases/${enc(id)}/export?format=stix`, `${id}.stix.json`, "STIX 2.1 bundle")) : null,
    h("h2", {}, "Items"),
    (c.items || []).length ? table(["kind", "item", "added by", "added", "note"], c.items.map((i) => [
      i.kind, itemLink(i), i.added_by, when(i.added_at), i.note || "",
    ])) : h("p", { class: "muted" }, "Nothing yet: use “Add … to a case” on an alert, post, account, narrative, cascade or cluster."),
    h("h2", {}, "Notes"),
    (c.notes || []).length ? h("ul", { class: "evidence" }, c.notes.map((n) => h("li", {}, `${when(n.created_at)} ${n.author || ""}: `, n.text))) : h("p", { class: "muted" }, "No notes."),
    note,
  ];
}

async function searchView(params) {
  const q = params.get("q") || "";
  const form = h("form", { class: "inline", onsubmit: (e) => { e.preventDefault(); location.hash = `#/search?q=${enc(e.target.q.value)}`; } },
    h("label", {}, "Words", h("input", { name: "q", value: q, size: 40, placeholder: '"exact phrase" -not a|b' })),
    h("button", { type: "submit" }, "Search"));
  const results = h("div", {});
  const more = async (cursor) => {
    const page = await api(`/posts?limit=25&q=${enc(q)}${cursor ? `&next=${enc(cursor)}` : ""}`);
    results.append(postRows(page.items));
    if (page.next) {
      const button = h("button", { class: "secondary", onclick: () => { button.remove(); more(page.next); } }, "More");
      results.append(button);
    }
  };
  await more(null);
  return [h("h1", {}, "Posts"), form, results];
}

// --- sign-in and routing -----------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.me = null;
  showSignIn(message);
}

function showSignIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("who").replaceChildren();
  view().replaceChildren(h("form", { class: "card login", onsubmit: async (e) => {
    e.preventDefault();
    state.token = e.target.token.value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    render();
  } },
  h("h1", {}, "Sign in"),
  message ? h("p", { class: "error" }, message) : null,
  h("label", {}, "API token (from flockwatch token create, or the one flockwatch demo printed)",
    h("input", { name: "token", type: "password", autocomplete: "off", required: true })),
  h("p", {}, h("button", { type: "submit" }, "Sign in"))));
}

const ROUTES = [
  [/^#\/alerts\/([^/]+)$/, (m) => alertView(decodeURIComponent(m[1]))],
  [/^#\/narratives\/([^/]+)$/, (m) => narrativeView(decodeURIComponent(m[1]))],
  [/^#\/spread\/([^/]+)$/, (m) => spreadView(decodeURIComponent(m[1]))],
  [/^#\/clusters\/([^/]+)$/, (m) => clusterView(decodeURIComponent(m[1]))],
  [/^#\/posts\/([^/]+)$/, (m) => postView(decodeURIComponent(m[1]))],
  [/^#\/accounts\/([^/]+)$/, (m) => accountView(decodeURIComponent(m[1]))],
  [/^#\/watchlists$/, () => watchlistsView()],
  [/^#\/cases$/, () => casesView()],
  [/^#\/cases\/([^/]+)$/, (m) => caseView(decodeURIComponent(m[1]))],
  [/^#\/search$/, (m, params) => searchView(params)],
  [/^(#\/alerts)?$/, (m, params) => alertsView(params)],
];

async function render() {
  if (!state.token) return showSignIn();
  try {
    if (!state.me) {
      state.me = await api("/me");
      document.getElementById("nav").hidden = false;
      document.getElementById("who").replaceChildren(`${state.me.name} (${state.me.role})`,
        h("button", { class: "secondary", onclick: () => signOut() }, "Sign out"));
    }
    const hash = location.hash || "#/alerts";
    const [path, query] = hash.split(/\?(.*)/s);
    const route = ROUTES.find(([pattern]) => pattern.test(path));
    delete document.body.dataset.ready;
    const content = route
      ? await route[1](path.match(route[0]), new URLSearchParams(query || ""))
      : [h("p", { class: "error" }, `No page ${hash}`)];
    view().replaceChildren(...nodes(content));
    document.body.dataset.ready = hash;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    view().replaceChildren(h("p", { class: "error" }, `${err.status ? `${err.status}: ` : ""}${err.message}`));
    document.body.dataset.ready = location.hash || "#/alerts";
  }
}

window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", render);
