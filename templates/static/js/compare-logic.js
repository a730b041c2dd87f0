/**
 * compare-logic.js: the pure parts of /compare/ (no DOM, no I/O), table-tested in
 * chromium (tests/sorastats/site/test_compare_browser.py): reading `?c=`, the chart's
 * scales (the same rules as sorastats/site/charts.py, checked against it), and numbers
 * as the site writes them.
 */

export const MAX_CREATORS = 5;
export const MAX_QUERY = 1000; // characters of `?c=` read at all
const SLUG = /^[a-z0-9._-]{1,64}$/;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export function shown(text, most = 40) {
  const chars = [...text];
  return chars.length > most ? `${chars.slice(0, most).join("")}…` : text;
}

/**
 * `?c=a,b,c` -> {slugs, problems}: at most MAX_CREATORS distinct creators' slugs (as in
 * /c/<slug>/, so a username with or without "@", any case), and a sentence for each part
 * left out (not a creator's name, listed twice, one too many).
 */
export function parseCompare(raw) {
  const problems = [];
  const slugs = [];
  const extra = [];
  let text = typeof raw === "string" ? raw : "";
  if (text.length > MAX_QUERY) {
    text = text.slice(0, MAX_QUERY);
    problems.push(`The list is too long: only its first ${MAX_QUERY} characters were read.`);
  }
  for (const part of text.split(",")) {
    const name = part.trim().replace(/^@/, "");
    if (!name) continue;
    const slug = name.toLowerCase();
    if (!SLUG.test(slug) || slug === "." || slug === "..") {
      problems.push(`“${shown(name)}” is not a creator's name: use the name in their page's address.`);
    } else if (slugs.includes(slug) || extra.includes(slug)) {
      problems.push(`@${slug} is listed twice: shown once.`);
    } else if (slugs.length >= MAX_CREATORS) {
      extra.push(slug);
    } else {
      slugs.push(slug);
    }
  }
  if (extra.length) {
    const left = extra.map((s) => `@${s}`).join(", ");
    problems.push(`At most ${MAX_CREATORS} creators side by side: ${left} left out.`);
  }
  return { slugs, problems };
}

export function queryFor(slugs) {
  return slugs.length ? `/compare/?c=${slugs.map(encodeURIComponent).join(",")}` : "/compare/";
}

const STEPS = [1, 2, 2.5, 5, 10];

/** Round values spanning [lo, hi] in about `count` steps: charts.py's nice_ticks. */
export function niceTicks(lo, hi, count = 3) {
  if (hi < lo) [lo, hi] = [hi, lo];
  const raw = hi > lo ? (hi - lo) / count : Math.max(Math.abs(hi) / 10, 1);
  const magnitude = raw > 0 ? 10 ** Math.floor(Math.log10(raw)) : 1;
  const step = Math.max(STEPS.map((s) => s * magnitude).find((s) => s >= raw), 1);
  let first = Math.floor(lo / step) * step;
  let last = Math.ceil(hi / step) * step;
  if (last === first) [first, last] = [first - step, last + step];
  const n = Math.round((last - first) / step);
  return Array.from({ length: n + 1 }, (_, i) => first + i * step);
}

const dayNumber = (iso) => Math.round(Date.parse(`${iso.slice(0, 10)}T00:00:00Z`) / 86400000);
const isoOf = (n) => new Date(n * 86400000).toISOString().slice(0, 10);

/** At most `most` evenly spaced days from first to last, both included: date_ticks. */
export function dateTicks(first, last, most = 4) {
  const a = dayNumber(first);
  const span = dayNumber(last) - a;
  if (span <= 0) return [first.slice(0, 10)];
  const every = Math.max(1, Math.ceil(span / (most - 1)));
  const days = [];
  for (let i = 0; i < span; i += every) days.push(a + i);
  if (days.length > 1 && a + span - days[days.length - 1] < every / 2) days.pop();
  return [...days, a + span].map(isoOf);
}

export function dayLabel(iso) {
  const [y, m, d] = iso.slice(0, 10).split("-").map(Number);
  return `${MONTHS[m - 1]} ${d}, ${y}`;
}

export function shortDay(iso) {
  const [, m, d] = iso.slice(0, 10).split("-").map(Number);
  return `${MONTHS[m - 1]} ${d}`;
}

// Numbers as sorastats/site/stats.py writes them (absent: an en dash here, a cell needs one).
export function grouped(value) {
  if (value === null || value === undefined) return "–";
  return Math.trunc(value).toLocaleString("en-US");
}

export function signed(value) {
  if (value === null || value === undefined) return "–";
  return value > 0 ? `+${grouped(value)}` : grouped(value);
}

export function compact(value) {
  const sign = value < 0 ? "-" : "";
  const v = Math.abs(value);
  for (const [limit, suffix] of [[1e9, "B"], [1e6, "M"], [1e3, "K"]]) {
    if (v >= limit) return `${sign}${(v / limit).toFixed(1).replace(/\.?0+$/, "")}${suffix}`;
  }
  return `${sign}${Math.trunc(v)}`;
}

// The chart's box (viewBox units), wider than a creator page's charts: one chart, 5 lines.
export const BOX = { width: 640, height: 260, left: 48, right: 16, top: 18, bottom: 24 };

/**
 * The overlaid chart of `key` ("followers", "likes" or "views") for `creators` (each
 * {username, series: [{d, followers, likes, views}]}): the days (union, sorted), the
 * y ticks, and per creator its points [x, y] by day index (null where it has no value).
 * Null when no creator has a value.
 */
export function chartModel(creators, key) {
  const days = [...new Set(creators.flatMap((c) => (c.series || []).map((p) => p.d.slice(0, 10))))].sort();
  const values = creators.map((c) => {
    const byDay = new Map((c.series || []).map((p) => [p.d.slice(0, 10), p[key]]));
    return days.map((d) => (byDay.has(d) && byDay.get(d) !== null ? byDay.get(d) : null));
  });
  const all = values.flat().filter((v) => v !== null);
  if (!all.length) return null;
  const ticks = niceTicks(Math.min(...all), Math.max(...all));
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const plotW = BOX.width - BOX.left - BOX.right;
  const plotH = BOX.height - BOX.top - BOX.bottom;
  const first = dayNumber(days[0]);
  const span = dayNumber(days[days.length - 1]) - first;
  const x = (d) => Math.round(span ? BOX.left + ((dayNumber(d) - first) * plotW) / span : BOX.left + plotW / 2);
  const y = (v) => Math.round(BOX.top + plotH - ((v - lo) * plotH) / (hi - lo));
  return {
    days,
    xs: days.map(x),
    ticks: ticks.map((t) => ({ value: t, y: y(t) })),
    dateTicks: dateTicks(days[0], days[days.length - 1]).map((d) => ({ day: d, x: x(d) })),
    lines: values.map((row) => row.map((v) => (v === null ? null : y(v)))),
    values,
  };
}

/** Runs of consecutive days with a value (a missing day is a gap), as charts.segments. */
export function runs(days, ys) {
  const out = [];
  let prev = null;
  days.forEach((d, i) => {
    if (ys[i] === null) {
      prev = null;
      return;
    }
    if (prev !== null && dayNumber(d) - dayNumber(days[prev]) === 1 && out.length) out[out.length - 1].push(i);
    else out.push([i]);
    prev = i;
  });
  return out;
}

/** One sentence for everyone: each creator's first and last value in the chart. */
export function summary(label, creators, model) {
  const parts = creators.map((c, n) => {
    const row = model.values[n];
    const idx = row.map((v, i) => (v === null ? -1 : i)).filter((i) => i >= 0);
    if (!idx.length) return `@${c.username}: no data`;
    const a = idx[0];
    const b = idx[idx.length - 1];
    if (a === b) return `@${c.username}: ${grouped(row[b])} on ${dayLabel(model.days[b])}`;
    return `@${c.username}: ${grouped(row[a])} on ${dayLabel(model.days[a])} to ${grouped(row[b])} on ${dayLabel(model.days[b])} (${signed(row[b] - row[a])})`;
  });
  return `${label}. ${parts.join("; ")}.`;
}
