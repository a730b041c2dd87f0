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
  });
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
