// /compare/?c=a,b,c: up to five creators side by side. Each creator's numbers come from
// their series file (/c/<slug>/series.json, written by the build), so the page needs no
// server. The chart is drawn here with the accessibility of the build's charts
// (sorastats/site/charts.py): role="img", a title and a description that carry the
// summary, a data table of the same numbers, values on hover and on the arrow keys.
const root = document.getElementById("compare-app");
const L = await import(root.dataset.logic);

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const METRICS = [
  ["followers", "Followers"],
  ["likes", "Likes received"],
  ["views", "Views of their videos"],
];
const WINDOWS = [1, 7, 30];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function svgEl(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

function say(lines) {
  const box = $("compare-problems");
  box.replaceChildren(...lines.map((line) => el("li", { text: line })));
  box.hidden = lines.length === 0;
}

async function load(slug) {
  try {
    const response = await fetch(`/c/${encodeURIComponent(slug)}/series.json`, { credentials: "same-origin" });
    if (response.status === 404) return { slug, problem: `No creator @${slug} on SoraStats (or their page is hidden).` };
    if (!response.ok) return { slug, problem: `Could not load @${slug} (HTTP ${response.status}); try again.` };
    const data = await response.json();
    if (!data || typeof data.username !== "string") return { slug, problem: `@${slug}: unreadable data.` };
    return { slug, data };
  } catch {
    return { slug, problem: `Could not load @${slug}: check your connection and try again.` };
  }
}

function creatorLink(c) {
  return el("a", { href: c.url, text: `@${c.username}` });
}

function table(creators) {
  const head = el("tr", {}, el("th", { scope: "col", text: "Counter" }));
  creators.forEach((c, n) => {
    const th = el("th", { scope: "col" }, el("span", { class: `swatch s${n}`, "aria-hidden": "true" }), creatorLink(c));
    if (c.display_name) th.append(el("span", { class: "handle", dir: "auto", text: ` ${L.shown(c.display_name, 30)}` }));
    head.append(th);
  });
  const body = el("tbody");
  for (const [key, label] of METRICS) {
    body.append(el("tr", {}, el("th", { scope: "row", text: `${label}, now` }), ...creators.map((c) => el("td", { "data-label": `@${c.username}`, text: L.grouped(c[key]) }))));
    for (const w of WINDOWS) {
      const cells = creators.map((c) => {
        const v = c[`${key}_${w}`];
        return el("td", { "data-label": `@${c.username}`, class: v > 0 ? "up" : v < 0 ? "down" : "", text: L.signed(v) });
      });
      body.append(el("tr", {}, el("th", { scope: "row", text: `${label}, ${w === 1 ? "1 day" : `${w} days`}` }), ...cells));
    }
  }
  return el("table", { class: "compare reflow", id: "compare-table" },
    el("caption", { text: "Counters now and their gains over 1, 7 and 30 days" }), el("thead", {}, head), body);
}

function chart(creators, key, label) {
  const figure = $("compare-figure");
  const model = L.chartModel(creators, key);
  if (!model) {
    figure.replaceChildren(el("p", { class: "muted", text: `No ${label.toLowerCase()} captured for these creators yet.` }));
    return;
  }
  const text = L.summary(label, creators, model);
  const svg = svgEl("svg", {
    class: "chart compare-chart", viewBox: `0 0 ${L.BOX.width} ${L.BOX.height}`, role: "img",
    "aria-labelledby": "compare-chart-t", "aria-describedby": "compare-chart-d", tabindex: "0",
  });
  svg.append(svgEl("title", { id: "compare-chart-t" }, `${label}, creators compared`), svgEl("desc", { id: "compare-chart-d" }, text));
  const right = L.BOX.width - L.BOX.right;
  const base = L.BOX.height - L.BOX.bottom;
  for (const t of model.ticks) {
    svg.append(svgEl("line", { class: "grid", x1: L.BOX.left, x2: right, y1: t.y, y2: t.y }));
    svg.append(svgEl("text", { class: "tick", x: L.BOX.left - 4, y: t.y + 4, "text-anchor": "end" }, L.compact(t.value)));
  }
  svg.append(svgEl("line", { class: "axis", x1: L.BOX.left, x2: right, y1: base, y2: base }));
  model.dateTicks.forEach((t, i, all) => {
    const anchor = all.length > 1 ? (i === 0 ? "start" : i === all.length - 1 ? "end" : "middle") : "middle";
    svg.append(svgEl("line", { class: "axis", x1: t.x, x2: t.x, y1: base, y2: base + 4 }));
    svg.append(svgEl("text", { class: "tick", x: t.x, y: L.BOX.height - 6, "text-anchor": anchor }, L.shortDay(t.day)));
  });
  svg.append(svgEl("text", { class: "unit", x: L.BOX.left, y: L.BOX.top - 6 }, label.toLowerCase()));
  model.lines.forEach((ys, n) => {
    const g = svgEl("g", { class: `series s${n}` });
    for (const run of L.runs(model.days, ys)) {
      if (run.length === 1) g.append(svgEl("circle", { class: "line", cx: model.xs[run[0]], cy: ys[run[0]], r: 3 }));
      else g.append(svgEl("path", { class: "line", d: `M${run.map((i) => `${model.xs[i]},${ys[i]}`).join("L")}` }));
    }
    svg.append(g);
  });
  const cursor = svgEl("line", { class: "cursor", y1: L.BOX.top, y2: base, x1: 0, x2: 0, visibility: "hidden" });
  svg.append(cursor);
  const marks = model.lines.map((_, n) => svgEl("circle", { class: `mark s${n}`, r: 4, cx: 0, cy: 0, visibility: "hidden" }));
  svg.append(...marks);

  const out = el("output", { class: "chart-readout", "aria-live": "polite" });
  let at = model.days.length - 1;
  const show = (i) => {
    at = Math.max(0, Math.min(model.days.length - 1, i));
    const x = model.xs[at];
    cursor.setAttribute("x1", x);
    cursor.setAttribute("x2", x);
    cursor.setAttribute("visibility", "visible");
    const parts = [];
    model.lines.forEach((ys, n) => {
      const has = ys[at] !== null;
      marks[n].setAttribute("visibility", has ? "visible" : "hidden");
      if (has) {
        marks[n].setAttribute("cx", x);
        marks[n].setAttribute("cy", ys[at]);
      }
      parts.push(`@${creators[n].username} ${has ? L.grouped(model.values[n][at]) : "–"}`);
    });
    out.textContent = `${L.dayLabel(model.days[at])}: ${parts.join(" · ")}`;
  };
  svg.addEventListener("focus", () => show(at));
  svg.addEventListener("pointermove", (e) => {
    const box = svg.getBoundingClientRect();
    const x = ((e.clientX - box.left) * L.BOX.width) / box.width;
    show(model.xs.reduce((best, p, i) => (Math.abs(p - x) < Math.abs(model.xs[best] - x) ? i : best), 0));
  });
  svg.addEventListener("keydown", (e) => {
    const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: model.days.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    show(to);
  });

  const legend = el("ul", { class: "legend", "aria-label": "Legend" });
  creators.forEach((c, n) => {
    const swatch = svgEl("svg", { class: "swatch-line", viewBox: "0 0 24 8", "aria-hidden": "true" });
    const g = svgEl("g", { class: `series s${n}` });
    g.append(svgEl("path", { class: "line", d: "M0,4L24,4" }));
    swatch.append(g);
    const last = model.values[n].filter((v) => v !== null).pop();
    legend.append(el("li", {}, swatch, creatorLink(c), ` ${last === undefined ? "no data" : L.grouped(last)}`));
  });

  const rows = model.days.map((d, i) => el("tr", {}, el("th", { scope: "row", text: L.dayLabel(d) }), ...creators.map((_, n) => el("td", { text: L.grouped(model.values[n][i]) }))));
  const data = el("details", {},
    el("summary", { text: `Data table: ${label}` }),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Day" }), ...creators.map((c) => el("th", { scope: "col", text: `@${c.username}` })))), el("tbody", {}, ...rows)));
  figure.replaceChildren(el("figcaption", { text }), svg, out, legend, data);
}

async function main() {
  const params = new URLSearchParams(window.location.search);
  const { slugs, problems } = L.parseCompare(params.get("c"));
  $("compare-input").value = slugs.join(", ");
  const loaded = await Promise.all(slugs.map(load));
  const creators = loaded.filter((r) => r.data).map((r) => r.data);
  say([...problems, ...loaded.filter((r) => r.problem).map((r) => r.problem)]);
  const results = $("compare-results");
  if (!creators.length) {
    results.hidden = true;
    return;
  }
  document.title = `Compare ${creators.map((c) => `@${c.username}`).join(", ")} · SoraStats`;
  $("compare-heading").textContent = `Comparing ${creators.map((c) => `@${c.username}`).join(", ")}`;
  $("compare-table-wrap").replaceChildren(table(creators));
  const pick = () => {
    const key = root.querySelector('input[name="metric"]:checked')?.value || "followers";
    chart(creators, key, METRICS.find(([k]) => k === key)[1]);
  };
  for (const input of root.querySelectorAll('input[name="metric"]')) input.addEventListener("change", pick);
  pick();
  results.hidden = false;
}

try {
  await main();
} catch (error) {
  say([`Something went wrong: ${error.message || error}`]);
}
root.dataset.ready = "1";
