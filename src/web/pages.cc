#include "web/pages.h"

#include "core/strings.h"
#include "report/html_report.h"

namespace porch {

namespace {

const char* kExtraStyle = R"(
a{color:#2f5fd0;text-decoration:none} a:hover{text-decoration:underline}
.dag g.node{cursor:pointer} tr.task{cursor:pointer}
#detail pre{background:#0f1420;color:#dfe6f3;padding:10px;border-radius:6px;max-height:260px;overflow:auto;font-size:12px}
.live{display:inline-block;width:8px;height:8px;border-radius:50%;background:#2e9e5b;margin-right:6px}
)";

// Shared helpers: fetch with the page's token, state colours.
const char* kCommonJs = R"(
const token = new URLSearchParams(location.search).get('token');
function withToken(path) {
  return path + (token ? (path.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : '');
}
function api(path) { return fetch(withToken(path), {cache: 'no-store'}); }
const colours = {succeeded:'#2e9e5b', ok:'#2e9e5b', running:'#3b82f6', queued:'#93b4ee', pending:'#c9ced6',
  'retry-wait':'#c9ced6', skipped:'#e0b84c', cancelled:'#8a8f98', timeout:'#e8772e'};
function colour(s) { return colours[s] || '#d64545'; }
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c])); }
function dur(s) { return s < 60 ? s.toFixed(2) + 's' : Math.floor(s / 60) + 'm' + String(Math.round(s % 60)).padStart(2, '0') + 's'; }
)";

const char* kRunBody = R"(<p><a id="home" href="/">&larr; all runs</a></p>
<h1>porch run <code id="runid"></code></h1>
<div class="sub"><span class="live"></span><span id="status">loading...</span></div>
<div class="cards" id="cards"></div>
<h2>Task graph</h2><div class="panel" id="dag"></div>
<h2>Timeline (one row per executor slot)</h2><div class="panel" id="gantt"></div>
<div id="workers"></div>
<h2>Task</h2><div class="panel" id="detail">Click a task in the graph or the table.</div>
<h2>Tasks <small id="pager"></small></h2><table id="tasks"></table>
)";

// The run page's script (runId, withToken and the helpers come before it).
const char* kRunJs = R"(
// Live updates come as Server-Sent Events (/api/runs/<id>/events): the first
// carries the summary and the first page of tasks, later ones the tasks that
// changed. Large runs are shown a page at a time.
document.getElementById('runid').textContent = runId;
document.getElementById('home').href = withToken('/');
const base = '/api/runs/' + encodeURIComponent(runId);
const pageSize = 500, drawLimit = 5000;
let offset = 0, total = 0, rows = new Map(), selected = null, drawn = false, drawing = false;
function card(label, value) { return `<div class="card"><b>${esc(value)}</b><span>${esc(label)}</span></div>`; }
async function showTask(id) {
  selected = id;
  const r = await api(base + '/tasks/' + encodeURIComponent(id));
  if (!r.ok) return;
  const t = await r.json();
  const attempts = t.attempts.map(a => `<h3>attempt ${a.attempt}: ${esc(a.outcome)} (exit ${a.exit_code}, ${dur(a.duration_s)})</h3>
    ${a.progress && a.progress.turns ? `<p>agent: ${a.progress.turns} turns${a.progress.last_tool ? ', last tool ' + esc(a.progress.last_tool) : ''}, ${a.progress.tokens} tokens</p>` : ''}
    <p>job <code>${esc(a.job_id)}</code>${a.detail ? ' &middot; ' + esc(a.detail) : ''}${a.tokens ? ' &middot; ' + a.tokens + ' tokens, $' + a.cost_usd.toFixed(4) : ''}</p>
    ${a.files.length ? '<p>files: ' + a.files.map(f => '<code>' + esc(f.path) + '</code>').join(', ') + '</p>' : ''}
    <pre>${esc(a.stdout_tail || '(no stdout)')}</pre>${a.stderr_tail ? '<pre>' + esc(a.stderr_tail) + '</pre>' : ''}`).join('');
  document.getElementById('detail').innerHTML = `<p><b><code>${esc(t.id)}</code></b> ${esc(t.title)}
    <span class="pill" style="background:${colour(t.state)}">${esc(t.state)}</span>
    ${t.skip_reason ? ' &middot; ' + esc(t.skip_reason) : ''}</p>
    <p>${t.kind === 'ai' ? 'prompt: ' + esc(t.prompt) : 'command: <code>' + esc(t.command) + '</code>'}</p>` + attempts;
}
function showSummary(s) {
  document.getElementById('status').textContent = `${s.running ? 'running' : s.outcome} · backend ${s.backend} · M = ${s.max_executors} · ${s.running} running${s.queued ? `, ${s.queued} queued` : ''}`;
  document.getElementById('cards').innerHTML = card('tasks', s.tasks_total) + card('succeeded', s.succeeded) +
    card('failed', s.failed) + card('skipped', s.skipped) + card('running', s.running) +
    card('makespan', dur(s.makespan_s)) + card('speedup', s.speedup.toFixed(2) + 'x') +
    (s.tokens ? card('AI cost', '$' + s.cost_usd.toFixed(4)) : '');
  const w = s.workers || [];
  document.getElementById('workers').innerHTML = !w.length ? '' :
    '<h2>Workers</h2><table><tr><th>worker</th><th>host</th><th>slots</th><th>running</th><th>labels</th><th>last heartbeat</th></tr>' +
    w.map(x => `<tr><td><code>${esc(x.name)}</code></td><td>${esc(x.host)}</td><td>${Number(x.slots) || 0}</td><td>${Number(x.running) || 0}</td>
      <td>${esc((x.labels || []).join(', ') || '-')}</td><td>${dur(Math.max(0, Date.now() / 1000 - (Number(x.beat) || 0)))} ago</td></tr>`).join('') + '</table>';
}
function onPage(t) { return t.index >= offset && t.index < offset + pageSize; }
function showRows() {
  const sorted = [...rows.values()].sort((a, b) => a.index - b.index);
  document.getElementById('tasks').innerHTML = '<tr><th>task</th><th>state</th><th>attempts</th><th>duration</th><th>exit</th><th>job</th><th>detail</th></tr>' +
    sorted.map(t => `<tr class="task" data-task="${esc(t.id)}"><td><code>${esc(t.id)}</code></td>
      <td><span class="pill" style="background:${colour(t.state)}">${esc(t.state)}</span></td><td>${t.attempts}</td>
      <td>${t.attempts ? dur(t.duration) : ''}</td><td>${t.state === 'running' ? '' : (t.exit_code ?? '')}</td><td><code>${esc(t.job_id)}</code></td>
      <td>${esc(t.detail || '')}</td></tr>`).join('');
  document.querySelectorAll('tr.task').forEach(row => row.addEventListener('click', () => showTask(row.dataset.task)));
  const pager = document.getElementById('pager');
  if (total <= pageSize) { pager.textContent = ''; return; }
  pager.innerHTML = `${offset + 1}&ndash;${Math.min(total, offset + pageSize)} of ${total}
    <button id="prev" ${offset ? '' : 'disabled'}>&larr;</button> <button id="next" ${offset + pageSize < total ? '' : 'disabled'}>&rarr;</button>`;
  document.getElementById('prev').onclick = () => { offset = Math.max(0, offset - pageSize); loadPage(); };
  document.getElementById('next').onclick = () => { offset += pageSize; loadPage(); };
}
async function loadPage() {
  const r = await api(base + `?offset=${offset}&limit=${pageSize}`);
  if (!r.ok) return;
  const page = await r.json();
  total = page.total;
  rows = new Map(page.tasks.map(t => [t.index, t]));
  showRows();
}
async function drawings() {
  if (drawing || (drawn && total > drawLimit)) return;  // a large run is drawn (as a note) once
  drawing = true;
  try {
    const [dag, gantt] = await Promise.all([api(base + '/svg/dag'), api(base + '/svg/gantt')]);
    document.getElementById('dag').innerHTML = await dag.text();
    document.getElementById('gantt').innerHTML = await gantt.text();
    document.querySelectorAll('.dag g.node').forEach(n => n.addEventListener('click', () => showTask(n.dataset.task)));
    drawn = true;
  } finally { drawing = false; }
}
const events = new EventSource(withToken(base + '/events'));
events.addEventListener('update', e => {
  const u = JSON.parse(e.data);
  showSummary(u.summary);
  if (u.reset) {
    total = u.total;
    if (offset === 0) rows = new Map(u.tasks.map(t => [t.index, t])); else loadPage();
  } else if (u.overflow) {
    loadPage();
  } else {
    for (const t of u.tasks) if (onPage(t)) rows.set(t.index, t);
  }
  showRows();
  if (u.reset || u.tasks.length) drawings();
  if (selected && (u.reset || u.tasks.some(t => t.id === selected))) showTask(selected);
});
events.addEventListener('failure', e => {
  document.getElementById('status').textContent = 'the run cannot be read: ' + JSON.parse(e.data).error;
});
events.onerror = () => { document.getElementById('status').textContent = 'reconnecting...'; };
)";

std::string Head(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
         HtmlEscape(title) + "</title><style>" + ReportStyle() + kExtraStyle +
         "</style></head><body>\n";
}

}  // namespace

std::string RunsPage() {
  return Head("porch runs") + R"(<h1>porch runs</h1>
<div class="sub"><span class="live"></span>live: refreshed every 2 s</div>
<table id="runs"><tr><th>run</th><th>outcome</th><th>backend</th><th>tasks</th><th>done</th>
<th>failed</th><th>running</th><th>makespan</th><th>cost</th></tr></table>
<script>)" + kCommonJs + R"(
async function refresh() {
  const runs = await (await api('/api/runs')).json();
  const rows = runs.map(r => `<tr><td><a href="${withToken('/runs/' + encodeURIComponent(r.run_id))}"><code>${esc(r.run_id)}</code></a></td>
    <td><span class="pill" style="background:${colour(r.outcome === 'incomplete' ? 'running' : r.outcome)}">${esc(r.outcome)}</span></td>
    <td>${esc(r.backend)}</td><td>${r.tasks}</td><td>${r.succeeded}</td><td>${r.failed}</td><td>${r.running}</td>
    <td>${dur(r.makespan_s)}</td><td>${r.cost_usd ? '$' + r.cost_usd.toFixed(4) : ''}</td></tr>`);
  document.getElementById('runs').innerHTML = document.getElementById('runs').rows[0].outerHTML + rows.join('');
}
// The next poll is asked for only after this one is answered.
async function poll() { try { await refresh(); } finally { setTimeout(poll, 2000); } }
poll();
</script></body></html>
)";
}

std::string RunPage(const std::string& run_id) {
  std::string id_json;
  for (char c : run_id) {
    if (c == '"' || c == '\\' || c == '<' || c == '>' || static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      id_json += buf;
    } else {
      id_json += c;
    }
  }
  return Head("porch run " + run_id) + kRunBody + "<script>" + kCommonJs + "const runId = \"" +
         id_json + "\";\n" + kRunJs + "</script></body></html>\n";
}

}  // namespace porch
