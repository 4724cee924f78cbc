"""The collector's one page: what is kept, and (with the teacher's key) the live view.

Everything learners sent (labels, hosts, words) reaches the page only through the DOM's
``textContent``, never as markup, so a label such as ``<img src=x onerror=alert(1)>`` shows as
those characters. The page polls ``/api/summary`` every two seconds; it needs no internet (no
fonts, scripts or styles from elsewhere) and follows the light or dark scheme of the computer.
"""

from __future__ import annotations

from typing import Final

__all__ = ["render_page"]

_STYLE: Final = """
:root { color-scheme: light dark; --fg: #111; --bg: #fff; --muted: #444; --line: #bbb;
  --ok: #005a3c; --bad: #8a2c00; --warn: #6b4e00; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #f2f2f2; --bg: #111; --muted: #c8c8c8; --line: #555;
    --ok: #7ee2b8; --bad: #ffb199; --warn: #ffd966; } }
body { font: 18px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg);
  margin: 1rem 2rem; max-width: 1000px; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; }
th, td { border: 1px solid var(--line); padding: .25rem .6rem; text-align: left; }
td.w-open { color: var(--ok); font-weight: bold; }
td.w-bad { color: var(--bad); font-weight: bold; }
td.w-warn { color: var(--warn); font-weight: bold; }
.muted { color: var(--muted); }
"""

_SCRIPT: Final = """
const key = new URLSearchParams(location.search).get("key");
const icon = (w) => w === "open" ? "\\u2713 " : (w === "intercepted" || w === "stripped"
  ? "\\u26a0 " : "\\u2717 ");
const cls = (w) => w === "open" ? "w-open" : (w === "intercepted" || w === "stripped"
  ? "w-warn" : "w-bad");
function cell(row, text, className) {
  const td = document.createElement(row ? "td" : "th");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}
function table(id, head, rows) {
  const t = document.getElementById(id);
  t.replaceChildren();
  const tr = document.createElement("tr");
  head.forEach((h) => tr.appendChild(cell(false, h)));
  t.appendChild(tr);
  rows.forEach((r) => {
    const row = document.createElement("tr");
    r.forEach(([text, c]) => row.appendChild(cell(true, text, c)));
    t.appendChild(row);
  });
}
async function forget(path, question) {
  if (!confirm(question)) return;
  const reply = await fetch(path, {method: "POST", headers: {"X-Teacher-Key": key}});
  const s = await reply.json();
  document.getElementById("status").textContent = reply.ok
    ? "Forgot " + s.deleted + " records." : (s.error || "Could not forget.");
  refresh();
}
function learners(list) {
  const t = document.getElementById("learners");
  t.replaceChildren();
  list.forEach((l) => {
    const li = document.createElement("li");
    li.textContent = l.label + " (" + l.records + " records) ";
    const b = document.createElement("button");
    b.textContent = "Forget";
    b.setAttribute("aria-label", "Forget " + l.label);
    b.onclick = () => forget("/api/learners/" + encodeURIComponent(l.id) + "/delete",
      "Forget every record of " + l.label + "?");
    li.appendChild(b);
    t.appendChild(li);
  });
}
async function refresh() {
  const reply = await fetch("/api/summary?key=" + encodeURIComponent(key));
  if (!reply.ok) {
    document.getElementById("status").textContent = "Cannot read the class's data.";
    return;
  }
  const s = await reply.json();
  document.getElementById("status").textContent =
    s.records + " probe records from " + s.learners.length + " networks.";
  const labels = [...new Set(s.grid.map((g) => g.learner))];
  const word = {};
  s.grid.forEach((g) => { word[g.learner + ":" + g.port] = g; });
  table("grid", ["Network", ...s.ports.map(String)], labels.map((l) => {
    const first = s.grid.find((g) => g.learner === l);
    return [[first.label, ""], ...s.ports.map((p) => {
      const g = word[l + ":" + p];
      return g ? [icon(g.word) + g.word + " (" + g.probes + ")", cls(g.word)] : ["-", "muted"];
    })];
  }));
  document.getElementById("grid").setAttribute("aria-label",
    "Outcome by network and port: "
      + s.grid.map((g) => g.label + " port " + g.port + " " + g.word).join("; "));
  learners(s.learners);
  const img = document.getElementById("chart");
  img.alt = s.chart_alt;
  const src = "/api/chart.svg?key=" + encodeURIComponent(key)
    + "&v=" + s.records + "-" + s.learners.length;
  if (img.getAttribute("src") !== src) img.setAttribute("src", src);
  document.getElementById("blocks25").textContent = s.blocks_25.length
    ? s.blocks_25.join(", ") : "none so far";
  table("diagnosis", ["Network", "Target", "Here", "Is it the server or my network?"],
    s.diagnosis.map((d) => [[d.label, ""], [d.host + ":" + d.port, ""], [d.word, cls(d.word)],
      [d.answer, ""]]));
  table("advice", ["Network", "Port to use", "Security", "How sure"],
    s.advice.map((a) => [[a.label, ""],
      [a.port === null ? "none safe from here" : String(a.port), ""],
      [a.security || "-", ""], [a.confidence || "-", ""]]));
}
if (key) { refresh(); setInterval(refresh, 2000); }
"""

_KEPT: Final = """
<h2>What this collector keeps</h2>
<p>For each learner: the network label they chose and the probe records they shared (host,
port, outcome, timings, TLS and certificate facts, transcript without passwords). Addresses of
learners' machines are removed before sending and are never stored or shown. The teacher can
delete one learner's records or the whole class; nothing leaves this computer unless the
teacher exports it.</p>
"""


def render_page(*, teacher: bool) -> str:
    body = (
        """
<h1>smtplab class: which ports get out from our networks?</h1>
<p id="status" class="muted">Loading...</p>
<h2>Outcome by network and port</h2>
<img id="chart" alt="" style="max-width:100%;background:#fff">
<table id="grid" role="table"></table>
<p class="muted">Each cell: the word most probes from that network said (how many probes).
&#x2713; open, &#x26a0; intercepted or stripped (an answer that is not the server's),
&#x2717; anything else.</p>
<h2>Networks that block port 25</h2>
<p id="blocks25"></p>
<h2>Is it the server or my network?</h2>
<table id="diagnosis"></table>
<h2>The class's advice</h2>
<table id="advice"></table>
<h2>Learners</h2>
<ul id="learners"></ul>
<p><button id="forget-all" onclick="forget('/api/delete-all',
 'Forget the whole class: every learner and every record?')">Forget the whole class</button></p>
"""
        if teacher
        else """
<h1>smtplab class collector</h1>
<p>Share your probes with <code>smtplab record HOST --vantage LABEL --share ADDRESS --code
CODE</code>, using the address and code on the teacher's screen.</p>
"""
    )
    script = f"<script>{_SCRIPT}</script>" if teacher else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>smtplab class</title><style>{_STYLE}</style></head><body>"
        f"{body}{_KEPT}{script}</body></html>"
    )
