// Upgrade and manage-subscription buttons of /pricing/ and the account page's billing
// panel. The site is static, so whether billing is on is asked at load time:
// GET /api/billing answers 503 `billing_disabled` when it is off (buttons stay hidden),
// 401 when signed out, or the summary. Every root marked [data-billing] is wired; inside
// it, an element with data-billing-when="free pro ..." shows when one of its words
// matches the state. Text from the API is set with textContent only.

const JSON_HEADERS = { Accept: "application/json" };

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin", headers: JSON_HEADERS });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { status: response.status, ok: response.ok, body };
}

function dateLabel(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : when.toLocaleDateString(undefined, { dateStyle: "long" });
}

export function billingStates(status, summary) {
  // Pure: which words of data-billing-when apply. Exported for tests.
  if (status === 401) return ["signed-out"];
  if (status !== 200 || !summary || !summary.billing_enabled) return ["off"];
  const states = [summary.tier === "free" ? "free" : "pro"];
  if (summary.has_customer) states.push("customer");
  return states;
}

export function periodText(summary) {
  if (!summary || summary.tier === "free") return "";
  const end = dateLabel(summary.current_period_end);
  if (!end) return "";
  if (summary.cancel_at_period_end) return `Cancelled: Pro ends on ${end}.`;
  const every = summary.interval === "year" ? "yearly" : "monthly";
  return `Renews ${every} on ${end}.`;
}

function apply(root, states, summary) {
  root.dataset.billingState = states.join(" ");
  const scoped = [root, ...root.querySelectorAll("[data-billing-when]")];
  for (const element of scoped) {
    const when = element.dataset.billingWhen;
    if (when === undefined) continue;
    element.hidden = !when.split(/\s+/).some((word) => states.includes(word));
  }
  const plan = root.querySelector('[data-billing-field="plan"]');
  if (plan && summary) plan.textContent = summary.tier === "free" ? "Free" : "Pro";
  const period = root.querySelector('[data-billing-field="period"]');
  if (period) {
    period.textContent = periodText(summary);
    period.hidden = period.textContent === "";
  }
  const warning = root.querySelector('[data-billing-field="warning"]');
  if (warning) {
    warning.textContent = (summary && summary.warning) || "";
    warning.hidden = warning.textContent === "";
  }
}

async function post(root, path, body) {
  const message = root.querySelector("[data-billing-message]");
  const buttons = root.querySelectorAll("button");
  const say = (text) => {
    if (message) message.textContent = text;
  };
  buttons.forEach((button) => (button.disabled = true));
  say("Opening Stripe…");
  try {
    const me = await getJson("/api/me");
    if (!me.ok || !me.body) {
      say("Sign in first.");
      return;
    }
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { ...JSON_HEADERS, "Content-Type": "application/json", "X-CSRF-Token": me.body.csrf_token },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => null);
    if (response.ok && data && typeof data.url === "string" && /^https?:\/\//.test(data.url)) {
      window.location.assign(data.url);
      return;
    }
    say((data && data.error && data.error.message) || `Something went wrong (${response.status}).`);
  } catch {
    say("Could not reach SoraStats; check your connection and try again.");
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

async function load(root) {
  try {
    const { status, body } = await getJson("/api/billing");
    const states = billingStates(status, body);
    apply(root, states, status === 200 ? body : null);
    return states;
  } catch {
    apply(root, ["off"], null);
    return ["off"];
  }
}

async function waitForWebhook(root) {
  // Back from Checkout: access changes only when Stripe's webhook arrives; poll briefly.
  const message = root.querySelector("[data-billing-message]");
  if (message) message.textContent = "Thank you! Confirming your subscription with Stripe…";
  for (let attempt = 0; attempt < 15; attempt += 1) {
    const states = await load(root);
    if (states.includes("pro")) {
      if (message) message.textContent = "Your Pro subscription is active.";
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  if (message) message.textContent = "Stripe has not confirmed the payment yet; reload this page in a minute.";
}

function wire(root) {
  if (root.dataset.billingWired) return;
  root.dataset.billingWired = "1";
  root.querySelectorAll("a[data-billing-href]").forEach((link) => {
    link.setAttribute("href", link.dataset.billingHref);
  });
  root.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("button") : null;
    if (!target || !root.contains(target)) return;
    if (target.dataset.checkoutInterval) {
      post(root, "/api/billing/checkout", {
        plan: target.dataset.checkoutPlan || "pro",
        interval: target.dataset.checkoutInterval,
      });
    } else if (target.hasAttribute("data-billing-portal")) {
      post(root, "/api/billing/portal", {});
    }
  });
  const params = new URLSearchParams(window.location.search);
  if (params.get("billing") === "success") waitForWebhook(root);
  else load(root);
}

document.querySelectorAll("[data-billing]").forEach(wire);
