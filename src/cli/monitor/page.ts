/**
 * The web monitor's one page: the runs, the selected run's DAG coloured by step state,
 * and what waits for a human (with buttons that send the commands). Plain HTML and
 * script, no build step and nothing fetched from elsewhere; it polls the JSON endpoints.
 */
export const MONITOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskvisor monitor</title>
<style>
  :root { font: 14px/1.4 system-ui, sans-serif; color: #18181b; background: #fafafa; }
  body { margin: 0; display: grid; grid-template-columns: minmax(260px, 30%) 1fr; height: 100vh; }
  header { grid-column: 1 / 3; padding: 8px 16px; background: #18181b; color: #fafafa; display: flex; gap: 16px; align-items: baseline; }
  header small { color: #a1a1aa; }
  #runs { overflow: auto; border-right: 1px solid #e4e4e7; }
  #runs div { padding: 8px 12px; border-bottom: 1px solid #f4f4f5; cursor: pointer; }
  #runs div.selected { background: #e0e7ff; }
  #detail { overflow: auto; padding: 12px 20px; }
  .phase, .state { display: inline-block; padding: 0 6px; border-radius: 4px; font-size: 12px; }
  .id { font-family: ui-monospace, monospace; font-size: 12px; color: #52525b; }
  .waiting { background: #fef3c7; border: 1px solid #d97706; border-radius: 6px; padding: 8px; margin: 8px 0; }
  button { margin-left: 6px; }
  table { border-collapse: collapse; margin-top: 8px; }
  td, th { text-align: left; padding: 2px 10px 2px 0; vertical-align: top; }
  pre { white-space: pre-wrap; max-width: 70ch; margin: 0; font-size: 12px; }
  .s-pending, .s-queued, .s-skipped, .s-cancelled { background: #f4f4f5; color: #52525b; }
  .s-running, .s-planning { background: #dbeafe; color: #1e3a8a; }
  .s-awaitingConfirmation, .s-awaitingInput, .s-awaitingApproval, .s-paused, .s-interrupted { background: #fef3c7; color: #78350f; }
  .s-retrying, .s-replanning { background: #ede9fe; color: #4c1d95; }
  .s-succeeded, .s-completed { background: #dcfce7; color: #14532d; }
  .s-failed { background: #fee2e2; color: #7f1d1d; }
  svg text { font: 12px system-ui, sans-serif; }
</style>
</head>
<body>
<header><strong>taskvisor</strong><small id="status">loading…</small></header>
<nav id="runs"></nav>
<main id="detail"><p>Select a run.</p></main>
<script>
const colours = {
  pending: '#f4f4f5', running: '#dbeafe', awaitingConfirmation: '#fef3c7', awaitingInput: '#fef3c7',
  retrying: '#ede9fe', interrupted: '#ffedd5', succeeded: '#dcfce7', failed: '#fee2e2', skipped: '#fafafa', cancelled: '#e4e4e7',
};
let selected = new URLSearchParams(location.hash.slice(1)).get('run');
const esc = (text) => String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const short = (value) => { const text = typeof value === 'string' ? value : JSON.stringify(value); return text.length > 300 ? text.slice(0, 299) + '…' : text; };

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const data = (response.headers.get('content-type') || '').includes('json') ? await response.json() : await response.text();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}
async function command(path, body) {
  try { await api(path, body); refresh(); } catch (error) { alert(error.message); }
}

function dag(view) {
  const depth = new Map();
  const byId = new Map(view.steps.map((step) => [step.id, step]));
  const depthOf = (id, seen = new Set()) => {
    if (depth.has(id)) return depth.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const step = byId.get(id);
    const d = step && step.dependsOn.length ? 1 + Math.max(...step.dependsOn.map((dep) => depthOf(dep, seen))) : 0;
    depth.set(id, d);
    return d;
  };
  view.steps.forEach((step) => depthOf(step.id));
  const rows = new Map(), pos = new Map();
  for (const step of view.steps) {
    const d = depth.get(step.id), row = rows.get(d) || 0;
    rows.set(d, row + 1);
    pos.set(step.id, { x: 10 + d * 190, y: 10 + row * 64 });
  }
  const width = 10 + (Math.max(0, ...rows.keys()) + 1) * 190, height = 10 + Math.max(1, ...rows.values()) * 64;
  let svg = '<svg width="' + width + '" height="' + height + '">';
  for (const step of view.steps) for (const dep of step.dependsOn) {
    const a = pos.get(dep), b = pos.get(step.id);
    if (a && b) svg += '<line x1="' + (a.x + 160) + '" y1="' + (a.y + 24) + '" x2="' + b.x + '" y2="' + (b.y + 24) + '" stroke="#a1a1aa"/>';
  }
  for (const step of view.steps) {
    const p = pos.get(step.id);
    svg += '<g><title>' + esc(step.title) + (step.error ? '\\n' + esc(step.error) : '') + '</title><rect x="' + p.x + '" y="' + p.y + '" width="160" height="48" rx="6" fill="' + (colours[step.state] || '#fff') + '" stroke="#71717a"/>' +
      '<text x="' + (p.x + 8) + '" y="' + (p.y + 19) + '">' + esc(step.id.slice(0, 22)) + '</text>' +
      '<text x="' + (p.x + 8) + '" y="' + (p.y + 37) + '" fill="#52525b">' + esc(step.kind + ' · ' + step.state + (step.attempt > 1 ? ' #' + step.attempt : '')) + '</text></g>';
  }
  return svg + '</svg>';
}

function waiting(view, pending) {
  let html = '';
  const run = encodeURIComponent(view.id);
  if (view.phase === 'awaitingApproval') {
    html += '<div class="waiting">The plan waits for approval.<button data-post="/api/runs/' + run + '/approve">Approve</button><button data-reject="/api/runs/' + run + '/reject">Reject…</button></div>';
  }
  for (const step of view.steps.filter((s) => s.state === 'awaitingConfirmation')) {
    const body = esc(JSON.stringify({ stepId: step.id }));
    html += '<div class="waiting">Step <b>' + esc(step.id) + '</b> (' + esc(step.reason || step.tier) + ') waits for confirmation.<button data-post="/api/runs/' + run + '/approve" data-body="' + body + '">Run it</button><button data-post="/api/runs/' + run + '/reject" data-body="' + esc(JSON.stringify({ stepId: step.id, decision: 'skip' })) + '">Skip</button><button data-post="/api/runs/' + run + '/reject" data-body="' + body + '">Cancel it</button></div>';
  }
  for (const request of pending.requests.filter((r) => r.runId === view.id)) {
    const path = '/api/requests/' + encodeURIComponent(request.requestId) + '/answer';
    const options = (request.options || []).map((o) => '<button data-post="' + path + '" data-body="' + esc(JSON.stringify({ optionId: o.id })) + '">' + esc(o.label) + '</button>').join('');
    html += '<div class="waiting">Step <b>' + esc(request.stepId) + '</b> asks: ' + esc(request.question) + (options || '<button data-answer="' + path + '">Answer…</button>') + '</div>';
  }
  return html;
}

async function showRun(pending) {
  const detail = document.getElementById('detail');
  if (!selected) return;
  let view;
  try { view = await api('/api/runs/' + encodeURIComponent(selected)); } catch (error) { detail.innerHTML = '<p>' + esc(error.message) + '</p>'; return; }
  const ended = ['completed', 'failed', 'cancelled'].includes(view.phase);
  detail.innerHTML = '<h2>' + esc(view.goal) + '</h2><p><span class="id">' + esc(view.id) + '</span> <span class="phase s-' + view.phase + '">' + view.phase + '</span>' +
    (view.reason ? ' — ' + esc(view.reason) : '') + (ended ? '' : ' <button data-post="/api/runs/' + encodeURIComponent(view.id) + '/cancel">Cancel run</button>') +
    ' <a href="/api/runs/' + encodeURIComponent(view.id) + '/mermaid" target="_blank">Mermaid</a> <a href="/api/runs/' + encodeURIComponent(view.id) + '/trace" target="_blank">Trace</a></p>' +
    waiting(view, pending) + dag(view) +
    '<table><tr><th>step</th><th>state</th><th>try</th><th>output / error</th></tr>' +
    view.steps.map((s) => '<tr><td>' + esc(s.id) + '</td><td><span class="state s-' + s.state + '">' + s.state + '</span></td><td>' + s.attempt + '</td><td><pre>' +
      esc(s.error ? s.error : s.output !== undefined ? short(s.output) : s.reason || '') + '</pre></td></tr>').join('') + '</table>';
}

async function refresh() {
  try {
    const [runs, pending] = await Promise.all([api('/api/runs?limit=100'), api('/api/pending')]);
    const waitingRuns = new Set([...pending.approvals, ...pending.confirmations, ...pending.requests].map((p) => p.runId));
    document.getElementById('runs').innerHTML = runs.map((run) =>
      '<div data-run="' + esc(run.id) + '" class="' + (run.id === selected ? 'selected' : '') + '">' + (waitingRuns.has(run.id) ? '⏸ ' : '') + esc(run.goal) +
      '<br><span class="id">' + esc(run.id) + '</span> <span class="phase s-' + run.phase + '">' + run.phase + '</span></div>').join('') || '<p style="padding:12px">No runs yet.</p>';
    document.getElementById('status').textContent = runs.length + ' runs · ' + waitingRuns.size + ' waiting · ' + new Date().toLocaleTimeString();
    await showRun(pending);
  } catch (error) {
    document.getElementById('status').textContent = 'cannot reach the monitor: ' + error.message;
  }
}

document.addEventListener('click', (event) => {
  const target = event.target.closest('[data-run],[data-post],[data-reject],[data-answer]');
  if (!target) return;
  if (target.dataset.run) { selected = target.dataset.run; location.hash = 'run=' + encodeURIComponent(selected); refresh(); }
  else if (target.dataset.post) command(target.dataset.post, target.dataset.body ? JSON.parse(target.dataset.body) : {});
  else if (target.dataset.reject) { const reason = prompt('Why reject the plan?'); if (reason) command(target.dataset.reject, { reason }); }
  else if (target.dataset.answer) { const text = prompt('Your answer'); if (text !== null) command(target.dataset.answer, { text }); }
});
refresh();
setInterval(refresh, 1000);
</script>
</body>
</html>
`;
