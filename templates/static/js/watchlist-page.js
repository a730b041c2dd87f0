// /watchlist/: the creators and videos the signed-in user watches, each with its counters
// and what it gained since the user last looked (counted by the API from the stats
// database: GET /api/watchlist). Showing the list counts as looking (POST
// /api/watchlist/seen), so the next visit shows what changed since this one.
const root = document.getElementById("watchlist-app");
const L = await import(root.dataset.logic);
const $ = (id) => document.getElementById(id);
const LABELS = { followers: "followers", likes: "likes", views: "views", remixes: "remixes" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

const status = (text) => {
  $("watchlist-status").textContent = text;
};

function counters(values, signedValues) {
  if (!values) return el("span", { class: "muted", text: "–" });
  const list = el("ul", { class: "plain counters-list" });
  for (const [key, value] of Object.entries(values)) {
    const text = signedValues ? L.signed(value) : L.grouped(value);
    const cls = signedValues && value > 0 ? "up" : signedValues && value < 0 ? "down" : "";
    list.append(el("li", { class: cls, text: `${text} ${LABELS[key] || key}` }));
  }
  return list;
}

function what(item) {
  if (!item.available) {
    return el("span", {}, `${item.kind === "video" ? "A video" : "A creator"} no longer shown on SoraStats `, el("code", { text: item.id }));
  }
  if (item.kind === "creator") return el("a", { href: item.url, text: item.label });
  return el("span", {}, el("a", { href: item.url, dir: "auto", text: item.text || "Untitled video" }), " by ", el("a", { href: item.creator_url, text: item.label }));
}

// How an item is named in words: its creator, or the video by its caption.
function name(item) {
  if (!item.available) return `${item.kind} ${item.id}`;
  if (item.kind === "creator") return item.label;
  return `the video “${L.shown(item.text || item.id, 60)}” by ${item.label}`;
}

async function remove(item, csrf) {
  const response = await fetch(`/api/watchlist/${encodeURIComponent(item.kind)}/${encodeURIComponent(item.id)}`, {
    method: "DELETE",
    headers: { "X-CSRF-Token": csrf },
    credentials: "same-origin",
  });
  if (response.ok) {
    document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "watch" }));
    status(`Removed ${name(item)} from your watchlist.`);
    await render(csrf, false);
  } else {
    status("Could not remove it; try again.");
  }
}

async function render(csrf, markSeen) {
  const response = await fetch("/api/watchlist", { credentials: "same-origin" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const list = await response.json();
  const body = $("watchlist-body");
  body.replaceChildren(
    ...list.items.map((item) =>
      el("tr", { "data-kind": item.kind, "data-id": item.id },
        el("th", { scope: "row", "data-label": "Watching" }, what(item)),
        el("td", { "data-label": "Now" }, counters(item.now, false)),
        el("td", { "data-label": "Since you last looked" }, counters(item.gains, true),
          item.since ? el("span", { class: "muted", text: `since ${L.dayLabel(item.since)}` }) : ""),
        el("td", {}, el("button", { type: "button", "aria-label": `Stop watching ${name(item)}`, text: "Remove", onclick: () => remove(item, csrf) })),
      ),
    ),
  );
  if (!list.items.length) {
    body.append(el("tr", {}, el("td", { colspan: "4", text: "Nothing yet: use “👁 Watch” on a creator's or a video's page." })));
  }
  const seen = Math.min(...list.items.map((i) => i.seen_at));
  $("watchlist-caption").textContent = list.items.length && Number.isFinite(seen)
    ? `Gains since you last looked (${L.dayLabel(new Date(seen * 1000).toISOString())})`
    : "Gains since you last looked";
  const limit = list.limit;
  $("watchlist-limit").textContent = limit.allowed === null
    ? `${limit.used} watched.`
    : `${limit.used} of ${limit.allowed} watched on your plan.`;
  const slugs = list.items.filter((i) => i.available && i.kind === "creator").map((i) => i.url.split("/")[2]).slice(0, L.MAX_CREATORS);
  $("watchlist-compare").replaceChildren(...(slugs.length > 1 ? [el("a", { href: L.queryFor(slugs), text: "Compare these creators" })] : []));
  if (list.stats === "unavailable") status(`The numbers are unavailable right now (${list.message}); your list is safe.`);
  $("watchlist-results").hidden = false;
  if (markSeen && list.items.length && list.stats === "ok") {
    await fetch("/api/watchlist/seen", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
  }
}

try {
  const me = await fetch("/api/me", { credentials: "same-origin" });
  if (me.status === 401) {
    $("watchlist-status").replaceChildren(el("a", { href: "/account/", text: "Sign in to see your watchlist." }));
  } else if (!me.ok) {
    status(`Could not reach your account (HTTP ${me.status}); try again.`);
  } else {
    await render((await me.json()).csrf_token, true);
  }
} catch (error) {
  status(`Could not load your watchlist: ${error.message || error}`);
}
root.dataset.ready = "1";
