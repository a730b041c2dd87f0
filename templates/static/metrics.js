// Usage metrics (docs/privacy.md): no cookie, nothing stored; off under DNT, GPC, objection.
const nav = navigator;
const off = () => {
  try {
    if (JSON.parse(localStorage.getItem("sorastats.settings")).metrics_objection === true) return true;
  } catch {}
  return nav.doNotTrack === "1" || nav.globalPrivacyControl === true || !nav.sendBeacon;
};
const path = location.pathname;
const send = (events) => off() || nav.sendBeacon("/api/events", JSON.stringify({ events }));
const track = (name) => send([{ name, path }]);
track("page_view");
document.addEventListener("sorastats:track", (e) => track(String(e.detail)));
const within = (e, selector) => e.target instanceof Element && e.target.closest(selector);
document.addEventListener("click", (e) => within(e, "button[data-copy]") && track("copy_prompt"));
let searched;
document.addEventListener("input", (e) => {
  if (!searched && within(e, "#search")) track("search"), (searched = 1);
});
const observe = (type, each, options) => {
  try {
    new PerformanceObserver((list) => list.getEntries().forEach(each))
      .observe({ type, buffered: true, ...options });
  } catch {}
};
const vitals = {};
let win = 0, first = 0, last = 0;
observe("largest-contentful-paint", (e) => (vitals.lcp = e.startTime));
observe("layout-shift", (e) => {
  if (e.hadRecentInput) return;
  if (win && e.startTime - last < 1000 && e.startTime - first < 5000) win += e.value;
  else (win = e.value), (first = e.startTime);
  last = e.startTime;
  vitals.cls = Math.max(vitals.cls || 0, win);
});
observe("event", (e) => e.interactionId && (vitals.inp = Math.max(vitals.inp || 0, e.duration)),
  { durationThreshold: 40 });
const flush = () => {
  const events = Object.keys(vitals).map((name) => ({ name, path, value: +vitals[name].toFixed(3) }));
  for (const name in vitals) delete vitals[name];
  if (events.length) send(events);
};
addEventListener("visibilitychange", () => document.visibilityState === "hidden" && flush());
addEventListener("pagehide", flush);
