// moegate console: a small vanilla-JS app with no build step. Every value
// from the server is put in the page with textContent (the el helper), never
// as HTML. The token lives in sessionStorage and travels as a bearer header;
// no cookie is used, so no request can be forged cross-site.
'use strict';

const S = {
  token: sessionStorage.getItem('moegate.token') || '',
  role: sessionStorage.getItem('moegate.role') || '',
  tenant: sessionStorage.getItem('moegate.tenant') || '',
  features: JSON.parse(sessionStorage.getItem('moegate.features') || '{}'),
  charts: [],
  timer: null,
};

const PAGES = [
  { id: 'overview', title: 'Overview', render: overview },
  { id: 'playground', title: 'Routing playground', render: playground },
  { id: 'experts', title: 'Experts', render: expertsPage, admin: true },
  { id: 'router', title: 'Router quality', render: routerPage, admin: true },
  { id: 'knowledge', title: 'Knowledge', render: knowledgePage, admin: true },
  { id: 'tenants', title: 'Tenants & usage', render: tenantsPage },
  { id: 'requests', title: 'Requests', render: requestsPage },
];

const COLORS = ['#2f6fdb', '#e67e22', '#27ae60', '#8e44ad', '#c0392b', '#16a085', '#d35400', '#2c3e50', '#f1c40f', '#7f8c8d'];

// el builds an element: el('div', {class: 'x', onclick: f}, 'text', child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = !!v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function flash(msg, info) {
  const f = document.getElementById('flash');
  f.textContent = msg;
  f.className = info ? 'info' : '';
  f.hidden = !msg;
  if (msg) setTimeout(() => { if (f.textContent === msg) f.hidden = true; }, 8000);
}

async function api(method, path, body) {
  const opts = { method, headers: { Authorization: 'Bearer ' + S.token } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { raw: text }; }
  if (!resp.ok) {
    const msg = (data && data.error && data.error.message) || ('HTTP ' + resp.status);
    const err = new Error(msg);
    err.status = resp.status;
    err.code = data && data.error && data.error.code;
    throw err;
  }
  return data;
}

const isAdmin = () => S.role === 'admin';
const P = {
  stats: () => isAdmin() ? '/admin/console/stats' : '/v1/console/stats',
  requests: () => isAdmin() ? '/admin/console/requests' : '/v1/console/requests',
};

function fmt(n, digits) {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  if (typeof n !== 'number') return String(n);
  return n.toLocaleString(undefined, { maximumFractionDigits: digits === undefined ? 2 : digits });
}
const sig = (x) => (x ? Number(x.toPrecision(3)).toString() : '0');
const pct = (x) => fmt(100 * (x || 0), 1) + ' %';
const timeLabel = (sec) => new Date(sec * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

function chart(canvas, cfg) {
  if (!canvas || !canvas.isConnected) return null; // its page is gone
  cfg.options = Object.assign({ animation: false, responsive: true, maintainAspectRatio: false,
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } } }, cfg.options || {});
  const c = new Chart(canvas, cfg);
  S.charts.push(c);
  return c;
}

function chartCard(title, id) {
  return el('div', { class: 'card' }, el('h2', {}, title), el('div', { class: 'chart' }, el('canvas', { id })));
}

function clearPage() {
  for (const c of S.charts) c.destroy();
  S.charts = [];
  if (S.timer) { clearInterval(S.timer); S.timer = null; }
  const m = document.getElementById('main');
  m.replaceChildren();
  return m;
}

// ---- sign-in and navigation ----

function signinPage() {
  const m = clearPage();
  document.getElementById('nav').replaceChildren();
  document.getElementById('who').textContent = '';
  document.getElementById('signout').hidden = true;
  const input = el('input', { type: 'password', id: 'token', placeholder: 'Admin token or tenant API key', autocomplete: 'off' });
  const submit = async (ev) => {
    ev.preventDefault();
    const tok = input.value.trim();
    if (!tok) return;
    S.token = tok;
    try {
      await identify();
      sessionStorage.setItem('moegate.token', S.token);
      location.hash = '#/overview';
      route();
    } catch (e) {
      S.token = '';
      flash('Sign-in failed: ' + e.message);
    }
  };
  m.append(el('div', { class: 'card signin' },
    el('h1', {}, 'Sign in to moegate'),
    el('p', { class: 'muted' }, 'Use the admin token (MOEGATE_ADMIN_TOKEN) for the full view, or a tenant API key for that tenant\'s own view. It is kept only in this tab\'s session storage.'),
    el('form', { id: 'signin', onsubmit: submit }, input, el('button', { type: 'submit', id: 'signin-btn' }, 'Sign in'))));
  input.focus();
}

// identify finds whether the token is the admin token or a tenant key.
async function identify() {
  const me = await api('GET', '/v1/console/me');
  S.role = me.role;
  S.tenant = me.role === 'tenant' ? me.tenant : '';
  S.features = me.features || {};
  sessionStorage.setItem('moegate.features', JSON.stringify(S.features));
  sessionStorage.setItem('moegate.role', S.role);
  sessionStorage.setItem('moegate.tenant', S.tenant);
}

function signOut() {
  sessionStorage.clear();
  S.token = S.role = S.tenant = '';
  location.hash = '';
  signinPage();
}

function route() {
  if (!S.token || !S.role) return signinPage();
  const id = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'overview';
  const pages = PAGES.filter((p) => !p.admin || isAdmin());
  const page = pages.find((p) => p.id === id) || pages[0];
  const nav = document.getElementById('nav');
  nav.replaceChildren(...pages.map((p) => el('a', { href: '#/' + p.id, id: 'nav-' + p.id, class: p === page ? 'active' : '' }, p.title)));
  document.getElementById('who').textContent = isAdmin() ? 'admin' : 'tenant ' + S.tenant;
  document.getElementById('signout').hidden = false;
  // Each page renders into its own element: a page still loading when the
  // user moves on renders into a detached element, never into the next page.
  const m = el('div', { class: 'page', id: 'page-' + page.id });
  clearPage().append(m);
  flash('');
  m.append(el('h1', {}, page.title));
  const rest = location.hash.split('/').slice(2).map(decodeURIComponent);
  Promise.resolve(page.render(m, rest)).catch((e) => {
    if (!m.isConnected) return; // the user has moved on
    if (e.status === 401) { flash('Your session is no longer valid; sign in again.'); signOut(); return; }
    flash(page.title + ': ' + e.message);
  });
}

// ---- overview ----

async function overview(m) {
  const stats = el('div', { class: 'stats', id: 'stats' });
  const scope = isAdmin() ? el('select', { id: 'ov-tenant' }, el('option', { value: '' }, 'all tenants')) : null;
  if (scope) {
    try {
      const ts = await api('GET', '/admin/tenants');
      for (const t of ts.data || []) scope.append(el('option', { value: t.name }, t.name));
    } catch (_) { /* tenants may be unavailable; all tenants still works */ }
  }
  m.append(el('div', { class: 'row' }, el('span', { class: 'muted' }, 'Last hour, per minute; refreshes every 10 s.'), scope ? el('label', {}, 'Scope', scope) : null),
    stats,
    el('div', { class: 'grid' },
      chartCard('Requests per second', 'ch-rps'),
      chartCard('Latency (ms)', 'ch-latency'),
      chartCard('Errors by kind', 'ch-errors'),
      chartCard('Cache hit rate', 'ch-cache'),
      chartCard('Tokens', 'ch-tokens'),
      chartCard('Routing: requests answered per expert', 'ch-routing')));
  const load = async () => {
    const q = scope && scope.value ? '?tenant=' + encodeURIComponent(scope.value) : '';
    const s = await api('GET', P.stats() + q);
    if (m.isConnected) drawOverview(s);
  };
  if (scope) scope.addEventListener('change', () => load().catch((e) => flash(e.message)));
  await load();
  if (m.isConnected) S.timer = setInterval(() => load().catch(() => {}), 10000);
}

function drawOverview(s) {
  for (const c of S.charts) c.destroy();
  S.charts = [];
  const t = s.totals;
  const errKinds = Object.entries(t.errors_by_kind || {}).map(([k, v]) => k + ' ' + v).join(', ');
  document.getElementById('stats').replaceChildren(
    ...[['Requests', fmt(t.requests, 0)], ['RPS (last 5 min)', sig(s.requests.slice(-5).reduce((a, b) => a + b, 0) / 300)], ['p50 latency', fmt(t.p50_ms) + ' ms'], ['p99 latency', fmt(t.p99_ms) + ' ms'],
      ['Errors', fmt(t.errors, 0) + (errKinds ? ' (' + errKinds + ')' : '')], ['Cache hit rate', pct(t.cache_hit_rate)],
      ['Tokens', fmt(t.tokens, 0)], ['Default-expert share', pct(t.default_share)]]
      .map(([k, v]) => el('div', { class: 'stat' }, el('div', { class: 'v' }, v), el('div', { class: 'k' }, k))));
  const labels = s.minutes.map(timeLabel);
  const line = (label, data, i) => ({ label, data, borderColor: COLORS[i % COLORS.length], backgroundColor: COLORS[i % COLORS.length], pointRadius: 0, borderWidth: 2, tension: 0.2 });
  const bar = (label, data, i) => ({ label, data, backgroundColor: COLORS[i % COLORS.length], stack: 's' });
  const stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } };
  chart(document.getElementById('ch-rps'), { type: 'line', data: { labels, datasets: [line('req/s', s.rps, 0)] }, options: { scales: { y: { beginAtZero: true } } } });
  chart(document.getElementById('ch-latency'), { type: 'line', data: { labels, datasets: [line('p50', s.p50_ms, 0), line('p99', s.p99_ms, 1)] }, options: { scales: { y: { beginAtZero: true } } } });
  const kinds = Object.keys(s.errors_by_kind || {}).sort();
  chart(document.getElementById('ch-errors'), { type: 'bar', data: { labels, datasets: kinds.length ? kinds.map((k, i) => bar(k, s.errors_by_kind[k], i + 4)) : [bar('errors', s.errors, 4)] }, options: stacked });
  chart(document.getElementById('ch-cache'), { type: 'line', data: { labels, datasets: [line('hit rate', s.cache_hit_rate.map((x) => 100 * x), 2)] }, options: { scales: { y: { beginAtZero: true, max: 100 } } } });
  chart(document.getElementById('ch-tokens'), { type: 'bar', data: { labels, datasets: [bar('prompt', s.prompt_tokens, 0), bar('completion', s.completion_tokens, 1)] }, options: stacked });
  const names = Object.keys(s.answered || {}).sort();
  const ds = names.map((n, i) => bar(n, s.answered[n], i));
  ds.push(Object.assign(line('routed to default', s.default, 9), { type: 'line', stack: undefined, borderDash: [4, 3] }));
  chart(document.getElementById('ch-routing'), { type: 'bar', data: { labels, datasets: ds }, options: stacked });
}

// ---- routing playground ----

async function playground(m) {
  const msg = el('textarea', { id: 'pg-message', placeholder: 'Type a message, or paste a conversation as a JSON array of {"role","content"} messages.' });
  const model = el('input', { type: 'text', id: 'pg-model', value: 'auto', size: 12 });
  const topK = el('input', { type: 'number', id: 'pg-topk', min: 0, max: 64, placeholder: 'default', style: 'width:90px' });
  const topP = el('input', { type: 'number', id: 'pg-topp', min: 0, max: 1, step: 0.05, placeholder: 'default', style: 'width:90px' });
  const agg = el('select', { id: 'pg-aggregate' }, ['', 'top1', 'parallel-best', 'synthesize'].map((a) => el('option', { value: a }, a || 'default')));
  const retr = el('select', { id: 'pg-retrieval' }, ['auto', 'always', 'never'].map((a) => el('option', { value: a }, a)));
  // Opt-outs: a checkbox per expert the gateway serves (GET /v1/models).
  const exclE = el('span', { id: 'pg-exclude-experts' });
  try {
    const models = await api('GET', '/v1/models');
    for (const mo of models.data || []) {
      if (mo.id === 'auto') continue;
      exclE.append(el('label', {}, el('input', { type: 'checkbox', value: mo.id, class: 'pg-exclude' }), mo.id));
    }
  } catch (_) { /* the dry run still works without opt-outs */ }
  const excluded = () => [...exclE.querySelectorAll('input:checked')].map((i) => i.value);
  const exclD = el('input', { type: 'text', id: 'pg-exclude-data', placeholder: 'data owner, …' });
  let asTenant = null;
  if (isAdmin()) {
    asTenant = el('select', { id: 'pg-tenant' }, el('option', { value: '' }, 'default tenant'));
    try {
      const ts = await api('GET', '/admin/tenants');
      for (const t of ts.data || []) asTenant.append(el('option', { value: t.name }, t.name));
    } catch (_) { /* keep the default tenant */ }
  }
  S.routerModel = null;
  if (isAdmin()) {
    try { S.routerModel = (await api('GET', '/admin/console/router')).model || null; } catch (_) { /* thresholds are optional */ }
  }
  const out = el('div', { id: 'pg-result' });
  const answer = el('div', { id: 'pg-answer' });
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);

  const body = () => {
    const text = msg.value.trim();
    if (!text) throw new Error('Type a message first.');
    let messages = [{ role: 'user', content: text }];
    if (text.startsWith('[')) {
      try { messages = JSON.parse(text); } catch (e) { throw new Error('The conversation is not valid JSON: ' + e.message); }
    }
    const ext = {};
    if (topK.value) ext.top_k = Number(topK.value);
    if (topP.value) ext.top_p = Number(topP.value);
    if (agg.value) ext.aggregate = agg.value;
    if (retr.value !== 'auto') ext.retrieval = retr.value;
    if (excluded().length) ext.exclude_experts = excluded();
    if (list(exclD.value).length) ext.exclude_data = list(exclD.value);
    return { model: model.value.trim() || 'auto', messages, moegate: ext };
  };
  const suffix = () => (asTenant && asTenant.value ? '?tenant=' + encodeURIComponent(asTenant.value) : '');
  const dry = async () => {
    answer.replaceChildren();
    const r = await api('POST', (isAdmin() ? '/admin/route' : '/v1/route') + suffix(), body());
    showDecision(out, r);
  };
  const send = async () => {
    const b = body();
    answer.replaceChildren(el('p', { class: 'muted' }, 'Asking the experts…'));
    const r = await api('POST', (isAdmin() ? '/admin/chat/completions' : '/v1/chat/completions') + suffix(), b);
    showDecision(out, { moegate: r.moegate, passages: [], tenant: r.moegate.tenant, model: b.model });
    showAnswer(answer, r);
  };
  const guard = (f) => async (ev) => {
    ev.target.disabled = true;
    try { await f(); } catch (e) { flash(e.message); answer.replaceChildren(); } finally { ev.target.disabled = false; }
  };
  m.append(el('div', { class: 'card' }, msg,
    el('div', { class: 'row' }, el('label', {}, 'model', model), el('label', {}, 'top_k', topK), el('label', {}, 'top_p', topP),
      el('label', {}, 'aggregate', agg), el('label', {}, 'retrieval', retr)),
    el('div', { class: 'row' }, el('span', { class: 'muted' }, 'exclude experts:'), exclE),
    el('div', { class: 'row' }, el('label', {}, 'exclude data owners', exclD), asTenant ? el('label', {}, 'as tenant', asTenant) : null),
    el('div', { class: 'row' }, el('button', { id: 'pg-dry', onclick: guard(dry) }, 'Dry run (no expert called)'),
      el('button', { id: 'pg-send', class: 'secondary', onclick: guard(send) }, 'Send for real'))),
  out, answer);
}

function showDecision(out, r) {
  for (const c of S.charts) c.destroy();
  S.charts = [];
  const mg = r.moegate;
  const rt = mg.route;
  const probs = Object.entries(rt.probabilities || {}).sort((a, b) => b[1] - a[1]);
  const chosen = new Set((rt.experts || []).map((c) => c.name));
  const canvas = el('canvas', { id: 'pg-probs' });
  const ret = mg.retrieval || {};
  out.replaceChildren(
    el('div', { class: 'card', id: 'pg-decision' },
      el('h2', {}, 'Decision'),
      el('p', {}, 'Router ', el('b', {}, rt.router + (rt.version ? ' v' + rt.version : '')), ' · model ', el('b', {}, rt.model),
        ' · tenant ', el('b', {}, r.tenant || mg.tenant || ''), ' · aggregate ', el('b', {}, mg.aggregate),
        r.took_ms !== undefined ? ' · decided in ' + fmt(r.took_ms) + ' ms' : ''),
      rt.default ? el('p', { id: 'pg-default' }, el('span', { class: 'badge warn' }, 'default expert'), ' ', rt.default_reason || 'no expert fits') :
        el('p', { id: 'pg-default' }, el('span', { class: 'badge ok' }, 'in scope'), ' ', scopeText(rt, probs)),
      el('h2', {}, 'Chosen experts'),
      table(['expert', 'weight'], (rt.experts || []).map((c) => [c.name, fmt(c.weight, 3)]), 'pg-chosen'),
      el('h2', {}, 'Probabilities'),
      probs.length ? el('div', { class: 'chart' }, canvas) : el('p', { class: 'muted' }, 'This router gives no probabilities (static or direct routing).'),
      el('h2', {}, 'Excluded'),
      (mg.excluded || []).length ? table(['expert', 'reason'], mg.excluded.map((x) => [x.name, x.reason]), 'pg-excluded') : el('p', { class: 'muted' }, 'Nothing excluded.'),
      (mg.excluded_data || []).length ? el('p', {}, 'Data excluded: ' + mg.excluded_data.join(', ')) : null,
      el('h2', {}, 'Retrieval'),
      el('p', { id: 'pg-retrieval-decision' }, ret.used ? el('span', { class: 'badge ok' }, 'used') : el('span', { class: 'badge' }, 'not used'),
        ' mode ' + (ret.mode || 'auto') + (ret.reason ? ' — ' + ret.reason : '')),
      passagesView(r.passages && r.passages.length ? r.passages : ret.passages || [])));
  if (probs.length) {
    chart(canvas, { type: 'bar', data: { labels: probs.map((p) => p[0]),
      datasets: [{ label: 'P(expert)', data: probs.map((p) => p[1]), backgroundColor: probs.map((p) => chosen.has(p[0]) ? COLORS[0] : '#aab4c3') }] },
      options: { indexAxis: 'y', scales: { x: { beginAtZero: true, max: 1 } }, plugins: { legend: { display: false } } } });
  }
}

// scopeText says why a routed query is in scope: its best candidate's
// probability against the router's threshold (and, for models with an
// out-of-scope class, the best candidate's share against that class,
// P(best) / (P(best) + P(out of scope)), P(out of scope) at most one less
// the candidates' total mass, against the null threshold). Admins see the
// thresholds of the model.
function scopeText(rt, probs) {
  if (rt.router !== 'learned' || !probs.length) return 'routed by the ' + rt.router + ' router';
  const best = probs[0];
  const mass = probs.reduce((a, p) => a + p[1], 0);
  let text = 'best candidate ' + best[0] + ' p=' + fmt(best[1], 3);
  const m = S.routerModel;
  if (m) {
    text += ' ≥ threshold ' + fmt(m.threshold, 3);
    if (m.null_threshold) text += '; P(best) / (P(best) + P(out of scope)) ≥ ' + fmt(best[1] / (best[1] + 1 - mass), 3) + ' ≥ null threshold ' + fmt(m.null_threshold, 3);
  }
  return text;
}

function passagesView(ps) {
  if (!ps.length) return el('p', { class: 'muted' }, 'No passages.');
  return el('div', { id: 'pg-passages' }, ps.map((p) => el('div', { class: 'passage' },
    el('div', { class: 'muted' }, (p.n ? '[' + p.n + '] ' : '') + p.doc + ' · ' + (p.chunk || '') + ' · score ' + fmt(p.score, 3) + (p.data_owner ? ' · owner ' + p.data_owner : '')),
    p.text !== undefined ? p.text : '')));
}

function showAnswer(box, r) {
  const choice = (r.choices || [])[0] || {};
  const mg = r.moegate || {};
  box.replaceChildren(el('div', { class: 'card', id: 'pg-answer-card' },
    el('h2', {}, 'Answer from ', el('b', {}, r.model)),
    el('div', { class: 'passage', id: 'pg-answer-text' }, (choice.message && choice.message.content) || ''),
    el('p', { class: 'muted' }, 'request ' + mg.request_id + ' · tokens ' + fmt(r.usage && r.usage.total_tokens, 0) + ' · cache ' + (mg.cache && mg.cache.hit ? mg.cache.kind : 'miss')),
    el('h2', {}, 'Per-expert calls'),
    table(['expert', 'status', 'latency (ms)', 'attempts', 'error'], (mg.experts || []).map((c) => [c.name, c.status, fmt(c.latency_ms), c.attempts || '', c.error || '']), 'pg-calls')));
}

function table(head, rows, id, onclick) {
  return el('table', { id },
    el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((r, i) => el('tr', { class: onclick ? 'click' : '', onclick: onclick ? () => onclick(i) : undefined }, r.map((c) => el('td', {}, c))))));
}

// ---- experts ----

async function expertsPage(m) {
  const box = el('div', { id: 'experts' });
  const form = expertForm(async (spec) => {
    await api('POST', '/admin/experts', spec);
    flash('Expert ' + spec.name + ' added; the router retrains in the background.', true);
    document.getElementById('expert-add').reset();
    await load();
  });
  m.append(el('div', { class: 'card' }, el('h2', {}, 'Add an expert'), form), box);
  const load = async () => {
    const r = await api('GET', '/admin/console/experts');
    box.replaceChildren(el('div', { class: 'card' }, table(
      ['name', 'kind', 'status', 'data owner', 'model / url', 'examples', 'requests (1 h)', 'tokens (1 h)', ''],
      r.data.map((e) => [
        el('span', { class: 'expert-name' }, e.name, e.default ? el('span', { class: 'badge' }, ' default') : ''),
        e.kind,
        el('span', { id: 'status-' + e.name }, healthBadge(e)),
        e.data_owner || '',
        e.kind === 'openai' ? (e.model || '') + ' @ ' + (e.base_url || '') : (e.model || 'default model'),
        String((e.examples || []).length),
        fmt(e.requests_last_hour, 0), fmt(e.tokens_last_hour, 0),
        el('span', {},
          el('button', { class: 'secondary', id: 'edit-' + e.name, onclick: () => editExpert(e.name, load) }, 'Edit'), ' ',
          el('button', { class: 'secondary', id: 'toggle-' + e.name, onclick: () => patchExpert(e.name, { enabled: e.enabled === false }, load) }, e.enabled === false ? 'Enable' : 'Disable'), ' ',
          e.default ? '' : el('button', { class: 'danger', onclick: () => removeExpert(e.name, load) }, 'Remove')),
      ]), 'experts-table')));
  };
  await load();
}

function healthBadge(e) {
  if (e.status === 'disabled') return el('span', { class: 'badge' }, 'disabled');
  if (e.status === 'failed') return el('span', { class: 'badge bad', title: e.error || '' }, 'failed: ' + (e.error || ''));
  const h = e.health;
  if (h && h.state && h.state !== 'healthy') {
    // The circuit breaker ejected the expert (open) or is probing it (half-open).
    const why = [h.reason, h.last_error, h.ejected_until ? 'until ' + new Date(h.ejected_until).toLocaleTimeString() : ''].filter(Boolean).join(' · ');
    return el('span', { class: 'badge ' + (h.state === 'ejected' ? 'bad' : 'warn'), title: why }, h.state + (why ? ': ' + why : ''));
  }
  const rate = h && h.recent_calls ? ' · ' + pct(h.recent_error_rate) + ' errors' : '';
  return el('span', { class: 'badge ok' }, 'ok' + rate);
}

function expertForm(onsave, spec) {
  spec = spec || {};
  const f = {
    name: el('input', { type: 'text', id: 'ex-name', value: spec.name || '', disabled: !!spec.name }),
    kind: el('select', { id: 'ex-kind' }, ['openai', 'local'].map((k) => el('option', { value: k }, k))),
    base_url: el('input', { type: 'text', id: 'ex-url', value: spec.base_url || '', placeholder: 'http://host:8000/v1', size: 30 }),
    model: el('input', { type: 'text', id: 'ex-model', value: spec.model || '' }),
    api_key_env: el('input', { type: 'text', id: 'ex-keyenv', value: spec.api_key_env || '', placeholder: 'ENV_VAR_WITH_KEY' }),
    data_owner: el('input', { type: 'text', id: 'ex-owner', value: spec.data_owner || '' }),
    description: el('input', { type: 'text', id: 'ex-desc', value: spec.description || '', size: 50 }),
    examples: el('textarea', { id: 'ex-examples', placeholder: 'One example query per line: what the router learns this expert from.' }),
  };
  f.kind.value = spec.kind || 'openai';
  f.examples.value = (spec.examples || []).join('\n');
  const save = async (ev) => {
    ev.preventDefault();
    const out = {};
    for (const [k, input] of Object.entries(f)) {
      if (k === 'examples') out.examples = input.value.split('\n').map((x) => x.trim()).filter(Boolean);
      else if (!input.disabled) out[k] = input.value.trim();
    }
    if (spec.name) out.name = spec.name;
    try { await onsave(out); } catch (e) { flash(e.message); }
  };
  return el('form', { id: spec.name ? 'expert-edit' : 'expert-add', onsubmit: save },
    el('div', { class: 'row' }, el('label', {}, 'name', f.name), el('label', {}, 'kind', f.kind), el('label', {}, 'base URL', f.base_url), el('label', {}, 'model', f.model)),
    el('div', { class: 'row' }, el('label', {}, 'API key env', f.api_key_env), el('label', {}, 'data owner', f.data_owner), el('label', {}, 'description', f.description)),
    el('label', { style: 'display:block' }, 'examples'), f.examples,
    el('div', { class: 'row' }, el('button', { type: 'submit', id: spec.name ? 'ex-save' : 'ex-add' }, spec.name ? 'Save changes' : 'Add expert')));
}

// patchExpert changes some fields and keeps the others: with PATCH (a JSON
// merge patch) where the gateway has it, else by reading the spec, merging
// and writing it back whole.
async function patchExpert(name, changes, reload) {
  const path = '/admin/experts/' + encodeURIComponent(name);
  try {
    if (S.features.expert_patch) {
      await api('PATCH', path, changes);
    } else {
      const cur = await api('GET', path);
      await api('PUT', path, Object.assign({}, cur, changes));
    }
    flash('Expert ' + name + ' updated.', true);
    await reload();
  } catch (e) { flash(e.message); }
}

async function editExpert(name, reload) {
  const cur = await api('GET', '/admin/experts/' + encodeURIComponent(name)).catch((e) => { flash(e.message); });
  if (!cur) return;
  const suggestions = el('div', { id: 'suggestions' });
  const box = el('div', { class: 'card', id: 'expert-editor' }, el('h2', {}, 'Edit ' + name),
    expertForm(async (changes) => {
      delete changes.name;
      await patchExpert(name, changes, reload);
      box.remove();
    }, cur),
    el('div', { class: 'row' },
      el('button', { class: 'secondary', id: 'suggest', onclick: (ev) => suggestExamples(ev, name, suggestions) }, 'Ask the teacher for examples'),
      el('button', { class: 'secondary', onclick: () => box.remove() }, 'Cancel')),
    suggestions);
  const old = document.getElementById('expert-editor');
  if (old) old.remove();
  document.getElementById('experts').before(box);
}

// suggestExamples shows example queries the teacher model wrote for an
// expert; the admin ticks the good ones, which join the examples field (and
// are stored on Save).
async function suggestExamples(ev, name, box) {
  ev.target.disabled = true;
  box.replaceChildren(el('p', { class: 'muted' }, 'The teacher is writing examples…'));
  try {
    const r = await api('POST', '/admin/experts/' + encodeURIComponent(name) + '/examples/suggest', { n: 10 });
    const boxes = r.data.map((q) => el('input', { type: 'checkbox', value: q, checked: true }));
    box.replaceChildren(el('h2', {}, 'Teacher-written examples: keep the good ones'),
      el('div', {}, r.data.map((q, i) => el('div', {}, el('label', {}, boxes[i], q)))),
      el('button', { id: 'suggest-approve', onclick: () => {
        const area = document.querySelector('#expert-edit #ex-examples');
        const kept = boxes.filter((b) => b.checked).map((b) => b.value);
        area.value = [area.value.trim(), ...kept].filter(Boolean).join('\n');
        box.replaceChildren(el('p', { class: 'muted' }, kept.length + ' examples added to the form; Save changes to store them.'));
      } }, 'Add the ticked ones'));
  } catch (e) {
    box.replaceChildren();
    flash(e.message);
  } finally { ev.target.disabled = false; }
}

async function removeExpert(name, reload) {
  if (!confirm('Remove expert ' + name + '?')) return;
  try {
    await api('DELETE', '/admin/experts/' + encodeURIComponent(name));
    flash('Expert ' + name + ' removed.', true);
    await reload();
  } catch (e) { flash(e.message); }
}

// ---- router quality ----

async function routerPage(m) {
  const info = el('div', { id: 'router-info' });
  const evalBox = el('div', { id: 'router-eval' });
  const retrain = el('button', { id: 'retrain', onclick: async () => {
    try { await api('POST', '/admin/router/retrain'); flash('Retraining in the background; reload in a few seconds.', true); } catch (e) { flash(e.message); }
  } }, 'Retrain now');
  const evaluate = el('button', { id: 'evaluate', class: 'secondary', onclick: async (ev) => {
    ev.target.disabled = true;
    try { showEval(evalBox, await api('POST', '/admin/console/router/evaluate')); } catch (e) { flash(e.message); } finally { ev.target.disabled = false; }
  } }, 'Evaluate on a held-out slice');
  m.append(el('div', { class: 'row' }, retrain, evaluate), info, evalBox);
  const r = await api('GET', '/admin/console/router');
  const mo = r.model;
  info.replaceChildren(el('div', { class: 'card' },
    el('h2', {}, 'Model'),
    r.kind === 'static' ? el('p', {}, 'The static router sends every query to one expert; it does not train.') :
      mo ? table(['version', 'kind', 'trained', 'examples', 'experts', 'threshold', 'null threshold', 'retrieval gate'],
        [[String(mo.version), mo.kind, new Date(mo.trained).toLocaleString(), fmt(mo.examples, 0), (mo.experts || []).join(', '), fmt(mo.threshold, 3), fmt(mo.null_threshold, 3), mo.retrieval_gate ? 'yes' : 'no']], 'router-model')
        : el('p', {}, 'Not trained yet.'),
    r.last_retrain_error ? el('p', { class: 'badge bad' }, 'Last retraining failed: ' + r.last_retrain_error) : null,
    r.training ? el('div', {}, el('h2', {}, 'Training data'),
      table(['expert', 'examples'], Object.entries(r.training.per_expert).map(([k, v]) => [k || '(out of scope)', fmt(v, 0)]), 'router-training')) : null,
    r.feedback ? el('p', {}, 'Feedback recorded: ' + r.feedback.total + ', of which ' + r.feedback.labels + ' name the expert that should have answered (used at the next training).') : null,
    r.labels ? null : el('p', { class: 'muted' }, 'This gateway keeps no router labels (teacher-written, feedback or admin).')));
  if (r.evaluation) showEval(evalBox, r.evaluation);
  if (r.labels) {
    const box = el('div', { id: 'labels' });
    m.append(box);
    await labelsView(box, r);
  }
}

// labelsView reviews the router's labels: which expert a query is for,
// written by the teacher model, taken from feedback or given by an admin.
async function labelsView(box, r) {
  const l = await api('GET', '/admin/labels?all=true');
  l.data.reverse(); // newest first
  const text = el('input', { type: 'text', id: 'lb-text', placeholder: 'a query', size: 40 });
  const expert = el('select', { id: 'lb-expert' }, el('option', { value: '' }, '(default expert)'),
    ((r.model && r.model.experts) || Object.keys((r.training && r.training.per_expert) || {}).filter(Boolean).sort()).map((e) => el('option', { value: e }, e)));
  const tenant = el('input', { type: 'text', id: 'lb-tenant', placeholder: 'tenant (empty: all)' });
  const reload = async () => labelsView(box, await api('GET', '/admin/console/router'));
  box.replaceChildren(el('div', { class: 'card' },
    el('h2', {}, 'Labels (' + r.labels.total + ': ' + Object.entries(r.labels.by_source).map(([k, v]) => k + ' ' + v).join(', ') + ')'),
    el('form', { id: 'label-add', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/admin/labels', { text: text.value.trim(), expert: expert.value, tenant: tenant.value.trim() });
        flash(r.kind === 'learned' ? 'Label added; the router retrains.' : 'Label added.', true);
        await reload();
      } catch (e) { flash(e.message); }
    } }, el('div', { class: 'row' }, text, el('label', {}, 'goes to', expert), tenant, el('button', { type: 'submit', id: 'lb-add' }, 'Add label'))),
    l.data.length ? table(['time', 'source', 'tenant', 'query', 'expert', ''], l.data.slice(0, 500).map((x) => [
      new Date(x.time).toLocaleString(), x.source, x.tenant || 'all', x.text, x.expert || '(default)',
      el('button', { class: 'danger', onclick: async () => {
        try { await api('DELETE', '/admin/labels/' + encodeURIComponent(x.id)); await reload(); } catch (e) { flash(e.message); }
      } }, 'Delete')]), 'labels-table') : el('p', { class: 'muted' }, 'No labels yet.')));
}

function showEval(box, ev) {
  const max = Math.max(1, ...ev.matrix.flat());
  box.replaceChildren(el('div', { class: 'card' },
    el('h2', {}, 'Held-out evaluation'),
    el('p', {}, 'Trained on ' + ev.train + ' examples, tested on ' + ev.held_out + ' held out: accuracy ', el('b', { id: 'eval-accuracy' }, pct(ev.accuracy)),
      ' (' + new Date(ev.time).toLocaleString() + ', ' + fmt(ev.train_seconds) + ' s to train).'),
    el('h2', {}, 'Confusion matrix (rows: labelled, columns: routed)'),
    el('table', { class: 'matrix', id: 'confusion' },
      el('thead', {}, el('tr', {}, el('th', {}, ''), ev.labels.map((l) => el('th', {}, l)))),
      el('tbody', {}, ev.labels.map((l, i) => el('tr', {}, el('th', {}, l), ev.matrix[i].map((n, j) => {
        const a = n / max;
        const color = i === j ? 'rgba(39,174,96,' + a + ')' : 'rgba(192,57,43,' + a + ')';
        return el('td', { style: n ? 'background:' + color : '' }, String(n));
      }))))),
    el('h2', {}, 'Per expert'),
    table(['expert', 'held out', 'precision', 'recall', 'F1'], ev.per_expert.map((q) => [q.name, String(q.support), pct(q.precision), pct(q.recall), pct(q.f1)]), 'per-expert')));
}

// ---- knowledge ----

async function knowledgePage(m) {
  const list = el('div', { id: 'docs' });
  const id = el('input', { type: 'text', id: 'kn-id', placeholder: 'document id (optional)' });
  const title = el('input', { type: 'text', id: 'kn-title', placeholder: 'title' });
  const owner = el('input', { type: 'text', id: 'kn-owner', placeholder: 'data owner (optional)' });
  const text = el('textarea', { id: 'kn-text', placeholder: 'Paste the document text, or choose a file.' });
  const file = el('input', { type: 'file', id: 'kn-file', accept: '.txt,.md,.markdown,.csv,.json,text/*' });
  file.addEventListener('change', async () => {
    const f = file.files[0];
    if (!f) return;
    text.value = await f.text();
    if (!title.value) title.value = f.name;
    if (!id.value) id.value = f.name.replace(/[^A-Za-z0-9._-]+/g, '-').toLowerCase();
  });
  const q = el('input', { type: 'text', id: 'kn-query', placeholder: 'A question: see the passages it retrieves', size: 50 });
  const hits = el('div', { id: 'kn-hits' });
  const load = async () => {
    const r = await api('GET', '/admin/knowledge');
    list.replaceChildren(el('div', { class: 'card' }, el('h2', {}, 'Documents (' + r.data.length + ')'),
      r.data.length ? table(['id', 'title', 'data owner', 'chunks', 'ingested', ''], r.data.map((d) => [d.id, d.title || '', d.data_owner || '', fmt(d.chunks, 0),
        d.created_at ? new Date(d.created_at).toLocaleString() : '',
        el('button', { class: 'danger', onclick: async () => {
          if (!confirm('Delete document ' + d.id + '?')) return;
          try { await api('DELETE', '/admin/knowledge/' + encodeURIComponent(d.id)); await load(); } catch (e) { flash(e.message); }
        } }, 'Delete')]), 'docs-table') : el('p', { class: 'muted' }, 'No documents.')));
  };
  m.append(
    el('div', { class: 'card' }, el('h2', {}, 'Search'), el('form', { onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const r = await api('POST', '/admin/console/knowledge/search', { query: q.value, k: 5 });
        hits.replaceChildren(passagesView(r.data));
      } catch (e) { flash(e.message); }
    } }, el('div', { class: 'row' }, q, el('button', { type: 'submit', id: 'kn-search' }, 'Search'))), hits),
    el('div', { class: 'card' }, el('h2', {}, 'Add a document'),
      el('div', { class: 'row' }, id, title, owner, file), text,
      el('div', { class: 'row' }, el('button', { id: 'kn-add', onclick: async () => {
        const doc = { text: text.value };
        if (id.value.trim()) doc.id = id.value.trim();
        if (title.value.trim()) doc.title = title.value.trim();
        if (owner.value.trim()) doc.data_owner = owner.value.trim();
        try {
          await api('POST', '/admin/knowledge', doc);
          text.value = ''; id.value = ''; title.value = '';
          flash('Document added.', true);
          await load();
        } catch (e) { flash(e.message); }
      } }, 'Add document'))),
    list);
  await load();
}

// ---- tenants and usage ----

async function tenantsPage(m) {
  if (!isAdmin()) return ownUsage(m);
  const box = el('div', { id: 'tenants' });
  const keyBox = el('div', { id: 'new-key' });
  const f = {
    name: el('input', { type: 'text', id: 'tn-name', placeholder: 'name' }),
    rpm: el('input', { type: 'number', id: 'tn-rpm', placeholder: 'RPM', style: 'width:90px' }),
    tpm: el('input', { type: 'number', id: 'tn-tpm', placeholder: 'TPM', style: 'width:100px' }),
    budget: el('input', { type: 'number', id: 'tn-budget', placeholder: 'budget tokens', style: 'width:130px' }),
    allowed: el('input', { type: 'text', id: 'tn-allowed', placeholder: 'allowed experts' }),
    denied: el('input', { type: 'text', id: 'tn-denied', placeholder: 'denied experts' }),
  };
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const create = async (ev) => {
    ev.preventDefault();
    const t = { name: f.name.value.trim() };
    if (f.rpm.value) t.rpm = Number(f.rpm.value);
    if (f.tpm.value) t.tpm = Number(f.tpm.value);
    if (f.budget.value) t.budget_tokens = Number(f.budget.value);
    if (list(f.allowed.value).length) t.allowed_experts = list(f.allowed.value);
    if (list(f.denied.value).length) t.denied_experts = list(f.denied.value);
    try {
      const r = await api('POST', '/admin/tenants', t);
      keyBox.replaceChildren(el('div', { class: 'card' }, el('p', {}, 'Key of tenant ', el('b', {}, r.name), ' — shown this once, copy it now:'),
        el('div', { class: 'key', id: 'tn-key' }, r.key)));
      document.getElementById('tenant-add').reset();
      await load();
    } catch (e) { flash(e.message); }
  };
  m.append(el('div', { class: 'card' }, el('h2', {}, 'Create a tenant'),
    el('form', { id: 'tenant-add', onsubmit: create }, el('div', { class: 'row' }, Object.values(f), el('button', { type: 'submit', id: 'tn-add' }, 'Create'))),
  ), keyBox, box, chartCard('Tokens per tenant (last hour)', 'ch-tenant-tokens'), chartCard('Tokens per expert (last hour)', 'ch-expert-tokens'));
  const load = async () => {
    const [ts, us] = await Promise.all([api('GET', '/admin/tenants'), api('GET', '/admin/usage')]);
    const usage = Object.fromEntries((us.data || []).map((u) => [u.tenant, u]));
    box.replaceChildren(el('div', { class: 'card' }, el('h2', {}, 'Tenants'), table(
      ['name', 'RPM', 'TPM', 'budget', 'experts', 'requests', 'tokens', 'budget used', ''],
      ts.data.map((t) => {
        const u = usage[t.name] || {};
        return [t.name, t.rpm || '∞', t.tpm || '∞', t.budget_tokens ? fmt(t.budget_tokens, 0) + ' / ' + (t.budget_period || 'month') : '∞',
          [(t.allowed_experts || []).length ? 'only ' + t.allowed_experts.join(', ') : '', (t.denied_experts || []).length ? 'not ' + t.denied_experts.join(', ') : ''].filter(Boolean).join('; ') || 'all',
          fmt(u.requests || 0, 0), fmt(u.tokens || 0, 0), fmt(u.budget_used || 0, 0),
          el('button', { class: 'danger', onclick: async () => {
            if (!confirm('Delete tenant ' + t.name + '? Its keys stop working.')) return;
            try { await api('DELETE', '/admin/tenants/' + encodeURIComponent(t.name)); await load(); } catch (e) { flash(e.message); }
          } }, 'Delete')];
      }), 'tenants-table')));
  };
  await load();
  const s = await api('GET', '/admin/console/stats');
  if (m.isConnected) usageCharts(s);
}

function usageCharts(s) {
  const labels = s.minutes.map(timeLabel);
  const bars = (obj) => Object.keys(obj || {}).sort().map((k, i) => ({ label: k, data: obj[k], backgroundColor: COLORS[i % COLORS.length], stack: 's' }));
  const opts = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } };
  const tc = document.getElementById('ch-tenant-tokens');
  if (tc) chart(tc, { type: 'bar', data: { labels, datasets: bars(s.tenant_tokens) }, options: opts });
  chart(document.getElementById('ch-expert-tokens'), { type: 'bar', data: { labels, datasets: bars(s.expert_tokens) }, options: opts });
}

async function ownUsage(m) {
  const [me, u, s] = await Promise.all([api('GET', '/v1/console/me'), api('GET', '/v1/usage'), api('GET', '/v1/console/stats')]);
  const t = me.policy || {};
  m.append(el('div', { class: 'card', id: 'own-usage' }, el('h2', {}, 'Tenant ' + me.tenant),
    table(['RPM', 'TPM', 'budget', 'requests', 'tokens', 'budget used', 'period'],
      [[t.rpm || '∞', t.tpm || '∞', t.budget_tokens ? fmt(t.budget_tokens, 0) : '∞', fmt(u.requests, 0), fmt(u.tokens, 0), fmt(u.budget_used, 0),
        u.period_start ? new Date(u.period_start).toLocaleDateString() + ' – ' + new Date(u.period_end).toLocaleDateString() : '']], 'own-usage-table'),
    el('h2', {}, 'Per expert'),
    table(['expert', 'requests', 'tokens'], Object.entries(u.experts || {}).map(([k, v]) => [k, fmt(v.requests, 0), fmt(v.tokens, 0)]))),
  chartCard('Tokens per expert (last hour)', 'ch-expert-tokens'));
  if (m.isConnected) usageCharts(s);
}

// ---- requests ----

async function requestsPage(m, rest) {
  if (rest[0]) return requestDetail(m, rest[0]);
  const box = el('div', { id: 'requests' });
  let scope = null;
  if (isAdmin()) {
    scope = el('select', { id: 'rq-tenant' }, el('option', { value: '' }, 'all tenants'));
    try {
      const ts = await api('GET', '/admin/tenants');
      for (const t of ts.data || []) scope.append(el('option', { value: t.name }, t.name));
    } catch (_) { /* all tenants still works */ }
  }
  m.append(el('div', { class: 'row' }, el('span', { class: 'muted' }, 'The most recent requests kept in this replica\'s memory (the last 1,000; newest first). Click one for its moegate object.'),
    scope ? el('label', {}, 'tenant', scope) : null,
    el('button', { class: 'secondary', id: 'requests-refresh', onclick: () => load().catch((e) => flash(e.message)) }, 'Refresh')), box);
  const load = async () => {
    const q = '?limit=200' + (scope && scope.value ? '&tenant=' + encodeURIComponent(scope.value) : '');
    showRequests(box, await api('GET', P.requests() + q));
  };
  if (scope) scope.addEventListener('change', () => load().catch((e) => flash(e.message)));
  await load();
}

function showRequests(box, r) {
  if (!r.data.length) { box.replaceChildren(el('p', { class: 'muted' }, 'No requests yet.')); return; }
  box.replaceChildren(el('div', { class: 'card' }, table(
    ['time', 'request', 'tenant', 'model', 'route', 'answered', 'status', 'latency (ms)', 'cache', 'tokens'],
    r.data.map((x) => [new Date(x.time).toLocaleTimeString(), x.request_id, x.tenant, x.model,
      (x.route || []).map((c) => c.name + ' ' + fmt(c.weight, 2)).join(', ') + (x.default ? ' (default)' : ''),
      x.answered || '', el('span', { class: 'badge ' + (x.status < 400 && !x.error_kind ? 'ok' : 'bad') }, String(x.status) + (x.error_kind ? ' ' + x.error_kind : '')),
      fmt(x.latency_ms), x.cache || '', fmt(x.prompt_tokens + x.completion_tokens, 0)]),
    'requests-table', (i) => { location.hash = '#/requests/' + encodeURIComponent(r.data[i].request_id); })));
}

async function requestDetail(m, id) {
  const path = (isAdmin() ? '/admin/console/requests/' : '/v1/console/requests/') + encodeURIComponent(id);
  const r = await api('GET', path);
  m.append(el('p', {}, el('a', { href: '#/requests' }, '← all requests')),
    el('div', { class: 'card', id: 'request-detail' },
      el('h2', {}, 'Request ' + r.request_id),
      table(['tenant', 'model', 'status', 'latency (ms)', 'answered', 'cache', 'tokens'],
        [[r.tenant, r.model, String(r.status), fmt(r.latency_ms), r.answered || '', r.cache || '', fmt(r.prompt_tokens + r.completion_tokens, 0)]]),
      r.error ? el('p', { class: 'badge bad' }, r.error) : null,
      el('h2', {}, 'moegate object'),
      el('pre', { id: 'request-moegate' }, JSON.stringify(r.moegate || null, null, 2))));
}

// ---- start ----

window.addEventListener('hashchange', route);
document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('signout').addEventListener('click', signOut);
  route();
});
