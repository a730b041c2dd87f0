// /account/ "Your creator profile": claims (POST/GET /api/claims), then for a verified
// profile: hide or show the page (PUT .../visibility) and erase it (DELETE, for good).
const root = document.getElementById("vault-app");
const vc = await import(root.dataset.crypto);
const { Session, el, say, describe } = await import(root.dataset.session);

const session = new Session(vc);
const $ = (id) => document.getElementById(id);
const status = $("claim-status");

function when(seconds) {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

// The account page signs in with a session object of its own: take its cookie's CSRF
// token (GET /api/me) before the first change made here.
async function ensureSession() {
  if (!session.csrf && !(await session.resume())) throw new Error("Sign in first.");
}

async function act(work) {
  try {
    await ensureSession();
    await work();
    await render();
  } catch (error) {
    say(status, describe(error), "error");
  }
}

function claimItem(c) {
  const name = `@${c.username}`;
  if (c.status === "pending") {
    return el(
      "li",
      { class: "claim", "data-status": "pending" },
      `${name}: waiting. Put `,
      el("code", { class: "claim-code", text: c.code }),
      ` anywhere in your Sora bio; the next update verifies it (until ${when(c.expires_at)}).`,
    );
  }
  if (c.status !== "verified") {
    return el("li", { class: "claim", "data-status": c.status, text: `${name}: ${c.status}${c.reason ? ` (${c.reason})` : ""}` });
  }
  const page = encodeURIComponent(c.username);
  const item = el("li", { class: "claim", "data-status": "verified" }, `${name}: yours. Page ${c.page} `);
  if (c.page === "erased") return item;
  const hidden = c.page === "hidden";
  item.append(
    el("button", {
      type: "button",
      text: hidden ? "Show my page again" : "Hide my page",
      onclick: () =>
        act(async () => {
          await session.api("PUT", `/api/creators/${page}/visibility`, { hidden: !hidden });
          say(status, hidden ? "Shown again from the next update." : "Hidden from the next update: page, videos, search, leaderboards.");
        }),
    }),
    " ",
    el("button", {
      type: "button",
      class: "danger",
      text: "Erase my page for good",
      onclick: () =>
        act(async () => {
          const typed = window.prompt(`Erasing deletes ${name}'s data and our captures of it, for good. Type ${c.username} to confirm.`);
          if (typed !== c.username) return;
          await session.api("DELETE", `/api/creators/${page}`);
          say(status, "Erasure scheduled: the next update deletes it.");
        }),
    }),
  );
  return item;
}

async function render() {
  const { claims } = await session.api("GET", "/api/claims");
  $("claims").replaceChildren(...claims.map(claimItem));
}

$("claim-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = Object.fromEntries(new FormData(event.target).entries());
  await act(async () => {
    const claim = await session.api("POST", "/api/claims", {
      username: f.username.trim(),
      evidence: f.evidence,
    });
    event.target.reset();
    say(status, `Claim made: put ${claim.code} in your Sora bio.`);
  });
});

async function refresh() {
  try {
    if (await session.resume()) await render();
  } catch (error) {
    say(status, describe(error), "error");
  }
}

// Shown whenever the signed-in view is (sign-in on this page included).
const signedIn = $("signed-in");
new MutationObserver(() => {
  if (!signedIn.hidden) refresh();
}).observe(signedIn, { attributes: true, attributeFilter: ["hidden"] });
await refresh();
$("creator-panel").dataset.ready = "1";
