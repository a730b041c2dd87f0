// /screener/: creators or videos filtered, sorted and paged in the browser by DuckDB-WASM
// over the site's own Parquet files (/data/, read with HTTP range requests). The state
// lives in the URL (shareable, restored on load and on back/forward). DuckDB-WASM is
// vendored under /static/vendor/duckdb-wasm/ and loaded by this page only.
const root = document.getElementById("screener");
const Q = await import(root.dataset.query);
const tables = JSON.parse(document.getElementById("screener-tables").textContent);
const $ = (id) => document.getElementById(id);
const form = $("screen-form");
const status = $("screen-status");
// What the page did and when (ms since navigation): read by the tests and bench/screener.py.
const timings = (window.__screener = { queries: [], ready: false, marks: {} });
const mark = (name) => (timings.marks[name] = performance.now());

function say(text, kind = "") {
  status.textContent = text;
  status.dataset.kind = kind;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
function label(column) {
  return column.name.replaceAll("_", " ");
}

// -- DuckDB ---------------------------------------------------------------------------

let connection = null;
async function connect() {
  mark("start");
  const duckdb = await import(root.dataset.duckdb);
  mark("module");
  const worker = new Worker(root.dataset.worker);
  const db = new duckdb.AsyncDuckDB(new duckdb.VoidLogger(), worker);
  await db.instantiate(new URL(root.dataset.wasm, location.href).href);
  mark("instantiated");
  await db.open({ query: { castBigIntToDouble: true, castDecimalToDouble: true } });
  for (const [name, t] of Object.entries(tables)) {
    const url = new URL(t.url, location.href).href;
    await db.registerFileURL(`${name}.parquet`, url, duckdb.DuckDBDataProtocol.HTTP, false);
  }
  const conn = await db.connect();
  // Never fetch extensions from another host: everything needed is built in.
  await conn.query("SET autoinstall_known_extensions = false");
  await conn.query("SET autoload_known_extensions = false");
  mark("connected");
  return conn;
}

async function run(sql, params, log = timings.queries) {
  const t0 = performance.now();
  const stmt = await connection.prepare(sql);
  try {
    const table = await stmt.query(...params);
    return table.toArray().map((r) => r.toJSON());
  } finally {
    await stmt.close();
    log.push({ sql, ms: performance.now() - t0 });
  }
}
timings.bounds = [];

// The page's rows: within the sort bound when there is one (see buildQuery).
async function pageRows(built) {
  if (built.bound) {
    const found = await run(built.bound, built.params, timings.bounds);
    const value = found.length ? found[0].v : null;
    if (typeof value === "number" && Number.isFinite(value)) {
      const within = built.pageWithin(value);
      return run(within.sql, within.params);
    }
  }
  return run(built.page, built.params);
}

// -- the form -------------------------------------------------------------------------

let state = Q.parseState(location.search, tables);
let lastCount = null;

function conditionRow(table, cond) {
  const cols = tables[table].columns.filter((c) => Q.kindOf(c) in Q.OPS);
  const n = document.querySelectorAll("#conditions li").length + 1;
  const columnSelect = el("select", { name: "column", "aria-label": `Condition ${n}: column` });
  for (const c of cols) columnSelect.append(el("option", { value: c.name, text: label(c) }));
  const opSelect = el("select", { name: "op", "aria-label": `Condition ${n}: test` });
  const valueBox = el("span", { class: "value" });
  const row = el("li");
  const fill = (keep) => {
    const column = cols.find((c) => c.name === columnSelect.value) || cols[0];
    const kind = Q.kindOf(column);
    opSelect.replaceChildren(
      ...Object.entries(Q.OPS[kind]).map(([op, [text]]) => el("option", { value: op, text })),
    );
    if (keep && keep.op in Q.OPS[kind]) opSelect.value = keep.op;
    let input;
    const name = `Condition ${n}: value`;
    if (kind === "bool" || kind === "enum") {
      input = el("select", { name: "value", "aria-label": name });
      const values = kind === "bool" ? ["true", "false"] : Q.choices(column);
      for (const v of values) {
        input.append(el("option", { value: v, text: kind === "bool" ? (v === "true" ? "yes" : "no") : v }));
      }
    } else if (kind === "date") {
      input = el("input", { type: "date", name: "value", "aria-label": name, required: "" });
    } else if (kind === "num") {
      input = el("input", { type: "number", step: "any", name: "value", "aria-label": name, required: "", inputmode: "decimal" });
    } else {
      input = el("input", { type: "text", name: "value", "aria-label": name, required: "", maxlength: String(Q.MAX_TEXT) });
    }
    if (keep && keep.value !== undefined) input.value = keep.value;
    valueBox.replaceChildren(input);
  };
  columnSelect.addEventListener("change", () => fill(null));
  if (cond) columnSelect.value = cond.column;
  fill(cond);
  row.append(
    columnSelect,
    opSelect,
    valueBox,
    el("button", { type: "button", text: "Remove", "aria-label": `Remove condition ${n}`, onclick: () => row.remove() }),
  );
  return row;
}

function fillForm() {
  for (const radio of form.querySelectorAll('input[name="t"]')) radio.checked = radio.value === state.table;
  $("conditions").replaceChildren();
  for (const c of state.conditions) $("conditions").append(conditionRow(state.table, c));
  $("sort").replaceChildren(
    ...tables[state.table].columns.map((c) => el("option", { value: c.name, text: label(c) })),
  );
  $("sort").value = state.sort;
  $("dir").value = state.dir;
}

function readForm() {
  const table = form.querySelector('input[name="t"]:checked')?.value || state.table;
  const q = new URLSearchParams({ t: table });
  for (const li of document.querySelectorAll("#conditions li")) {
    const [column, op, value] = ["column", "op", "value"].map((n) => li.querySelector(`[name="${n}"]`).value);
    q.append("f", `${column}.${op}.${value}`);
  }
  q.set("s", $("sort").value);
  q.set("d", $("dir").value);
  return Q.parseState(q.toString(), tables);
}

// -- results --------------------------------------------------------------------------

function cell(column, row) {
  const v = row[column.name];
  const td = el("td", { "data-label": label(column) });
  if (v === null || v === undefined) {
    td.append(el("span", { class: "muted", text: "–" }));
  } else if (typeof v === "number") {
    td.className = "num";
    td.textContent = fmt.format(v);
  } else if (typeof v === "boolean") {
    td.textContent = v ? "yes" : "no";
  } else if ((column.name === "username" || column.name === "prompt") && row.__page) {
    const text = column.name === "prompt" && v.length > 120 ? `${v.slice(0, 119)}…` : v;
    td.append(el("a", { href: row.__page, text: column.name === "username" ? `@${text}` : text }));
  } else {
    td.textContent = v;
  }
  return td;
}

function header(column) {
  const sorted = column.name === state.sort;
  const th = el("th", { scope: "col" });
  if (sorted) th.setAttribute("aria-sort", state.dir === "asc" ? "ascending" : "descending");
  th.append(
    el("button", {
      type: "button",
      text: label(column) + (sorted ? (state.dir === "asc" ? " ↑" : " ↓") : ""),
      "aria-label": `Sort by ${label(column)}`,
      onclick: () => go({ ...state, sort: column.name, dir: sorted && state.dir === "desc" ? "asc" : "desc", page: 1 }),
    }),
  );
  return th;
}

async function show() {
  const built = Q.buildQuery(state, tables, `${state.table}.parquet`);
  const shown = Q.shownColumns(state, tables);
  say("Running…");
  const rows = await pageRows(built);
  $("results").querySelector("thead").replaceChildren(el("tr", {}, ...shown.map(header)));
  $("results").querySelector("tbody").replaceChildren(
    ...rows.map((r) => el("tr", {}, ...shown.map((c) => cell(c, r)))),
  );
  const first = (state.page - 1) * Q.PAGE_SIZE;
  $("results-caption").textContent = `${tables[state.table].title}, page ${state.page}`;
  $("results-wrap").hidden = false;
  timings.first ??= performance.now();
  const counted = await run(built.count, built.params);
  lastCount = counted[0].n;
  const pages = Math.max(1, Math.ceil(lastCount / Q.PAGE_SIZE));
  say(
    lastCount === 0
      ? "No rows match."
      : rows.length === 0
        ? `${fmt.format(lastCount)} rows match; this page is past the last one.`
        : `Rows ${fmt.format(first + 1)}–${fmt.format(first + rows.length)} of ${fmt.format(lastCount)}.`,
  );
  $("pager").hidden = pages <= 1 && state.page <= 1;
  $("page-label").textContent = `Page ${state.page} of ${fmt.format(pages)}`;
  $("prev").disabled = state.page <= 1;
  $("next").disabled = state.page >= pages;
  $("csv").hidden = lastCount === 0;
  timings.ready = true;
}

async function go(next, push = true) {
  state = next;
  const url = `${location.pathname}?${Q.serializeState(state)}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  fillForm();
  try {
    await show();
  } catch (err) {
    say(`The query failed: ${err.message}`, "error");
  }
}

async function downloadCsv() {
  const built = Q.buildQuery(state, tables, `${state.table}.parquet`);
  const columns = tables[state.table].columns;
  say("Preparing the CSV…");
  const rows = await run(built.csv, built.params);
  const blob = new Blob([Q.csvText(columns, rows)], { type: "text/csv;charset=utf-8" });
  const a = el("a", { href: URL.createObjectURL(blob), download: `sorastats-${state.table}.csv` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  const capped = lastCount !== null && lastCount > Q.CSV_MAX_ROWS;
  say(`CSV of ${fmt.format(rows.length)} rows${capped ? ` (the first ${fmt.format(Q.CSV_MAX_ROWS)})` : ""} downloaded.`);
}

function showDropped() {
  const notice = $("screen-notice");
  notice.hidden = state.dropped === 0;
  notice.textContent = state.dropped
    ? `${state.dropped} part${state.dropped > 1 ? "s" : ""} of this link could not be used and ${state.dropped > 1 ? "were" : "was"} left out.`
    : "";
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  go({ ...readForm(), page: 1, dropped: 0 });
  showDropped();
});
for (const radio of form.querySelectorAll('input[name="t"]')) {
  radio.addEventListener("change", () => {
    state = Q.parseState(`t=${radio.value}`, tables);
    fillForm();
  });
}
$("add-condition").addEventListener("click", () => {
  const row = conditionRow(form.querySelector('input[name="t"]:checked')?.value || state.table, null);
  $("conditions").append(row);
  row.querySelector("select").focus();
});
$("prev").addEventListener("click", () => go({ ...state, page: state.page - 1 }));
$("next").addEventListener("click", () => go({ ...state, page: state.page + 1 }));
$("csv").addEventListener("click", () => downloadCsv().catch((err) => say(`The CSV failed: ${err.message}`, "error")));
window.addEventListener("popstate", () => {
  state = Q.parseState(location.search, tables);
  showDropped();
  fillForm();
  show().catch((err) => say(`The query failed: ${err.message}`, "error"));
});

fillForm();
form.hidden = false;
showDropped();
try {
  connection = await connect();
  await go(state, false);
} catch (err) {
  say(`The screener could not start: ${err.message}`, "error");
}
