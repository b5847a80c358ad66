// The status page at `/`: one self-contained HTML document (inline CSS and JS, no external
// assets) that fetches /status.json every 1.5 s and redraws services, real servers and drops.

export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>uvs status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --fg: #1d2330; --muted: #6b7385; --line: #dde1e8; --bg: #f6f7f9; --ok: #16803c; --bad: #c0262d; --warn: #b26b00; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
  header { background: #1d2330; color: #fff; padding: 12px 20px; display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0 12px 0 0; }
  header .kv { color: #c9cfdb; } header .kv b { color: #fff; font-weight: 600; }
  main { padding: 16px 20px; max-width: 1200px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 16px; }
  section > h2 { font-size: 15px; margin: 0; padding: 10px 14px; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 6px 20px; }
  section > h2 .sub { font-weight: normal; color: var(--muted); }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: right; padding: 6px 14px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  td.health { white-space: normal; min-width: 13em; max-width: 30em; overflow-wrap: anywhere; }
  th:first-child, td:first-child, th.l, td.l { text-align: left; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
  tr:last-child td { border-bottom: 0; }
  .up { color: var(--ok); font-weight: 600; } .down { color: var(--bad); font-weight: 600; } .over { color: var(--warn); }
  .held { color: var(--warn); font-weight: 600; }
  header .kv b.warn { color: #ffc266; } header .kv b.bad { color: #ff8a8f; }
  section > h2 .sub.down { color: var(--bad); font-weight: 600; }
  .empty { padding: 10px 14px; color: var(--muted); }
  #err { color: var(--bad); padding: 0 20px; }
  footer { color: var(--muted); padding: 0 20px 16px; font-size: 12px; }
</style>
</head>
<body>
<header>
  <h1>uvs</h1>
  <span class="kv">role <b id="role">-</b></span>
  <span class="kv">link <b id="link">-</b></span>
  <span class="kv">station <b id="mac">-</b></span>
  <span class="kv">addresses <b id="addrs">-</b></span>
  <span class="kv">connections <b id="conns">-</b></span>
  <span class="kv" id="hq-kv" hidden>health checks <b id="hq">-</b></span>
  <span class="kv">rx <b id="rx">-</b></span>
  <span class="kv">tx <b id="tx">-</b></span>
  <span class="kv">up <b id="uptime">-</b></span>
</header>
<div id="err"></div>
<main>
  <div id="services"><section><div class="empty">loading…</div></section></div>
  <section id="drops-section">
    <h2>Drops by reason</h2>
    <table id="drops"><thead><tr><th class="l">reason</th><th>total</th><th>per second</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<footer id="foot">Health: "up (unchecked)" means no health checker watches the server (uvsd --keepalived-conf adds them); like LVS, traffic keeps going to it. A backup director (role) answers for no VIP and forwards nothing. When a service's quorum is lost its sorry server takes the traffic and its alive servers are held out. Rates are 2 s estimates averaged as IPVS does. Refreshes every 1.5 s.</footer>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}
function num(v) {
  const r = Math.round(v * 10) / 10;
  if (r < 1000) return String(r);
  // Three significant digits; a value that rounds up to the next width or unit is written in it
  // (9999 is 10.0K, 999,600 is 1.00M: not 10.00K and 1000K).
  const u = ["K", "M", "G", "T"];
  let i = 0;
  v /= 1000;
  while (v >= 999.5 && i < u.length - 1) { v /= 1000; i++; }
  return v.toFixed(v < 9.995 ? 2 : v < 99.95 ? 1 : 0) + u[i];
}
function bits(bytesPerS) { return num(bytesPerS * 8) + "bit/s"; }
function dur(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}
function healthText(d, s) {
  if (d.sorry) return "sorry server" + (s.quorum && s.quorum.sorryIn ? " (in: quorum lost)" : " (not in use)");
  let t = d.health === "unchecked" ? "up (unchecked)" : d.health;
  if (d.heldOut) t += " (held out: quorum lost)";
  else if (d.removed) t += " (removed)";
  if (d.health === "down" && d.reason) t += ": " + d.reason;
  if (d.overloaded) t += " (overloaded)";
  if (d.suspended) t += " (checks suspended: ha_suspend)";
  return t;
}
function healthClass(d, s) {
  if (d.sorry) return s.quorum && s.quorum.sorryIn ? "held" : "";
  return d.health === "down" ? "down" : d.heldOut ? "held" : "up";
}
function quorumText(q) {
  let t = "quorum " + (q.up ? "met" : "lost") + " (alive weight " + q.aliveWeight + ", quorum " + q.quorum + ")";
  if (q.sorry) t += ", sorry server " + q.sorry + (q.sorryIn ? " in" : " out");
  if (q.suspended) t += ", checks suspended (ha_suspend)";
  return t;
}
// Each service's noDest at the last refresh: shown red while it grows (clients meet no server now).
let lastNoDest = new Map();
function noDestSpan(name, n) {
  const grew = n > (lastNoDest.get(name) ?? n);
  return el("span", { class: "sub nodest" + (grew ? " down" : ""), title: "new connections that found no real server available (not reset by -Z)" },
    num(n) + " found no server");
}
function serviceName(s) {
  return s.fwmark ? "FWM " + s.fwmark : s.proto.toUpperCase() + " " + s.addr + ":" + s.port;
}
function serviceSection(s) {
  const name = serviceName(s);
  const removed = s.dests.length - s.servers;
  const head = el("h2", {}, name, el("span", { class: "sub" }, "scheduler " + s.sched),
    el("span", { class: "sub servers" }, s.servers + " real server" + (s.servers === 1 ? "" : "s") + (removed ? ", " + removed + " out of the table" : "")),
    ...(s.quorum ? [el("span", { class: "sub quorum" + (s.quorum.up ? "" : " down") }, quorumText(s.quorum))] : []),
    el("span", { class: "sub" }, num(s.rates.cps) + " conn/s"),
    el("span", { class: "sub" }, num(s.rates.inpps) + " pkt/s in, " + bits(s.rates.inbps)),
    ...(s.noDest > 0 ? [noDestSpan(name, s.noDest)] : []));
  const rows = s.dests.map((d) => el("tr", { class: "dest", "data-server": d.addr + ":" + d.port },
    el("td", {}, d.addr + ":" + d.port),
    el("td", { class: "l" }, d.forward),
    el("td", {}, d.weight),
    el("td", { class: "l health " + healthClass(d, s), title: healthText(d, s) }, healthText(d, s)),
    el("td", {}, d.active), el("td", {}, d.inactive), el("td", {}, num(d.conns)),
    el("td", {}, num(d.rates.cps)), el("td", {}, num(d.rates.inpps)), el("td", {}, bits(d.rates.inbps)),
    el("td", {}, num(d.rates.outpps))));
  const table = el("table", { class: "dests" },
    el("thead", {}, el("tr", {}, ...["real server", "forward", "weight", "health", "active", "inactive", "conns", "conn/s", "in pkt/s", "in", "out pkt/s"]
      .map((h, i) => el("th", { class: i === 1 || i === 3 ? "l" : "" }, h)))),
    el("tbody", {}, ...rows));
  return el("section", { class: "service", "data-service": name }, head,
    s.dests.length ? table : el("div", { class: "empty" }, "no real servers"));
}
function setKv(id, text, cls) {
  $(id).textContent = text;
  $(id).className = cls;
}
function render(st) {
  // As uvsadm --status: with HA groups master or backup when all agree, else mixed, then each group's.
  const g = st.haGroups;
  const role = g ? (g.every((x) => x.role === g[0].role) ? g[0].role : "mixed") + " (" + g.map((x) => x.name + " " + x.role).join(", ") + ")" : st.role;
  setKv("role", role, st.role === "master" ? "" : "warn");
  if (st.link.text !== undefined) setKv("link", (st.link.iface ? st.link.iface + " " : "") + st.link.text, st.link.ok ? "" : "bad");
  $("mac").textContent = st.mac;
  $("addrs").textContent = st.addrs.join(", ");
  $("conns").textContent = st.conns.entries + " / " + st.conns.capacity;
  // As --status's health_queue line; amber while checks wait for a slot (they start late). Then, once not
  // zero, its health_checks_not_run and health_refused counts (since start).
  const q = st.healthQueue;
  $("hq-kv").hidden = !q;
  if (q) {
    setKv("hq", q.inFlight + " / " + q.slots + " in flight, " + q.waiting + " waiting, scripts " + q.processes + " / " + q.processSlots +
      ", latest start +" + q.lateMaxMs + " ms (60 s)" + (st.healthChecksNotRun ? ", " + st.healthChecksNotRun + " not run" : "") +
      (st.healthRefused ? ", " + st.healthRefused + " refused by the table" : ""), q.waiting > 0 ? "warn" : "");
  }
  $("rx").textContent = num(st.link.rxfps) + " frames/s, " + bits(st.link.rxbps);
  $("tx").textContent = num(st.link.txfps) + " frames/s, " + bits(st.link.txbps);
  $("uptime").textContent = dur(st.uptimeS);
  const svc = $("services");
  svc.replaceChildren(...(st.services.length ? st.services.map(serviceSection)
    : [el("section", {}, el("div", { class: "empty" }, "no virtual services (uvsadm -A ...)"))]));
  lastNoDest = new Map(st.services.map((s) => [serviceName(s), s.noDest]));
  const drops = st.drops.filter((d) => d.total > 0);
  $("drops").tBodies[0].replaceChildren(...(drops.length
    ? drops.map((d) => el("tr", { class: "drop", "data-reason": d.reason }, el("td", {}, d.reason), el("td", {}, num(d.total)), el("td", {}, num(d.rate))))
    : [el("tr", {}, el("td", { colspan: "3", class: "l" }, "no drops"))]));
  $("err").textContent = "";
}
async function refresh() {
  try {
    const r = await fetch("/status.json", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
  } catch (e) {
    $("err").textContent = "cannot reach uvsd: " + e.message;
  }
}
refresh();
setInterval(refresh, 1500);
</script>
</body>
</html>
`;
