// TBMS dashboard: polls GET /v1/report and shows the talk's three tables, a
// live QPS / lag chart and a models table. Plain ES2020, no build step; the
// only dependency is Chart.js 3 (global `Chart`, served at /dashboard/chart.js).
// Tables are updated in place: when the shape of a table (rows, columns,
// data attributes) is unchanged only the text of its cells changes.
'use strict';
(() => {
  const REPORT_URL = '/v1/report';
  const MAX_WINDOWS = 6;
  const REASONS = ['predicted_late', 'deadline', 'overdue', 'error', 'dropped_late', 'infeasible', 'unavailable', 'overloaded'];

  const params = new URLSearchParams(location.search);
  const interval = parseInterval(params.get('interval'));

  // For tests and for poking around in the console.
  const state = { lastReport: null, chart: null, interval, lastUpdated: null, lastError: null };
  window.tbmsDashboard = state;

  const $ = (id) => document.getElementById(id);

  function parseInterval(raw) {
    const ms = Number(raw);
    if (raw === null || raw === '' || !Number.isFinite(ms)) return 1000;
    return Math.min(3600000, Math.max(100, Math.round(ms)));
  }

  // ---- formatting ---------------------------------------------------------

  const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
  const fmt1 = (x) => (isNum(x) ? x.toFixed(1) : '–');
  const fmtInt = (x) => (isNum(x) ? Math.round(x).toLocaleString('en-US') : '–');
  const pad2 = (n) => String(n).padStart(2, '0');
  const hms = (d) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const hm = (d) => `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  const prettyTask = (task) => String(task).split('>').join(' › ');

  function fmtUptime(s) {
    if (!isNum(s)) return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return `${d} d ${h} h`;
    if (h) return `${h} h ${pad2(m)} m`;
    if (m) return `${m} m ${pad2(sec)} s`;
    return `${sec} s`;
  }

  // Background tint for a percentage (0..100): stronger for larger values.
  function tint(pct, rgb) {
    if (!isNum(pct) || pct <= 0) return '';
    const a = 0.06 + 0.32 * Math.min(pct, 100) / 100;
    return `rgba(${rgb}, ${a.toFixed(3)})`;
  }
  const BLUE = '37, 99, 235';
  const RED = '220, 38, 38';

  // Merges several ranked lists into one order that keeps each list's order
  // where they agree (a model first seen in a later list goes right after its
  // predecessor in that list).
  function mergeOrder(lists) {
    const out = [];
    for (const list of lists) {
      let prev = -1;
      for (const name of list) {
        const at = out.indexOf(name);
        if (at >= 0) { prev = Math.max(prev, at); continue; }
        out.splice(prev + 1, 0, name);
        prev += 1;
      }
    }
    return out;
  }

  function firstSeen(items, key) {
    const out = [];
    for (const it of items) if (!out.includes(it[key])) out.push(it[key]);
    return out;
  }

  // ---- table rendering ----------------------------------------------------
  // A table is described as {head: rows, body: rows}; a row is {attrs, cells};
  // a cell is {th, text, sub, attrs, cls, title, bg, colspan, rowspan}.
  // Structure (tags, spans, attributes, classes that change layout) forms a
  // signature; if it matches the table's last one, only text, title, tint and
  // state classes are touched, so nothing flickers and hover is kept.

  function signature(spec) {
    const sec = (rows) => rows.map((r) => [r.attrs || {}, r.cells.map((c) =>
      [c.th ? 1 : 0, c.colspan || 1, c.rowspan || 1, c.attrs || {}, c.cls || '', c.sub != null ? 1 : 0])]);
    return JSON.stringify([sec(spec.head), sec(spec.body)]);
  }

  function setAttrs(el, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  }

  function fillCell(el, c) {
    if (c.sub != null) {
      el.children[0].textContent = c.text;
      el.children[1].textContent = c.sub;
    } else if (el.textContent !== c.text) {
      el.textContent = c.text;
    }
    if (c.title) el.title = c.title; else el.removeAttribute('title');
    if (c.bg) el.style.setProperty('background-color', c.bg); else el.style.removeProperty('background-color');
    el.classList.toggle('bad', !!c.bad);
  }

  function makeCell(c) {
    const el = document.createElement(c.th ? 'th' : 'td');
    if (c.colspan > 1) el.colSpan = c.colspan;
    if (c.rowspan > 1) el.rowSpan = c.rowspan;
    if (c.cls) el.className = c.cls;
    setAttrs(el, c.attrs);
    if (c.sub != null) {
      const main = document.createElement('span');
      const sub = document.createElement('span');
      sub.className = 'sub';
      el.append(main, sub);
    }
    fillCell(el, c);
    return el;
  }

  function makeSection(tag, rows) {
    const sec = document.createElement(tag);
    for (const r of rows) {
      const tr = document.createElement('tr');
      setAttrs(tr, r.attrs);
      for (const c of r.cells) tr.append(makeCell(c));
      sec.append(tr);
    }
    return sec;
  }

  function renderTable(table, spec) {
    const sig = signature(spec);
    if (table._sig === sig) {
      const rows = [...spec.head, ...spec.body];
      const trs = table.querySelectorAll(':scope > thead > tr, :scope > tbody > tr');
      rows.forEach((r, i) => r.cells.forEach((c, j) => fillCell(trs[i].cells[j], c)));
      return;
    }
    table.replaceChildren(makeSection('thead', spec.head), makeSection('tbody', spec.body));
    table._sig = sig;
  }

  const emptyBody = (span, text) => [{ cells: [{ text, colspan: span, cls: 'empty' }] }];

  // ---- the tables ---------------------------------------------------------

  function downgradeSpec(list) {
    const cols = (list || []).map((d) => ({
      ...d,
      ranked: (d.answered || []).slice().sort((a, b) => a.rank - b.rank),
      ids: { 'data-instance': d.instance, 'data-task': d.task },
    }));
    const head = [{ cells: [{ th: true, text: 'model', cls: 'label' },
      ...cols.map((c) => ({ th: true, text: prettyTask(c.task), sub: c.instance, attrs: c.ids, cls: 'task', title: `${c.instance}: ${c.task}` }))] }];
    if (!cols.length) return { head, body: emptyBody(1, 'no tries yet') };

    const models = mergeOrder(cols.map((c) => c.ranked.map((a) => a.model)));
    const body = models.map((m) => ({ attrs: { 'data-model': m }, cells: [{ th: true, text: m, cls: 'label' },
      ...cols.map((c) => {
        const a = c.ranked.find((x) => x.model === m);
        if (!a) return { text: '', cls: 'na' };
        return { text: fmt1(a.pct), attrs: { ...c.ids, 'data-model': m, 'data-rank': a.rank }, cls: 'num',
          bg: tint(a.pct, BLUE), title: `${m} (rank ${a.rank}) answered ${fmtInt(a.count)} of ${fmtInt(c.tries)} tries` };
      })] }));

    body.push({ attrs: { 'data-row': 'no-answer' }, cells: [{ th: true, text: 'no answer', cls: 'label' },
      ...cols.map((c) => {
        const na = c.no_answer || {};
        return { text: fmt1(na.pct), attrs: { ...c.ids, 'data-row': 'no-answer' }, cls: 'num',
          bg: tint(na.pct, RED), title: `no answer in ${fmtInt(na.count)} of ${fmtInt(c.tries)} tries` };
      })] });
    body.push({ attrs: { 'data-row': 'tries' }, cells: [{ th: true, text: 'tries', cls: 'label sep' },
      ...cols.map((c) => ({ text: fmtInt(c.tries), attrs: { ...c.ids, 'data-row': 'tries' }, cls: 'num sep' }))] });
    body.push({ attrs: { 'data-row': 'extra-attempts' }, cells: [{ th: true, text: 'extra attempts', cls: 'label minor', title: 'attempts launched beyond the first (fallbacks and hedges)' },
      ...cols.map((c) => ({ text: fmtInt(c.extra_attempts), attrs: { ...c.ids, 'data-row': 'extra-attempts' }, cls: 'num minor' }))] });
    body.push({ attrs: { 'data-row': 'reasons' }, cells: [{ th: true, text: 'why rank 0 missed', cls: 'label minor' },
      ...cols.map((c) => {
        const r = c.reasons || {};
        const keys = [...REASONS, ...Object.keys(r).filter((k) => !REASONS.includes(k))];
        const parts = keys.filter((k) => isNum(r[k]) && r[k] > 0).map((k) => `${k.replace(/_/g, ' ')} ${fmtInt(r[k])}`);
        return { text: parts.length ? parts.join(', ') : '—', attrs: { ...c.ids, 'data-row': 'reasons' }, cls: 'reasons minor' };
      })] });
    return { head, body };
  }

  function lagSpec(list) {
    const rows = list || [];
    const starts = [...new Set(rows.flatMap((r) => (r.windows || []).map((w) => w.start)))]
      .sort((a, b) => Date.parse(b) - Date.parse(a)).slice(0, MAX_WINDOWS);
    const head = [{ cells: [{ th: true, text: 'task', cls: 'label', rowspan: 2 },
      ...starts.map((s, i) => {
        const d = new Date(s);
        const end = new Date(d.getTime() + 600000);
        return { th: true, text: isNaN(d) ? String(s) : `${hm(d)}–${hm(end)}`, colspan: 3, cls: 'window',
          sub: i === 0 ? 'newest' : '', attrs: { 'data-window': s }, title: `window from ${s}` };
      })] },
    { cells: starts.flatMap(() => ['avg', 'p50', 'p99'].map((k, j) => ({ th: true, text: k, cls: j ? 'stat' : 'stat g' }))) }];
    if (!rows.length) return { head, body: emptyBody(1, 'no tries yet') };

    const body = rows.map((r) => {
      const ids = { 'data-instance': r.instance, 'data-task': r.task };
      return { attrs: ids, cells: [{ th: true, text: prettyTask(r.task), sub: r.instance, cls: 'label task', title: `${r.instance}: ${r.task}` },
        ...starts.flatMap((s) => {
          const w = (r.windows || []).find((x) => x.start === s);
          return ['avg', 'p50', 'p99'].map((k, j) => {
            const cls = (j ? 'num' : 'num g avg');
            if (!w) return { text: '', cls: `${cls} na` };
            return { text: fmt1(w[`${k}_ms`]), cls, attrs: { ...ids, 'data-window': s, 'data-stat': k },
              title: `${k} over ${fmtInt(w.count)} tries from ${s}` };
          });
        })] };
    });
    return { head, body };
  }

  // The driver's utilisation of a GPU device, its memory in the title.
  function gpuCell(d) {
    if (!d || !d.gpu) return { text: '', cls: 'na' };
    const gib = (bytes) => fmt1(bytes / 2 ** 30);
    return { text: fmt1(d.gpu.utilization_pct), cls: 'num', attrs: { 'data-gpu': d.device }, bg: tint(d.gpu.utilization_pct, BLUE),
      title: `the driver: ${fmt1(d.gpu.utilization_pct)}% busy, ${gib(d.gpu.memory_used_bytes)} of ${gib(d.gpu.memory_total_bytes)} GiB used` };
  }

  // The talk's table: each model's part of each device, and what is free.
  function occupancySpec(list, deviceList) {
    const rows = list || [];
    const devices = firstSeen(rows, 'device');
    const models = firstSeen(rows, 'model');
    const info = new Map((deviceList || []).map((d) => [d.device, d]));
    // With a driver's readings (NVML), what the GPU itself says beside them.
    const readings = (deviceList || []).some((d) => d.gpu);
    const head = [{ cells: [{ th: true, text: 'device', cls: 'label' },
      ...models.map((m) => ({ th: true, text: m, attrs: { 'data-model': m } })), { th: true, text: 'free' },
      ...(readings ? [{ th: true, text: 'GPU busy' }] : [])] }];
    if (!rows.length) return { head, body: emptyBody(1, 'no models') };
    const body = devices.map((dev) => {
      const d = info.get(dev);
      const label = d && d.up === false ? `${dev} (drained)` : dev;
      return { attrs: { 'data-device': dev }, cells: [{ th: true, text: label, cls: 'label', title: d ? `${d.kind}, capacity ${d.capacity}` : '' },
        ...models.map((m) => {
          const o = rows.find((x) => x.device === dev && x.model === m);
          if (!o) return { text: '', cls: 'na' };
          const pct = o.device_pct == null ? o.pct : o.device_pct;
          const share = o.share_pct ? `, share ${fmt1(o.share_pct)}%` : '';
          return { text: fmt1(pct), attrs: { 'data-device': dev, 'data-model': m }, cls: 'num', bg: tint(pct, BLUE),
            title: `${m} on ${dev}: ${fmtInt(o.replicas)} replica(s) busy ${fmt1(o.pct)}% of the last 60 s${share}` };
        }),
        d ? { text: fmt1(d.free_pct), cls: 'num', attrs: { 'data-free': dev } } : { text: '', cls: 'na' },
        ...(readings ? [gpuCell(d)] : [])] };
    });
    return { head, body };
  }

  const MODEL_COLS = [
    ['version', 'version', (v) => (v == null ? '–' : String(v)), 'text'],
    ['batches', 'batches', fmtInt],
    ['items', 'items', fmtInt],
    ['batch_size_avg', 'avg batch', fmt1],
    ['queue_wait_p50_ms', 'queue wait p50 ms', fmt1],
    ['service_p50_ms', 'service p50 ms', fmt1],
    ['service_p99_ms', 'service p99 ms', fmt1],
    ['late_drops', 'late drops', fmtInt],
    ['errors', 'errors', fmtInt],
    ['skipped', 'skipped', fmtInt],
  ];

  function modelsSpec(list) {
    const rows = list || [];
    const head = [{ cells: [{ th: true, text: 'model', cls: 'label' },
      ...MODEL_COLS.map(([, title, , kind]) => ({ th: true, text: title, cls: kind === 'text' ? 'label' : '' }))] }];
    if (!rows.length) return { head, body: emptyBody(MODEL_COLS.length + 1, 'no models') };
    const body = rows.map((m) => ({ attrs: { 'data-model': m.model }, cells: [{ th: true, text: m.model, cls: 'label' },
      ...MODEL_COLS.map(([key, , f, kind]) => ({ text: f(m[key]), cls: kind === 'text' ? 'text' : 'num',
        attrs: { 'data-model': m.model, 'data-field': key },
        bad: (key === 'errors' || key === 'late_drops') && isNum(m[key]) && m[key] > 0 }))] }));
    return { head, body };
  }

  // ---- chart --------------------------------------------------------------

  function makeChart() {
    if (typeof window.Chart !== 'function') return null;
    const canvas = $('qps-chart');
    return new window.Chart(canvas.getContext('2d'), {
      type: 'line',
      data: { labels: [], datasets: [
        { label: 'QPS', data: [], yAxisID: 'y', borderColor: 'rgb(37, 99, 235)', backgroundColor: 'rgb(37, 99, 235)',
          fill: { target: 'origin', above: 'rgba(37, 99, 235, 0.10)' } },
        { label: 'avg lag ms', data: [], yAxisID: 'y1', borderColor: 'rgb(234, 88, 12)', backgroundColor: 'rgb(234, 88, 12)', fill: false },
      ] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, normalized: true,
        interaction: { mode: 'index', intersect: false },
        elements: { point: { radius: 0, hitRadius: 6, hoverRadius: 3 }, line: { borderWidth: 2, tension: 0.25 } },
        scales: {
          x: { ticks: { maxTicksLimit: 8, maxRotation: 0, autoSkip: true }, grid: { display: false } },
          y: { position: 'left', beginAtZero: true, title: { display: true, text: 'QPS' }, ticks: { precision: 0 } },
          y1: { position: 'right', beginAtZero: true, title: { display: true, text: 'avg lag ms' }, grid: { drawOnChartArea: false } },
        },
        plugins: { legend: { position: 'top', align: 'end', labels: { boxWidth: 12, boxHeight: 12 } } },
      },
    });
  }

  // ---- batch curves (the tuner's lag vs QPS, from the served T_b) ----------

  const CURVE_COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

  // One series per drawn batch size (1, 2, 4, ... and the largest served):
  // {b, points: [{x: QPS per replica, y: lag ms}]} up to the size's QPS_max.
  function curveSeries(curve) {
    const known = (Array.isArray(curve) ? curve : []).filter((p) => Array.isArray(p) && isNum(p[0]) && isNum(p[1]) && p[1] > 0);
    const largest = known.length ? known[known.length - 1][0] : 0;
    const drawn = known.filter(([b]) => (b & (b - 1)) === 0 || b === largest).slice(-CURVE_COLOURS.length);
    const STEPS = 24;
    return drawn.map(([b, ms]) => {
      const top = (b * 1000) / ms;
      const points = [];
      for (let i = 1; i <= STEPS; i++) {
        const q = (top * i) / STEPS;
        points.push({ x: q, y: ms + ((1000 / q) * (b - 1)) / 2 });
      }
      return { b, points };
    });
  }
  state.curveSeries = curveSeries;  // for tests

  function makeCurveChart() {
    if (typeof window.Chart !== 'function') return null;
    return new window.Chart($('curve-chart').getContext('2d'), {
      type: 'scatter',
      data: { datasets: [] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, showLine: true,
        elements: { point: { radius: 0, hitRadius: 6 }, line: { borderWidth: 2 } },
        scales: {
          x: { beginAtZero: true, title: { display: true, text: 'QPS per replica' } },
          y: { beginAtZero: true, title: { display: true, text: 'predicted lag ms' } },
        },
        plugins: { legend: { position: 'top', align: 'end', labels: { boxWidth: 12, boxHeight: 12 } } },
      },
    });
  }

  function renderCurves(models) {
    const withCurves = (models || []).filter((m) => Array.isArray(m.batch_curve) && m.batch_curve.length);
    const select = $('curve-model');
    const names = withCurves.map((m) => `${m.model} v${m.version}`);
    if (Array.from(select.options).map((o) => o.value).join('\n') !== names.join('\n')) {
      const keep = select.value;
      select.replaceChildren(...names.map((n) => new Option(n, n)));
      if (names.includes(keep)) select.value = keep;
    }
    const chosen = withCurves[Math.max(0, names.indexOf(select.value))];
    const series = chosen ? curveSeries(chosen.batch_curve) : [];
    state.curves = series;
    if (!state.curveChart) state.curveChart = makeCurveChart();
    const chart = state.curveChart;
    if (!chart) {
      $('curve-chart').parentElement.classList.add('no-chart');
      return;
    }
    // The lag axis stops at twice the largest lag at full rate: a big batch at a low rate waits long.
    const slowest = Math.max(0, ...series.map((s) => s.points[s.points.length - 1].y));
    chart.options.scales.y.max = series.length ? Math.ceil(slowest * 2) : undefined;
    chart.data.datasets = series.map((s, i) => ({ label: `batch ${s.b}`, data: s.points,
      borderColor: CURVE_COLOURS[i], backgroundColor: CURVE_COLOURS[i] }));
    chart.update('none');
  }

  function renderChart(series) {
    if (!state.chart) state.chart = makeChart();
    const chart = state.chart;
    if (!chart) {
      $('qps-chart').parentElement.classList.add('no-chart');
      return;
    }
    const s = series || {};
    const t = Array.isArray(s.t) ? s.t : [];
    const num = (a) => (Array.isArray(a) ? a : []).map((x) => (isNum(x) ? x : null));
    // Mutate the datasets in place: the chart and its legend state are kept.
    chart.data.labels = t.map((sec) => hms(new Date(sec * 1000)));
    chart.data.datasets[0].data = num(s.qps);
    chart.data.datasets[1].data = num(s.lag_avg_ms);
    chart.update('none');
  }

  // ---- polling ------------------------------------------------------------

  function render(r) {
    $('qps-1s').textContent = fmt1(r.qps && r.qps.last_1s);
    $('qps-60s').textContent = fmt1(r.qps && r.qps.last_60s);
    $('pending').textContent = fmtInt(r.pending_tries); // optional field
    $('core-lag').textContent = fmt1(r.core_lag_ms);   // optional field
    $('uptime').textContent = fmtUptime(r.uptime_s);
    renderTable($('downgrade-table'), downgradeSpec(r.downgrade));
    renderTable($('lag-table'), lagSpec(r.lag));
    renderTable($('occupancy-table'), occupancySpec(r.occupancy, r.devices));
    renderTable($('models-table'), modelsSpec(r.models));
    renderChart(r.series);
    renderCurves(r.models);
  }

  function setStatus(text, isError) {
    const el = $('status');
    el.textContent = text;
    el.classList.toggle('err', isError);
  }

  function showError(message) {
    state.lastError = message;
    const every = interval >= 1000 ? `${(interval / 1000).toFixed(interval % 1000 ? 1 : 0)} s` : `${interval} ms`;
    const since = state.lastUpdated ? `the figures below are from ${hms(state.lastUpdated)}` : 'no data yet';
    const banner = $('error-banner');
    banner.textContent = `Cannot load ${REPORT_URL}: ${message}. Retrying every ${every}; ${since}.`;
    banner.hidden = false;
    document.body.classList.add('stale');
    setStatus(`error: ${message}`, true);
  }

  function clearError() {
    state.lastError = null;
    $('error-banner').hidden = true;
    document.body.classList.remove('stale');
  }

  async function fetchReport() {
    const ctrl = new AbortController();
    const ms = Math.max(5000, 2 * interval);
    const timer = setTimeout(() => ctrl.abort(), ms);
    let res;
    try {
      res = await fetch(REPORT_URL, { cache: 'no-store', headers: { Accept: 'application/json' }, signal: ctrl.signal });
      if (!res.ok) {
        let detail = '';
        try { detail = (await res.json()).error || ''; } catch (_) { /* not JSON */ }
        throw new Error(`HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
      }
      return await res.json();
    } catch (e) {
      if (e.name === 'AbortError') throw new Error(`no answer within ${ms / 1000} s`);
      if (e instanceof TypeError) throw new Error(`server unreachable (${e.message})`);
      if (e instanceof SyntaxError) throw new Error(`bad JSON (${e.message})`);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  async function poll() {
    try {
      const report = await fetchReport();
      try {
        render(report);
      } catch (e) {
        console.error('tbms dashboard: cannot render the report', e);
        throw new Error(`report not understood (${e.message})`);
      }
      state.lastReport = report;
      state.lastUpdated = new Date();
      clearError();
      setStatus(`updated ${hms(state.lastUpdated)}`, false);
    } catch (e) {
      showError(e.message || String(e));
    } finally {
      setTimeout(poll, interval);
    }
  }

  function start() {
    if (typeof window.Chart !== 'function') {
      $('qps-chart').parentElement.classList.add('no-chart');
    }
    $('curve-model').addEventListener('change', () => { if (state.lastReport) renderCurves(state.lastReport.models); });
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
