// Watchfire's UI: every page drawn from the JSON API, charts included.
// No framework and nothing fetched from elsewhere.
'use strict';

const PREFIX = document.body.dataset.prefix || '';
const main = document.getElementById('main');

// ---- small helpers ------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

// Calls the API; a failure throws an Error with the server's message.
async function api(path, params, init) {
  const qs = params ? '?' + new URLSearchParams(params) : '';
  let res;
  try {
    res = await fetch(PREFIX + path + qs, init);
  } catch (e) {
    throw new Error('The server did not answer: ' + e.message);
  }
  const text = await res.text();
  let body;
  try { body = JSON.parse(text); } catch (_) { body = null; }
  if (!res.ok || (body && body.status === 'error')) {
    const why = typeof body === 'string' ? body
      : body && (body.error || body.message) ? (body.error || body.message) : text || res.statusText;
    const err = new Error(why);
    err.kind = body && body.errorType;
    throw err;
  }
  return body;
}

// `data-ready` is 1 when nothing is loading (tests wait for it).
let busy = 0;
async function loading(promise) {
  busy++;
  document.body.dataset.ready = '0';
  try { return await promise; } finally {
    if (--busy === 0) document.body.dataset.ready = '1';
  }
}

function errorBox(e) { return el('div', { class: 'error' }, e.message || String(e)); }

function labelsText(m) {
  const name = m.__name__ || '';
  const rest = Object.entries(m).filter(([k]) => k !== '__name__')
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return rest.length ? `${name}{${rest.join(', ')}}` : (name || '{}');
}

function labelChips(m) {
  return Object.entries(m || {}).map(([k, v]) => el('span', { class: 'label' }, `${k}="${v}"`));
}

function ago(iso) {
  if (!iso || iso.startsWith('0001')) return 'never';
  const s = (Date.now() - Date.parse(iso)) / 1000;
  if (s < 1) return 'just now';
  return fmtDuration(s) + ' ago';
}

function fmtDuration(s) {
  if (s < 1) return (s * 1000).toFixed(1) + 'ms';
  const parts = [];
  for (const [n, u] of [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']]) {
    if (s >= n) { parts.push(Math.floor(s / n) + u); s %= n; }
  }
  return parts.slice(0, 2).join('');
}

// Prometheus durations: 1y2w3d4h5m6s7ms.
// With `signed`, a leading `-` and zero are taken (for the caller to
// refuse with a reason); else only a positive duration is.
function parseDuration(s, signed) {
  const units = { y: 31536000, w: 604800, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };
  const neg = signed && s.startsWith('-');
  const body = neg ? s.slice(1) : s;
  const re = /(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)/g;
  let total = 0, seen = '', m;
  while ((m = re.exec(body)) !== null) { total += parseFloat(m[1]) * units[m[2]]; seen += m[0]; }
  if (seen !== body || !seen) return null;
  if (signed) return neg ? -total : total;
  return total > 0 ? total : null;
}

// `2006-01-02 15:04:05` in UTC, as Prometheus's end_input.
function fmtTime(t) { return new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19); }
function parseTime(s) {
  if (!s) return null;
  const t = Date.parse(s.trim().replace(' ', 'T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? '' : 'Z'));
  return isNaN(t) ? NaN : t / 1000;
}

function fmtValue(v) {
  const n = Number(v);
  if (!isFinite(n)) return String(v);
  if (n !== 0 && (Math.abs(n) >= 1e6 || Math.abs(n) < 1e-3)) return n.toExponential(3);
  return String(Math.round(n * 1e6) / 1e6);
}

function table(head, rows) {
  return el('div', { class: 'scroll' }, el('table', {},
    el('thead', {}, el('tr', {}, head.map(h => el('th', {}, h)))),
    el('tbody', {}, rows)));
}

// ---- the query page -----------------------------------------------------

// PromQL's functions and aggregations, for completion.
const FUNCTIONS = ['abs', 'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh',
  'avg', 'avg_over_time', 'bottomk', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'cos', 'cosh',
  'count', 'count_over_time', 'count_values', 'day_of_month', 'day_of_week', 'day_of_year', 'days_in_month',
  'deg', 'delta', 'deriv', 'double_exponential_smoothing', 'exp', 'floor', 'group', 'histogram_avg',
  'histogram_count', 'histogram_fraction', 'histogram_quantile', 'histogram_stddev', 'histogram_stdvar',
  'histogram_sum', 'hour', 'idelta', 'increase', 'info', 'irate', 'label_join', 'label_replace', 'last_over_time',
  'limit_ratio', 'limitk', 'ln', 'log10', 'log2', 'mad_over_time', 'max', 'max_over_time', 'min',
  'min_over_time', 'minute', 'month', 'pi', 'predict_linear', 'present_over_time', 'quantile',
  'quantile_over_time', 'rad', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_by_label',
  'sort_by_label_desc', 'sort_desc', 'sqrt', 'stddev', 'stddev_over_time', 'stdvar', 'stdvar_over_time', 'sum',
  'sum_over_time', 'tan', 'tanh', 'time', 'timestamp', 'topk', 'vector', 'year'];

const COLORS = ['#2563eb', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0891b2', '#a16207',
  '#db2777', '#4d7c0f', '#1e40af', '#9a3412', '#0f766e'];

// Panels from Prometheus's URL parameters (g0.expr, g0.tab, …).
function panelsFromURL() {
  const q = new URLSearchParams(location.search);
  const out = [];
  for (let i = 0; q.has(`g${i}.expr`) || q.has(`g${i}.tab`) || q.has(`g${i}.range_input`); i++) {
    const g = k => q.get(`g${i}.${k}`);
    const tab = g('tab');
    out.push({
      expr: g('expr') || '',
      tab: tab === '1' || tab === 'table' ? 'table' : 'graph',
      range: g('range_input') || '1h',
      end: g('end_input') || '',
      step: g('step_input') || '',
      stacked: g('stacked') === '1',
    });
  }
  return out.length ? out : [{ expr: '', tab: 'table', range: '1h', end: '', step: '', stacked: false }];
}

function panelsToURL(panels) {
  const q = new URLSearchParams();
  panels.forEach((p, i) => {
    q.set(`g${i}.expr`, p.expr);
    q.set(`g${i}.tab`, p.tab === 'table' ? '1' : '0');
    q.set(`g${i}.stacked`, p.stacked ? '1' : '0');
    q.set(`g${i}.range_input`, p.range);
    if (p.end) q.set(`g${i}.end_input`, p.end);
    if (p.step) q.set(`g${i}.step_input`, p.step);
  });
  history.replaceState(null, '', location.pathname + '?' + q);
}

async function queryPage() {
  const panels = panelsFromURL();
  const list = el('div');
  main.replaceChildren(el('h1', {}, 'Query'), list,
    el('button', { onclick: () => { panels.push({ expr: '', tab: 'table', range: '1h', end: '', step: '', stacked: false }); draw(); } }, 'Add panel'));
  // Completion words: PromQL's functions and aggregations, then the
  // metric and label names the server knows; label values are asked for
  // when the cursor is inside a matcher's quotes.
  const words = FUNCTIONS.map(f => f + '(');
  loading(Promise.all([api('/api/v1/label/__name__/values'), api('/api/v1/labels')]).then(([m, l]) => {
    words.push(...m.data, ...l.data);
  }).catch(() => {}));
  const valuesCache = new Map();
  function labelValues(metric, label) {
    const key = metric + '\0' + label;
    if (!valuesCache.has(key)) {
      const params = new URLSearchParams();
      if (metric) params.set('match[]', metric);
      valuesCache.set(key, api(`/api/v1/label/${encodeURIComponent(label)}/values`, params)
        .then(r => r.data).catch(() => []));
    }
    return valuesCache.get(key);
  }
  function draw() {
    list.replaceChildren(...panels.map((p, i) => panel(p, i)));
    panelsToURL(panels);
  }
  function panel(p, i) {
    const out = el('div');
    const expr = el('textarea', { class: 'expr', rows: 2, placeholder: 'Expression (press Shift+Enter for newlines, Tab to complete)' });
    expr.value = p.expr;
    const run = () => { p.expr = expr.value; panelsToURL(panels); execute(p, out); };
    const hints = el('div', { class: 'hints' });
    // What the cursor is completing: a label value inside
    // `metric{label="…`, else the word before it.
    const context = () => {
      const before = expr.value.slice(0, expr.selectionStart);
      const v = before.match(/([A-Za-z_:][A-Za-z0-9_:]*)?\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*?([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/);
      if (v) return { cur: v[3], metric: v[1] || '', label: v[2], close: '"' };
      return { cur: (before.match(/[A-Za-z_:][A-Za-z0-9_:]*$/) || [''])[0], close: '' };
    };
    const complete = (w, close) => {
      const at = expr.selectionStart, cur = context().cur;
      const after = expr.value.slice(at);
      const tail = close && !after.startsWith(close) ? close : '';
      expr.value = expr.value.slice(0, at - cur.length) + w + tail + after;
      expr.selectionStart = expr.selectionEnd = at - cur.length + w.length + (close ? 1 : 0);
      hints.replaceChildren();
      expr.focus();
    };
    let shown = [];
    const show = (found, close) => {
      shown = found;
      hints.replaceChildren(...found.map(w => el('button', { class: 'hint', onclick: () => complete(w, close) }, w)));
      return found;
    };
    const suggest = () => {
      const c = context();
      if (c.label) {
        return loading(labelValues(c.metric, c.label).then(vals => {
          // The cursor may have moved on while the values came.
          if (context().cur !== c.cur) return;
          show(vals.filter(v => v.startsWith(c.cur) && v !== c.cur).slice(0, 8).map(v => JSON.stringify(v).slice(1, -1)), '"');
        }));
      }
      return show(c.cur ? [...new Set(words)].filter(w => w.startsWith(c.cur) && w !== c.cur).slice(0, 8) : [], '');
    };
    expr.addEventListener('input', suggest);
    expr.addEventListener('keydown', e => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); hints.replaceChildren(); run(); }
      if (e.key === 'Tab' && shown.length) { e.preventDefault(); complete(shown[0], context().label ? '"' : ''); }
    });
    const input = (key, ph, cls) => {
      const f = el('input', { type: 'text', value: p[key], placeholder: ph, class: cls });
      f.addEventListener('change', () => { p[key] = f.value.trim(); run(); });
      return f;
    };
    const tab = name => el('button', { class: p.tab === name ? 'on' : '', onclick: () => { p.tab = name; draw(); } }, name === 'table' ? 'Table' : 'Graph');
    const stacked = el('input', { type: 'checkbox', checked: p.stacked });
    stacked.addEventListener('change', () => { p.stacked = stacked.checked; run(); });
    const box = el('div', { class: 'panel' },
      expr, hints,
      el('div', { class: 'row' },
        el('button', { class: 'primary', onclick: run }, 'Execute'),
        el('span', { class: 'tabs' }, tab('table'), ' ', tab('graph')),
        p.tab === 'graph' ? [el('label', {}, 'Range ', input('range', '1h')),
          el('label', {}, 'End ', input('end', 'now (UTC)', 'time')),
          el('label', {}, 'Step ', input('step', 'auto')),
          el('label', {}, stacked, ' stacked')] : el('label', {}, 'At ', input('end', 'now (UTC)', 'time')),
        el('button', { onclick: () => { panels.splice(i, 1); if (!panels.length) panels.push({ expr: '', tab: 'table', range: '1h', end: '', step: '', stacked: false }); draw(); } }, 'Remove')),
      out);
    if (p.expr) execute(p, out);
    return box;
  }
  draw();
}

function execute(p, out) { return loading(run(p, out)); }

async function run(p, out) {
  out.replaceChildren(el('p', { class: 'muted' }, 'Running…'));
  try {
    let end = parseTime(p.end);
    if (Number.isNaN(end)) throw new Error(`End time ${JSON.stringify(p.end)} is not a time: write 2006-01-02 15:04:05 (UTC)`);
    if (end === null) end = Date.now() / 1000;
    if (p.tab === 'table') {
      const r = await api('/api/v1/query', { query: p.expr, time: end });
      out.replaceChildren(...notes(r), resultTable(r.data));
      return;
    }
    const range = parseDuration(p.range, true);
    if (range === null) throw new Error(`Range ${JSON.stringify(p.range)} is not a duration such as 1h or 30m`);
    if (range <= 0) throw new Error(`Range ${JSON.stringify(p.range)} would end the graph before it starts: give a range above zero`);
    let step = p.step ? parseDuration(p.step) : Math.max(range / 250, 1);
    if (step === null) throw new Error(`Step ${JSON.stringify(p.step)} is not a duration such as 15s`);
    const start = end - range;
    const r = await api('/api/v1/query_range', { query: p.expr, start, end, step });
    out.replaceChildren(...notes(r), chart(r.data.result, start, end, step, p.stacked, out.getBoundingClientRect().width));
  } catch (e) {
    out.replaceChildren(queryError(e, p.expr));
  }
}

// A query's error; where the message starts with Prometheus's
// `line:column:`, the expression is shown with that place marked.
function queryError(e, expr) {
  const box = errorBox(e);
  const m = /^(\d+):(\d+):/.exec(e.message || '');
  const line = m && expr.split('\n')[Number(m[1]) - 1];
  if (line !== undefined && line !== null) {
    const col = Math.min(Number(m[2]) - 1, line.length);
    box.append(el('pre', { class: 'where' }, line + '\n' + ' '.repeat(Math.max(col, 0)) + '^'));
  }
  return box;
}

function notes(r) {
  return [...(r.warnings || []), ...(r.infos || [])].map(w => el('div', { class: 'note' }, w));
}

function resultTable(d) {
  if (d.resultType === 'scalar' || d.resultType === 'string') {
    return table(['Value'], [el('tr', {}, el('td', { class: 'num' }, d.result[1]))]);
  }
  if (!d.result.length) return el('p', { class: 'muted' }, 'Empty query result');
  const rows = d.result.map(s => el('tr', {},
    el('td', { class: 'series' }, labelsText(s.metric)),
    el('td', { class: 'num' }, s.value ? s.value[1] : (s.values || []).map(v => `${v[1]} @${v[0]}`).join('\n'))));
  return table(['Series', 'Value'], rows);
}

// About `n` round values between lo and hi: steps of 1, 2 or 5 times a
// power of ten.
function niceTicks(lo, hi, n) {
  const raw = (hi - lo) / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(f => f * mag).find(s => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

// About `n` times between start and end, on round seconds, minutes, hours
// or days.
function timeTicks(start, end, n) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
  const raw = (end - start) / n;
  const step = steps.find(s => s >= raw) || Math.ceil(raw / 86400) * 86400;
  const out = [];
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) out.push(t);
  return out;
}

// A line chart in SVG: axes, one line per series (broken at gaps),
// a legend that isolates a series on click, and a hover readout.
// `width` is where it will be placed, so it is drawn once at its size.
function chart(result, start, end, step, stacked, width) {
  if (!result.length) return el('p', { class: 'muted' }, 'Empty query result');
  const L = 64, R = 12, T = 10, B = 28;
  let W = 1000, H = 320, drawnAt = -1;
  const wrap = el('div', { class: 'chart' });
  const tip = el('div', { class: 'tip' });
  const legend = el('div', { class: 'legend' });
  let only = null;
  function render(hint) {
    // Drawn at the size it is shown, so text stays readable on a phone.
    const width = Math.round(hint || wrap.getBoundingClientRect().width);
    if (width > 0) { W = Math.max(300, width); H = W < 600 ? 240 : 320; }
    drawnAt = width;
    const shown = result.map((s, i) => ({ s, i })).filter(x => only === null || x.i === only);
    // Points by timestamp; stacked adds the series below.
    const lines = [];
    const base = new Map();
    let lo = Infinity, hi = -Infinity;
    for (const { s, i } of shown) {
      const pts = s.values.map(([t, v]) => {
        let y = Number(v);
        if (stacked && isFinite(y)) { y += base.get(t) || 0; base.set(t, y); }
        if (isFinite(y)) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
        return [t, y];
      });
      lines.push({ i, pts });
    }
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= 1; hi += 1; }
    if (stacked) lo = Math.min(lo, 0);
    const x = t => L + (t - start) / (end - start || 1) * (W - L - R);
    const y = v => T + (hi - v) / (hi - lo) * (H - T - B);
    const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img' });
    for (const v of niceTicks(lo, hi, 5)) {
      svg.append(svgEl('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e5e7eb' }));
      const txt = svgEl('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#667085' });
      txt.textContent = fmtValue(v);
      svg.append(txt);
    }
    // Time labels: seconds for short ranges, the date for long ones.
    const span = end - start;
    const cut = span < 600 ? [11, 19] : span <= 86400 ? [11, 16] : [5, 16];
    for (const t of timeTicks(start, end, Math.max(2, Math.floor((W - L - R) / 110)))) {
      // Kept whole inside the chart at either edge.
      const at = x(t), anchor = at > W - 24 ? 'end' : 'middle';
      const txt = svgEl('text', { x: anchor === 'end' ? W - 2 : at, y: H - 8, 'text-anchor': anchor, 'font-size': 11, fill: '#667085' });
      txt.textContent = fmtTime(t).slice(cut[0], cut[1]);
      svg.append(txt);
    }
    for (const { i, pts } of lines) {
      let d = '', gap = true, prev = null;
      for (const [t, v] of pts) {
        // A missing step or a non-number breaks the line.
        if (!isFinite(v) || (prev !== null && t - prev > step * 1.5)) gap = true;
        if (isFinite(v)) { d += (gap ? 'M' : 'L') + x(t).toFixed(1) + ' ' + y(v).toFixed(1); gap = false; }
        prev = t;
      }
      svg.append(svgEl('path', { d, fill: 'none', stroke: COLORS[i % COLORS.length], 'stroke-width': 1.5, 'data-series': i }));
    }
    const cursor = svgEl('line', { y1: T, y2: H - B, stroke: '#98a2b3', visibility: 'hidden' });
    svg.append(cursor);
    svg.addEventListener('mousemove', ev => {
      const box = svg.getBoundingClientRect();
      const px = (ev.clientX - box.left) / box.width * W;
      const t = start + Math.round((px - L) / (W - L - R) * (end - start) / step) * step;
      const rows = [];
      for (const { s, i } of shown) {
        const p = s.values.find(v => Math.abs(v[0] - t) < step / 2);
        if (p) rows.push(el('div', {}, el('span', { class: 'swatch', style: `background:${COLORS[i % COLORS.length]}` }), `${fmtValue(p[1])} ${labelsText(s.metric)}`));
      }
      if (!rows.length) { tip.style.display = 'none'; cursor.setAttribute('visibility', 'hidden'); return; }
      cursor.setAttribute('x1', x(t)); cursor.setAttribute('x2', x(t)); cursor.setAttribute('visibility', 'visible');
      tip.replaceChildren(el('div', {}, fmtTime(t)), ...rows.slice(0, 10));
      tip.style.display = 'block';
      tip.style.left = Math.min(ev.clientX - box.left + 12, box.width - 200) + 'px';
      tip.style.top = (ev.clientY - box.top + 12) + 'px';
    });
    svg.addEventListener('mouseleave', () => { tip.style.display = 'none'; cursor.setAttribute('visibility', 'hidden'); });
    legend.replaceChildren(...result.map((s, i) => el('div', {
      class: only === null || only === i ? '' : 'off',
      onclick: () => { only = only === i ? null : i; render(); },
    }, el('span', { class: 'swatch', style: `background:${COLORS[i % COLORS.length]}` }), labelsText(s.metric))));
    wrap.replaceChildren(svg, tip);
  }
  render(width);
  // Once placed in the page, drawn again only if its width differs.
  const again = () => {
    if (wrap.isConnected && Math.round(wrap.getBoundingClientRect().width) !== drawnAt) render();
  };
  requestAnimationFrame(again);
  window.addEventListener('resize', again);
  return el('div', {}, wrap, legend);
}

// ---- alerts and rules ---------------------------------------------------

async function alertsPage() {
  const r = await api('/api/v1/rules', { type: 'alert' });
  const rules = r.data.groups.flatMap(g => g.rules.map(rule => ({ ...rule, group: g.name })));
  const filter = el('input', { type: 'text', placeholder: 'Filter by name or label', style: 'width:16em' });
  const states = { firing: true, pending: true, inactive: true };
  const boxes = Object.keys(states).map(s => {
    const c = el('input', { type: 'checkbox', checked: true });
    c.addEventListener('change', () => { states[s] = c.checked; draw(); });
    return el('label', {}, c, ` ${s} (${rules.filter(x => x.state === s).length})`);
  });
  filter.addEventListener('input', () => draw());
  const list = el('div');
  main.replaceChildren(el('h1', {}, 'Alerts'), el('div', { class: 'row' }, boxes, filter), list);
  function draw() {
    const f = filter.value.toLowerCase();
    const shown = rules.filter(x => states[x.state] && (!f || JSON.stringify([x.name, x.labels, x.alerts]).toLowerCase().includes(f)));
    list.replaceChildren(...(shown.length ? shown.map(alertRule) : [el('p', { class: 'muted' }, 'No alerting rules match.')]));
  }
  draw();
}

function alertRule(x) {
  const rows = (x.alerts || []).map(a => el('tr', {},
    el('td', {}, labelChips(a.labels)),
    el('td', {}, el('span', { class: `badge ${a.state}` }, a.state)),
    el('td', {}, a.activeAt ? ago(a.activeAt) : ''),
    el('td', { class: 'num' }, fmtValue(a.value))));
  return el('details', { class: 'panel', open: x.state !== 'inactive' },
    el('summary', {}, el('strong', {}, x.name), ' ', el('span', { class: `badge ${x.state}` }, x.state),
      ` ${(x.alerts || []).length} active`),
    el('pre', {}, exprLink(x.query), x.duration ? `\nfor: ${fmtDuration(x.duration)}` : ''),
    el('div', {}, labelChips(x.labels)),
    Object.keys(x.annotations || {}).length ? table(['Annotation', 'Value'], Object.entries(x.annotations).map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v)))) : null,
    rows.length ? table(['Labels', 'State', 'Active since', 'Value'], rows) : null);
}

function exprLink(expr) {
  const q = new URLSearchParams({ 'g0.expr': expr, 'g0.tab': '0', 'g0.range_input': '1h' });
  return el('a', { href: `${PREFIX}/query?${q}` }, expr);
}

async function rulesPage() {
  const r = await api('/api/v1/rules');
  main.replaceChildren(el('h1', {}, 'Rules'), ...r.data.groups.map(g => el('div', { class: 'panel' },
    el('h2', {}, g.name, el('span', { class: 'muted' }, ` ${g.file} · every ${fmtDuration(g.interval)} · last ${ago(g.lastEvaluation)} · took ${fmtDuration(g.evaluationTime)}`)),
    table(['Rule', 'Health', 'Last evaluation', 'Took'], g.rules.map(x => el('tr', {},
      el('td', {}, el('div', {}, x.type === 'alerting' ? `alert: ${x.name}` : `record: ${x.name}`), el('pre', {}, exprLink(x.query)),
        x.lastError ? el('div', { class: 'error' }, x.lastError) : null),
      el('td', {}, el('span', { class: `badge ${x.health === 'ok' ? 'ok' : x.health === 'err' ? 'err' : 'unknown'}` }, x.health)),
      el('td', {}, ago(x.lastEvaluation)),
      el('td', { class: 'num' }, fmtDuration(x.evaluationTime))))))));
  if (!r.data.groups.length) main.append(el('p', { class: 'muted' }, 'No rule groups are loaded.'));
}

// ---- targets and discovery ----------------------------------------------

async function targetsPage() {
  const r = await api('/api/v1/targets');
  const pools = new Map();
  for (const t of r.data.activeTargets) {
    if (!pools.has(t.scrapePool)) pools.set(t.scrapePool, []);
    pools.get(t.scrapePool).push(t);
  }
  main.replaceChildren(el('h1', {}, 'Targets'), ...[...pools].map(([name, ts]) => el('div', { class: 'panel' },
    el('h2', {}, name, el('span', { class: 'muted' }, ` (${ts.filter(t => t.health === 'up').length}/${ts.length} up)`)),
    table(['Endpoint', 'State', 'Labels', 'Last scrape', 'Duration', 'Error'], ts.map(t => el('tr', { 'data-health': t.health },
      el('td', { class: 'series' }, el('a', { href: t.scrapeUrl }, t.scrapeUrl)),
      el('td', {}, el('span', { class: `badge ${t.health}` }, t.health)),
      el('td', {}, labelChips(t.labels)),
      el('td', {}, ago(t.lastScrape)),
      el('td', { class: 'num' }, fmtDuration(t.lastScrapeDuration)),
      el('td', {}, t.lastError ? el('span', { class: 'error' }, t.lastError) : '')))))));
  if (!pools.size) main.append(el('p', { class: 'muted' }, 'No targets.'));
}

async function discoveryPage() {
  const r = await api('/api/v1/targets', { state: 'any' });
  const rows = [
    ...r.data.activeTargets.map(t => [t.scrapePool, t.discoveredLabels, t.labels]),
    ...(r.data.droppedTargets || []).map(t => [t.scrapePool || '', t.discoveredLabels, null]),
  ];
  main.replaceChildren(el('h1', {}, 'Service discovery'),
    table(['Pool', 'Discovered labels', 'Target labels'], rows.map(([p, d, l]) => el('tr', {},
      el('td', {}, p), el('td', {}, labelChips(d)), el('td', {}, l ? labelChips(l) : el('span', { class: 'muted' }, 'dropped'))))));
}

// ---- status pages -------------------------------------------------------

function kvTable(obj) {
  return table(['', ''], Object.entries(obj).map(([k, v]) => el('tr', {}, el('th', {}, k),
    el('td', {}, typeof v === 'object' ? JSON.stringify(v) : String(v)))));
}

async function statusPage() {
  const [b, rt] = await Promise.all([api('/api/v1/status/buildinfo'), api('/api/v1/status/runtimeinfo')]);
  main.replaceChildren(el('h1', {}, 'Status'), el('h2', {}, 'Build'), kvTable(b.data), el('h2', {}, 'Runtime'), kvTable(rt.data));
}

async function configPage() {
  const c = await api('/api/v1/status/config');
  main.replaceChildren(el('h1', {}, 'Configuration'), el('pre', {}, c.data.yaml));
}

async function flagsPage() {
  const f = await api('/api/v1/status/flags');
  main.replaceChildren(el('h1', {}, 'Flags'), kvTable(f.data));
}

async function tsdbPage() {
  const t = await api('/api/v1/status/tsdb');
  const d = t.data;
  const top = (title, list) => [el('h2', {}, title), table(['Name', 'Count'], (list || []).map(x => el('tr', {}, el('td', { class: 'series' }, x.name), el('td', { class: 'num' }, x.value))))];
  main.replaceChildren(el('h1', {}, 'TSDB status'), kvTable(d.headStats || {}),
    ...top('Top series counts by metric name', d.seriesCountByMetricName),
    ...top('Top label names by value count', d.labelValueCountByLabelName),
    ...top('Top series counts by label pair', d.seriesCountByLabelValuePair),
    ...top('Top memory use by label name', d.memoryInBytesByLabelName));
}

// ---- silences -----------------------------------------------------------

// `{a="b", c=~"d"}` as API v2 matchers.
function parseMatchers(text) {
  const s = text.trim().replace(/^\{/, '').replace(/\}$/, '').trim();
  if (!s) return [];
  const out = [];
  const re = /\s*([^\s=!~,]+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/y;
  let m;
  while (re.lastIndex < s.length && (m = re.exec(s)) !== null) {
    out.push({ name: m[1], value: JSON.parse(`"${m[3]}"`), isRegex: m[2].includes('~'), isEqual: !m[2].startsWith('!') });
  }
  if (re.lastIndex < s.length || !out.length) throw new Error(`Matchers ${JSON.stringify(text)} are not of the form {name="value", …}`);
  return out;
}

function matcherText(ms) {
  const op = m => (m.isEqual === false ? '!' : '=') + (m.isRegex ? '~' : m.isEqual === false ? '=' : '');
  return '{' + ms.map(m => `${m.name}${op(m)}${JSON.stringify(m.value)}`).join(', ') + '}';
}

// Silences by state, each with expire, edit (a new silence replaces the
// old one, as Alertmanager does) and duplicate; `draft` prefills the form.
async function silencesPage(draft) {
  const form = silenceForm(typeof draft === 'string' ? { matchers: draft } : (draft || {}));
  const sections = [];
  try {
    const all = await api('/api/v2/silences');
    for (const state of ['active', 'pending', 'expired']) {
      const list = all.filter(x => x.status.state === state);
      sections.push(el('h2', {}, `${state[0].toUpperCase()}${state.slice(1)} (${list.length})`));
      if (!list.length) continue;
      sections.push(table(['Matchers', 'Starts', 'Ends', 'Created by', 'Comment', ''], list.map(x => el('tr', {},
        el('td', { class: 'series' }, matcherText(x.matchers)),
        el('td', { title: x.startsAt }, fmtTime(Date.parse(x.startsAt) / 1000)), el('td', { title: x.endsAt }, fmtTime(Date.parse(x.endsAt) / 1000)),
        el('td', {}, x.createdBy), el('td', {}, x.comment),
        el('td', {},
          state !== 'expired' ? el('button', { onclick: () => loading(silencesPage(draftOf(x, true))) }, 'Edit') : null,
          el('button', { onclick: () => loading(silencesPage(draftOf(x, false))) }, 'Duplicate'),
          state !== 'expired' ? el('button', { onclick: () => loading(expire(x.id)) }, 'Expire') : null)))));
    }
  } catch (e) {
    sections.push(errorBox(e));
  }
  main.replaceChildren(el('h1', {}, 'Silences'), form, el('h2', {}, 'All silences'), ...sections);
}

function draftOf(x, edit) {
  const from = Math.max(Date.parse(x.startsAt), Date.now());
  const hours = Math.max((Date.parse(x.endsAt) - from) / 1000, 3600);
  return { id: edit ? x.id : undefined, matchers: matcherText(x.matchers), duration: fmtDuration(hours), startsAt: x.startsAt,
    createdBy: x.createdBy, comment: x.comment };
}

async function expire(id) {
  try {
    await api(`/api/v2/silence/${id}`, null, { method: 'DELETE' });
    await silencesPage();
  } catch (e) {
    main.prepend(errorBox(e));
  }
}

function silenceForm(d) {
  const out = el('div');
  const matchers = el('input', { type: 'text', id: 'silence-matchers', value: d.matchers || '', style: 'width:100%', placeholder: '{alertname="X", severity="page"}' });
  // Starts, duration and ends, kept in step as in Alertmanager's form:
  // changing the duration moves the end, changing the end the duration.
  const startsAt = d.startsAt && Date.parse(d.startsAt) > Date.now() ? Date.parse(d.startsAt) / 1000 : Date.now() / 1000;
  const starts = el('input', { type: 'text', id: 'silence-starts', value: fmtTime(startsAt) });
  const hours = el('input', { type: 'text', id: 'silence-duration', value: d.duration || '2h' });
  const ends = el('input', { type: 'text', id: 'silence-ends', value: fmtTime(startsAt + (parseDuration(d.duration || '2h') || 7200)) });
  const endFromDuration = () => {
    const s = parseTime(starts.value), len = parseDuration(hours.value.trim());
    if (s !== null && !Number.isNaN(s) && len !== null) ends.value = fmtTime(s + len);
  };
  hours.addEventListener('input', endFromDuration);
  starts.addEventListener('input', endFromDuration);
  ends.addEventListener('input', () => {
    const s = parseTime(starts.value), e = parseTime(ends.value);
    if (s !== null && e !== null && !Number.isNaN(s) && !Number.isNaN(e) && e > s) hours.value = fmtDuration(e - s);
  });
  const by = el('input', { type: 'text', value: d.createdBy || '', placeholder: 'you@example.org' });
  const comment = el('input', { type: 'text', id: 'silence-comment', value: d.comment || '', style: 'width:100%', placeholder: 'Why' });
  const matched = () => {
    const ms = parseMatchers(matchers.value);
    if (!ms.length) throw new Error('A silence needs at least one matcher.');
    return ms;
  };
  const preview = async () => {
    try {
      matched();
      const alerts = await api('/api/v2/alerts', { filter: matchers.value });
      out.replaceChildren(el('h2', {}, `This silence would mute ${alerts.length} alert${alerts.length === 1 ? '' : 's'} now`),
        ...alerts.map(a => el('div', {}, labelChips(a.labels))));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  };
  const submit = async () => {
    try {
      const ms = matched();
      if (parseDuration(hours.value.trim()) === null) throw new Error(`Duration ${JSON.stringify(hours.value)} is not a duration such as 2h`);
      let s = parseTime(starts.value);
      if (s === null) s = Date.now() / 1000;
      if (Number.isNaN(s)) throw new Error(`Start ${JSON.stringify(starts.value)} is not a time: write 2006-01-02 15:04:05 (UTC)`);
      const e = parseTime(ends.value);
      if (e === null || Number.isNaN(e)) throw new Error(`End ${JSON.stringify(ends.value)} is not a time: write 2006-01-02 15:04:05 (UTC)`);
      // The alerter checks the times (an end before the start or in the
      // past is refused) and its reason is shown as it gives it.
      const body = { matchers: ms, startsAt: new Date(s * 1000).toISOString(), endsAt: new Date(e * 1000).toISOString(), createdBy: by.value || 'watchfire-ui', comment: comment.value || 'silenced from the UI' };
      if (d.id) body.id = d.id;
      const r = await api('/api/v2/silences', null, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      });
      await silencesPage();
      main.children[0].after(el('div', { class: 'note', id: 'created' }, `Silence ${r.silenceID} ${d.id ? 'replaces the old one' : 'created'}.`));
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  };
  return el('div', { class: 'panel' }, el('h2', {}, d.id ? 'Edit silence' : 'New silence'),
    el('label', {}, 'Matchers ', matchers),
    el('div', { class: 'row' }, el('label', {}, 'Starts ', starts), el('label', {}, 'Duration ', hours),
      el('label', {}, 'Ends ', ends), el('label', {}, 'Created by ', by)),
    el('label', {}, 'Comment ', comment),
    el('div', { class: 'row' },
      el('button', { class: 'primary', id: 'create-silence', onclick: () => loading(submit()) }, d.id ? 'Save' : 'Create'),
      el('button', { id: 'preview-silence', onclick: () => loading(preview()) }, 'Preview')),
    out);
}

// The alerter's groups: by receiver and grouping labels, each alert
// marked silenced or inhibited; each group acknowledged or snoozed from
// here as from a chat message, in the name given in "Answer as", with
// its audit trail (every answer, from every chat).
async function groupsPage() {
  const groups = await api('/api/v2/alerts/groups');
  const me = el('input', { type: 'text', id: 'answer-as', value: localStorage.getItem('watchfire.user') || '', placeholder: 'your name' });
  me.addEventListener('change', () => localStorage.setItem('watchfire.user', me.value.trim()));
  const said = el('div');
  const answer = async (g, action, extra) => {
    try {
      const user = me.value.trim();
      if (!user && action !== 'unack') throw new Error('Say who answers first ("Answer as").');
      localStorage.setItem('watchfire.user', user);
      await api(`/api/v1/alerts/groups/${action}`, null, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ groupKey: g.groupKey, receiver: g.receiver.name, user, via: 'ui', ...extra }),
      });
      await groupsPage();
    } catch (e) {
      said.replaceChildren(errorBox(e));
    }
  };
  const state = g => {
    const a = g.answer || {};
    if (a.acknowledged) return el('span', { class: 'badge acked' }, `acknowledged by ${a.acknowledged.by} ${ago(a.acknowledged.at)}`);
    if (a.snoozed) return el('span', { class: 'badge snoozed' }, `snoozed by ${a.snoozed.by} until ${fmtTime(Date.parse(a.snoozed.until) / 1000)}`);
    return null;
  };
  const buttons = g => {
    const acked = g.answer && g.answer.acknowledged;
    return el('span', { class: 'answers' },
      acked ? el('button', { class: 'unack', onclick: () => loading(answer(g, 'unack')) }, 'Unacknowledge')
        : el('button', { class: 'ack', onclick: () => loading(answer(g, 'ack')) }, 'Acknowledge'),
      acked ? null : el('button', { class: 'snooze', onclick: () => loading(answer(g, 'snooze', { duration: '1h' })) }, 'Snooze 1h'));
  };
  // Who answered the group how, when and from where: its audit trail.
  const VERBS = { ack: 'acknowledged', unack: 'took back the acknowledgement', snooze: 'snoozed', silence: 'silenced' };
  const trail = g => (g.audit && g.audit.length) ? el('details', { class: 'audit' },
    el('summary', {}, `Answers (${g.audit.length})`),
    el('ul', {}, ...g.audit.slice().reverse().map(e => el('li', {},
      `${e.by || 'someone'} ${VERBS[e.action] || e.action}`, e.detail ? ` ${e.detail}` : '',
      ` via ${e.via}, ${ago(e.at)}`, e.outcome === 'unchanged' ? ' (already so)' : '')))) : null;
  main.replaceChildren(el('h1', {}, 'Alert groups'), el('div', { class: 'row' }, el('label', {}, 'Answer as ', me)), said,
    ...(groups.length ? groups.map(g => el('div', { class: 'panel group' },
      el('h2', {}, g.receiver.name, ' ', el('span', { class: 'muted' }, Object.keys(g.labels).length ? '' : '(all alerts)'), labelChips(g.labels), ' ', state(g)),
      buttons(g), trail(g),
      table(['Labels', 'State', 'Since', ''], g.alerts.map(a => el('tr', {},
        el('td', {}, labelChips(a.labels)),
        el('td', {}, el('span', { class: `badge ${a.status.state}` }, a.status.state),
          a.status.silencedBy.length ? ' silenced' : '', a.status.inhibitedBy.length ? ' inhibited' : ''),
        el('td', {}, ago(a.startsAt)),
        el('td', {}, el('button', { onclick: () => loading(silencesPage(matcherText(Object.entries(a.labels).map(([name, value]) => ({ name, value, isRegex: false, isEqual: true }))))) }, 'Silence'))))))) : [el('p', { class: 'muted' }, 'No alerts.')]));
}

// ---- routing ------------------------------------------------------------

const PAGES = {
  '/query': queryPage, '/graph': queryPage, '/alerts': alertsPage, '/rules': rulesPage,
  '/targets': targetsPage, '/service-discovery': discoveryPage, '/status': statusPage,
  '/config': configPage, '/flags': flagsPage, '/tsdb-status': tsdbPage, '/silences': () => silencesPage(),
  '/alert-groups': groupsPage,
};

async function route() {
  const path = location.pathname.slice(PREFIX.length) || '/';
  // Alertmanager's links: `#/silences/new?filter={…}`.
  if (location.hash.startsWith('#/silences')) {
    const q = new URLSearchParams(location.hash.split('?')[1] || '');
    history.replaceState(null, '', `${PREFIX}/silences`);
    mark('/silences');
    return loading(silencesPage(q.get('filter') || ''));
  }
  if (path === '/' || !PAGES[path]) {
    history.replaceState(null, '', `${PREFIX}/query${location.search}`);
    return route();
  }
  mark(path === '/graph' ? '/query' : path);
  try {
    await loading(PAGES[path]());
  } catch (e) {
    main.replaceChildren(errorBox(e));
  }
}

function mark(path) {
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('here', a.getAttribute('href') === PREFIX + path);
  }
}

route();
