// SoraStats: progressive enhancement only; every page works without it.
const status = (button, text) => {
  const out = button.parentElement && button.parentElement.querySelector(".copy-status");
  if (out) out.textContent = text;
};

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", async () => {
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent);
      status(button, "Copied.");
    } catch {
      status(button, "Could not copy: select the text and copy it by hand.");
    }
  });
}

const searchBox = document.getElementById("search");
if (searchBox && window.PagefindUI) {
  // Prompt shards are separate Pagefind bundles, merged into one search here.
  const merge = JSON.parse(searchBox.dataset.merge || "[]").map((bundlePath) => ({ bundlePath }));
  const ui = new window.PagefindUI({
    element: "#search", showImages: false, showSubResults: false, mergeIndex: merge,
    translations: { placeholder: "Words of a prompt, or a creator's name" },
  });
  // The page's own visible label (search.html) names Pagefind's input.
  const input = searchBox.querySelector("input");
  if (input) input.id = "search-input";
  // `/search/?q=...` searches at once: the home page's SearchAction (JSON-LD) links here.
  const query = new URLSearchParams(window.location.search).get("q");
  if (query) ui.triggerSearch(query.slice(0, 200));
}

// Site settings (docs/privacy.md): the browser's copy in localStorage, written by the
// account page (and, signed in, kept in the account too). Applied here, without a request.
let settings = {};
try {
  settings = JSON.parse(localStorage.getItem("sorastats.settings") || "{}") || {};
} catch {}
if (settings.theme === "light" || settings.theme === "dark") {
  document.documentElement.dataset.theme = settings.theme;
}
const boards = document.querySelector("[data-board-windows]");
if (boards && settings.leaderboard_window) {
  // The chosen window's video leaderboards first.
  boards.prepend(...[...boards.children].filter((li) => li.dataset.window === settings.leaderboard_window));
}

// A signed-in visitor's tools on public pages (the favorite and watch buttons): loaded only
// for them. The hint is set at sign-in (js/vault-session.js); everyone else fetches nothing.
try {
  if (localStorage.getItem("sorastats.signedIn") === "1") {
    for (const tools of document.querySelectorAll("[data-signed-in-script]")) import(tools.dataset.signedInScript);
  }
} catch {}

// Charts (sorastats/site/charts.py): values on hover and on the arrow keys, read from the
// figure's own data table, which carries the same numbers without this script.
const SVG = "http://www.w3.org/2000/svg";
for (const svg of document.querySelectorAll("svg.chart[data-xy]")) {
  const rows = [...svg.closest("figure").querySelectorAll("tbody tr")].map((tr) => [...tr.cells].map((c) => c.textContent));
  const xy = svg.dataset.xy.split(" ").map((p) => p.split(",").map(Number));
  if (!rows.length || rows.length !== xy.length) continue;
  const unit = svg.querySelector(".unit")?.textContent || "";
  const out = document.createElement("output");
  out.className = "chart-readout";
  svg.after(out);
  const mark = document.createElementNS(SVG, "circle");
  mark.setAttribute("class", "mark");
  mark.setAttribute("r", "4");
  let at = xy.length - 1;
  const show = (i) => {
    at = Math.max(0, Math.min(xy.length - 1, i));
    mark.setAttribute("cx", xy[at][0]);
    mark.setAttribute("cy", xy[at][1]);
    svg.append(mark);
    out.textContent = `${rows[at][0]}: ${rows[at][1]} ${unit}`;
  };
  svg.tabIndex = 0;
  svg.addEventListener("focus", () => show(at));
  svg.addEventListener("pointermove", (e) => {
    const box = svg.getBoundingClientRect();
    const x = ((e.clientX - box.left) * svg.viewBox.baseVal.width) / box.width;
    show(xy.reduce((best, p, i) => (Math.abs(p[0] - x) < Math.abs(xy[best][0] - x) ? i : best), 0));
  });
  svg.addEventListener("keydown", (e) => {
    const to = { ArrowLeft: at - 1, ArrowRight: at + 1, Home: 0, End: xy.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    show(to);
  });
}
