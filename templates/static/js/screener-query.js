// The screener's pure logic (no DOM, no DuckDB): the state a URL holds, and the SQL it
// becomes. Column names come only from the tables' whitelist the page carries (made from
// sorastats/site/opendata.py's declaration), operators only from OPS, and every value is a
// bound parameter: nothing from the URL is ever spliced into SQL text.

export const PAGE_SIZE = 50;
export const MAX_CONDITIONS = 12;
export const MAX_TEXT = 100;
export const MAX_PAGE = 100000;
export const CSV_MAX_ROWS = 50000;

// Per kind of column (its `screen`): URL name -> [label, SQL template]. `?` is the value.
export const OPS = {
  num: {
    gte: ["at least", (c) => `${c} >= ?`],
    lte: ["at most", (c) => `${c} <= ?`],
    eq: ["equal to", (c) => `${c} = ?`],
  },
  date: {
    from: ["on or after", (c) => `${c} >= CAST(? AS DATE)`],
    to: ["on or before", (c) => `${c} < CAST(? AS DATE) + 1`],
  },
  text: { has: ["contains", (c) => `contains(lower(${c}), lower(?))`] },
  bool: { is: ["is", (c) => `${c} = ?`] },
  enum: { is: ["is", (c) => `${c} = ?`] },
};

// Shown in every result of a table, before the sort and condition columns.
export const SHOWN = {
  creators: ["username", "follower_count", "followers_7d", "likes_received_count", "videos", "views"],
  posts: ["prompt", "username", "posted_at", "view_count", "views_7d", "like_count"],
};
export const DEFAULT_SORT = { creators: "follower_count", posts: "view_count" };

export function kindOf(column) {
  const screen = column.screen || "";
  return screen.startsWith("enum:") ? "enum" : screen;
}

export function choices(column) {
  return (column.screen || "").startsWith("enum:") ? column.screen.slice(5).split("|") : [];
}

const NUMBER = /^-?\d{1,15}(\.\d{1,6})?$/;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

// The value of a condition as its parameter, or undefined when it is not one.
export function parseValue(column, value) {
  if (typeof value !== "string") return undefined;
  switch (kindOf(column)) {
    case "num":
      return NUMBER.test(value) ? Number(value) : undefined;
    case "date": {
      const m = DAY.exec(value);
      if (!m) return undefined;
      const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
      return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3]
        ? value
        : undefined;
    }
    case "text":
      return value.length >= 1 && value.length <= MAX_TEXT ? value : undefined;
    case "bool":
      return value === "true" ? true : value === "false" ? false : undefined;
    case "enum":
      return choices(column).includes(value) ? value : undefined;
    default:
      return undefined;
  }
}

function columnMap(tables, table) {
  return new Map(tables[table].columns.map((c) => [c.name, c]));
}

// A URL's query string -> { table, conditions, sort, dir, page, dropped }: anything not in
// the whitelist is left out and counted in `dropped`.
export function parseState(search, tables) {
  const q = new URLSearchParams(search);
  const names = Object.keys(tables).sort();
  const table = names.includes(q.get("t")) ? q.get("t") : names.includes("creators") ? "creators" : names[0];
  const cols = columnMap(tables, table);
  let dropped = q.get("t") !== null && q.get("t") !== table ? 1 : 0;
  const conditions = [];
  for (const raw of q.getAll("f")) {
    const first = raw.indexOf(".");
    const second = first < 0 ? -1 : raw.indexOf(".", first + 1);
    const name = first < 0 ? "" : raw.slice(0, first);
    const op = second < 0 ? "" : raw.slice(first + 1, second);
    const value = second < 0 ? "" : raw.slice(second + 1);
    const column = cols.get(name);
    const kind = column ? kindOf(column) : "";
    if (
      conditions.length >= MAX_CONDITIONS ||
      !column ||
      !Object.hasOwn(OPS, kind) ||
      !Object.hasOwn(OPS[kind], op) ||
      parseValue(column, value) === undefined
    ) {
      dropped += 1;
      continue;
    }
    conditions.push({ column: name, op, value });
  }
  let sort = q.get("s");
  if (sort !== null && !cols.has(sort)) dropped += 1;
  if (sort === null || !cols.has(sort)) sort = DEFAULT_SORT[table] && cols.has(DEFAULT_SORT[table]) ? DEFAULT_SORT[table] : tables[table].columns[0].name;
  const d = q.get("d");
  if (d !== null && d !== "asc" && d !== "desc") dropped += 1;
  const dir = d === "asc" ? "asc" : "desc";
  const p = q.get("p");
  let page = 1;
  if (p !== null) {
    if (/^\d{1,6}$/.test(p) && +p >= 1 && +p <= MAX_PAGE) page = +p;
    else dropped += 1;
  }
  return { table, conditions, sort, dir, page, dropped };
}

// The state as a query string (the canonical form parseState reads back).
export function serializeState(state) {
  const q = new URLSearchParams();
  q.set("t", state.table);
  for (const c of state.conditions) q.append("f", `${c.column}.${c.op}.${c.value}`);
  q.set("s", state.sort);
  q.set("d", state.dir);
  if (state.page > 1) q.set("p", String(state.page));
  return q.toString();
}

export function quoteIdent(name) {
  return `"${String(name).replaceAll('"', '""')}"`;
}

function quoteString(text) {
  return `'${String(text).replaceAll("'", "''")}'`;
}

// The columns a result shows: the table's usual ones, then the sort and condition columns.
export function shownColumns(state, tables) {
  const cols = columnMap(tables, state.table);
  const out = (SHOWN[state.table] || []).filter((n) => cols.has(n));
  for (const n of [state.sort, ...state.conditions.map((c) => c.column)]) {
    if (!out.includes(n) && cols.has(n)) out.push(n);
  }
  return out.map((n) => cols.get(n));
}

// SQL and parameters for the state: `where` (with `params`), `page` (a page of shown
// columns), `count`, `csv` (every column as text, up to CSV_MAX_ROWS rows). `source` is
// the name the table's file is registered under in DuckDB.
export function buildQuery(state, tables, source) {
  const cols = columnMap(tables, state.table);
  const clauses = [];
  const params = [];
  for (const c of state.conditions) {
    const column = cols.get(c.column);
    const kind = column ? kindOf(column) : "";
    const op = column && Object.hasOwn(OPS, kind) ? OPS[kind][c.op] : undefined;
    const value = column ? parseValue(column, c.value) : undefined;
    if (!op || value === undefined) throw new Error(`not a condition: ${c.column} ${c.op}`);
    clauses.push(op[1](`src.${quoteIdent(c.column)}`));
    params.push(value);
  }
  if (!cols.has(state.sort)) throw new Error(`not a column: ${state.sort}`);
  // Qualified names in WHERE and ORDER BY: the select list's aliases (formatted dates,
  // text casts) must never be what rows are filtered or sorted by.
  const from = `FROM read_parquet(${quoteString(source)}) AS src`;
  const where = clauses.length ? ` WHERE ${clauses.join(" AND ")}` : "";
  const dir = state.dir === "asc" ? "ASC" : "DESC";
  const order = ` ORDER BY src.${quoteIdent(state.sort)} ${dir} NULLS LAST, src."id"`;
  const shown = shownColumns(state, tables).map((c) =>
    c.type === "TIMESTAMP"
      ? `strftime(${quoteIdent(c.name)}, '%Y-%m-%d %H:%M') AS ${quoteIdent(c.name)}`
      : quoteIdent(c.name),
  );
  const link = cols.has("page") ? [`"page" AS "__page"`] : [];
  const page = Math.min(Math.max(1, state.page | 0), MAX_PAGE);
  const text = tables[state.table].columns.map(
    (c) => `CAST(${quoteIdent(c.name)} AS VARCHAR) AS ${quoteIdent(c.name)}`,
  );
  const select = `SELECT ${[...shown, ...link].join(", ")} ${from}`;
  const limit = ` LIMIT ${PAGE_SIZE} OFFSET ${(page - 1) * PAGE_SIZE}`;
  const sortColumn = cols.get(state.sort);
  // A numeric sort gets a bound: the sort value of the page's last row, found from the
  // sort and filter columns alone; the page's query then says `sort >= bound` (or <=),
  // which lets the Parquet reader skip row groups by their min/max (the files are sorted
  // by their usual sort), instead of reading the shown columns of every row.
  const bounded = kindOf(sortColumn) === "num";
  const sortRef = `src.${quoteIdent(state.sort)}`;
  return {
    params,
    page: `${select}${where}${order}${limit}`,
    bound: bounded
      ? `SELECT ${sortRef} AS v ${from}${where} ORDER BY ${sortRef} ${dir} NULLS LAST LIMIT 1 OFFSET ${page * PAGE_SIZE - 1}`
      : null,
    // The page's query with the bound (a number from `bound`'s row) as one more parameter.
    pageWithin: (value) => ({
      sql: `${select}${where ? `${where} AND` : " WHERE"} ${sortRef} ${dir === "DESC" ? ">=" : "<="} ?${order}${limit}`,
      params: [...params, value],
    }),
    count: `SELECT count(*) AS n ${from}${where}`,
    csv: `SELECT ${text.join(", ")} ${from}${where}${order} LIMIT ${CSV_MAX_ROWS}`,
  };
}

// A CSV field: quoted when needed; text that a spreadsheet would run as a formula gets a
// leading apostrophe (only in text columns: numbers such as -5 stay numbers).
export function csvField(value, isText) {
  if (value === null || value === undefined) return "";
  let s = String(value);
  if (isText && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvText(columns, rows) {
  const lines = [columns.map((c) => csvField(c.name, false)).join(",")];
  for (const row of rows) {
    lines.push(columns.map((c) => csvField(row[c.name], c.type === "VARCHAR")).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}
