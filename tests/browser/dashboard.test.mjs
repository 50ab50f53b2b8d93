// Browser test of the dashboard: starts `tbms serve --simulate ...`, sends a
// bounded load of tries for two tasks, opens /dashboard in headless Debian
// Chromium (through playwright-core) and checks that the page shows what the
// server answered. Skips when Chromium or playwright-core is missing.
//
//   node --test tests/browser/dashboard.test.mjs
//
// Env: TBMS_BIN (default build/tbms under the repo root), TBMS_SCREENSHOT_DIR
// (default build/ under the repo root), CHROMIUM (default /usr/bin/chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TBMS_BIN = process.env.TBMS_BIN ? resolve(process.env.TBMS_BIN) : join(REPO, 'build', 'tbms');
const SCREENSHOT_DIR = resolve(REPO, process.env.TBMS_SCREENSHOT_DIR || 'build');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const SIMULATE = 'embedding=30,svm=10,bayes=5,keysearch=1';
const INSTANCE = 'nianjianQA';
const SERVED_MODELS = ['embedding', 'svm', 'bayes', 'keysearch'];
const TASKS = [
  { models: [{ name: 'embedding', est: 35 }, { name: 'svm', est: 25 }, { name: 'bayes', est: 15 }, { name: 'keysearch', est: 5 }], tries: 60 },
  { models: [{ name: 'svm', est: 25 }, { name: 'keysearch', est: 5 }], tries: 20 },
];
const CONCURRENCY = 8;
const WAIT_MS = 10000;

// Starts the server; resolves once its first stdout line names the address.
function startServer() {
  const proc = spawn(TBMS_BIN, ['serve', '--port', '0', '--simulate', SIMULATE, '--insecure-dev'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { if (stderr.length < 20000) stderr += d; });
  const ready = new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no start-up line within 15 s; stderr: ${stderr}`)), 15000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`server exited (${code ?? sig}) before listening; stdout: ${out} stderr: ${stderr}`)); });
    proc.stdout.on('data', (d) => {
      if (out.includes('\n')) return; // keep draining the pipe, ignore the rest
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      const m = out.slice(0, nl).match(/http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolveUrl(`http://127.0.0.1:${m[1]}`);
      else reject(new Error(`first stdout line has no address: ${out.slice(0, nl)}`));
    });
  });
  return { proc, ready, stderr: () => stderr };
}

async function stopServer(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
}

// Sends n identical tries with a fixed number of workers; returns [{status, body}].
async function sendTries(base, models, n) {
  const body = JSON.stringify({ inputs: { question: 'q' }, models, tloc: 50, crossRequest: 1, crossLag: 10, priority: 0 });
  const results = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`${base}/v1/instances/${INSTANCE}/try`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body, signal: AbortSignal.timeout(10000),
      });
      const text = await res.text();
      let parsed = null;
      try { parsed = JSON.parse(text); } catch (_) { parsed = text; }
      results[i] = { status: res.status, body: parsed };
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, n) }, worker));
  return results;
}

// What the dashboard must show for one task, computed from the answers.
function expectedFor(models, results) {
  const names = models.map((m) => m.name);
  const tries = results.length;
  const share = (count) => ((count * 100) / tries).toFixed(1);
  const pct = {};
  for (const name of names) pct[name] = share(results.filter((r) => r.body.model === name).length);
  return {
    instance: INSTANCE, task: names.join('>'), models: names, tries,
    pct, noAnswer: share(results.filter((r) => r.body.model == null).length),
  };
}

const num = (text) => Number(String(text).replace(/,/g, ''));
const isNumText = (text) => text != null && /^-?[\d,]+(\.\d+)?$/.test(text.trim()) && Number.isFinite(num(text));

test('dashboard shows the report of a loaded server', { timeout: 120000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip('chromium not installed: apt-get install chromium');
    return;
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    t.skip(`playwright-core not installed: (cd tests/browser && npm ci) [${e.code || e.message}]`);
    return;
  }
  assert.ok(existsSync(TBMS_BIN), `server binary not found at ${TBMS_BIN}: build it first or set TBMS_BIN`);

  const server = startServer();
  const killOnExit = () => { try { server.proc.kill('SIGKILL'); } catch (_) { /* gone */ } };
  process.once('exit', killOnExit);
  let browser;
  try {
    const base = await server.ready;

    // Bounded load: every try must be accepted; the answers give the expected shares.
    const expected = [];
    for (const task of TASKS) {
      const results = await sendTries(base, task.models, task.tries);
      const bad = results.filter((r) => r.status !== 200);
      assert.equal(bad.length, 0, `tries not accepted: ${JSON.stringify(bad.slice(0, 3))}`);
      expected.push(expectedFor(task.models, results));
    }
    t.diagnostic(`expected: ${JSON.stringify(expected)}`);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems = [];
    const foreign = [];
    const contentTypes = {};
    const origin = new URL(base).origin;
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console: ${m.text()}`);
    });
    page.on('request', (r) => {
      const u = new URL(r.url());
      if ((u.protocol === 'http:' || u.protocol === 'https:') && u.origin !== origin) foreign.push(r.url());
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (r.status() >= 400 && path !== '/favicon.ico') problems.push(`HTTP ${r.status()} for ${path}`);
      contentTypes[path] = r.headers()['content-type'] || '';
    });

    await page.goto(`${base}/dashboard?interval=500`);
    const want = expected.map(({ instance, task, tries }) => ({ instance, task, tries }));
    try {
      await page.waitForFunction((want) => {
        const d = window.tbmsDashboard;
        const r = d && d.lastReport;
        if (!r || !Array.isArray(r.downgrade)) return false;
        const triesOk = want.every((w) => r.downgrade.some((x) => x.instance === w.instance && x.task === w.task && x.tries === w.tries));
        const qps = d.chart && d.chart.data.datasets.find((s) => s.label === 'QPS');
        return triesOk && !!qps && qps.data.some((v) => v > 0);
      }, want, { timeout: WAIT_MS, polling: 100 });
    } catch (e) {
      const seen = await page.evaluate(() => {
        const d = window.tbmsDashboard;
        return { status: document.getElementById('status')?.textContent,
          downgrade: d?.lastReport?.downgrade, series: d?.lastReport?.series };
      }).catch((err) => `(cannot read page: ${err.message})`);
      await page.screenshot({ path: screenshotPath(), fullPage: true }).catch(() => {});
      assert.fail(`dashboard did not show the expected tries within ${WAIT_MS} ms: ${e.message}\n` +
        `want ${JSON.stringify(want)}\nsaw ${JSON.stringify(seen)}\nproblems ${JSON.stringify(problems)}`);
    }
    await page.screenshot({ path: screenshotPath(), fullPage: true });
    t.diagnostic(`screenshot: ${screenshotPath()}`);

    const dom = await page.evaluate((expected) => {
      const q = (sel) => document.querySelector(sel);
      const qa = (sel) => [...document.querySelectorAll(sel)];
      const txt = (el) => (el ? el.textContent.trim() : null);
      const esc = CSS.escape;
      const chart = window.tbmsDashboard.chart;
      const qps = chart.data.datasets.find((s) => s.label === 'QPS');
      return {
        status: txt(q('#status')),
        bannerHidden: q('#error-banner') ? q('#error-banner').hidden : true,
        chartIsCanvas: chart.canvas === q('#qps-chart') && q('#qps-chart') instanceof HTMLCanvasElement,
        chartLabels: chart.data.labels.length,
        chartQps: qps.data.slice(),
        tasks: expected.map((e) => {
          const at = `[data-instance="${esc(e.instance)}"][data-task="${esc(e.task)}"]`;
          return {
            header: !!q(`#downgrade-table th${at}`),
            pct: Object.fromEntries(e.models.map((m) => [m, txt(q(`#downgrade-table td${at}[data-model="${esc(m)}"]`))])),
            noAnswer: txt(q(`#downgrade-table td${at}[data-row="no-answer"]`)),
            tries: txt(q(`#downgrade-table td${at}[data-row="tries"]`)),
            lagRow: !!q(`#lag-table tr${at}`),
            lag: qa(`#lag-table td${at}[data-stat]`).map((td) => [td.dataset.stat, txt(td)]),
          };
        }),
        occupancy: qa('#occupancy-table td[data-model][data-device]').map((td) => [td.dataset.device, td.dataset.model, txt(td)]),
        free: qa('#occupancy-table td[data-free]').map((td) => [td.dataset.free, txt(td)]),
        models: qa('#models-table tbody tr[data-model]').map((tr) => tr.dataset.model),
        curveModels: qa('#curve-model option').map((o) => o.value),
        curveDatasets: window.tbmsDashboard.curveChart.data.datasets.map((s) => [s.label, s.data.length]),
        curveIsCanvas: window.tbmsDashboard.curveChart.canvas === q('#curve-chart'),
        // The formula on a known curve: T_1 = 10, T_4 = 16 ms.
        formula: window.tbmsDashboard.curveSeries([[1, 10], [3, 14], [4, 16]]).map((s) => [s.b, s.points[23]]),
      };
    }, expected);

    await t.test('downgrade table: one column per task with the answered shares', () => {
      expected.forEach((e, i) => {
        const got = dom.tasks[i];
        assert.ok(got.header, `no column header for ${e.task}`);
        assert.deepEqual(got.pct, e.pct, `per-model % for ${e.task}`);
        assert.equal(got.noAnswer, e.noAnswer, `no-answer % for ${e.task}`);
        assert.equal(got.tries !== null && num(got.tries), e.tries, `tries for ${e.task} (cell "${got.tries}")`);
      });
    });

    await t.test('lag table: a row per task with avg, p50 and p99 in ms', () => {
      expected.forEach((e, i) => {
        const got = dom.tasks[i];
        assert.ok(got.lagRow, `no lag row for ${e.task}`);
        for (const stat of ['avg', 'p50', 'p99']) {
          const cells = got.lag.filter(([s]) => s === stat);
          assert.ok(cells.length >= 1, `no ${stat} cell for ${e.task}`);
          for (const [, text] of cells) assert.ok(isNumText(text) && num(text) >= 0, `${stat} for ${e.task} is "${text}"`);
        }
      });
    });

    await t.test('occupancy table: a cell per served model', () => {
      for (const m of SERVED_MODELS) {
        const cells = dom.occupancy.filter(([, model]) => model === m);
        assert.ok(cells.length >= 1, `no occupancy cell for ${m}: ${JSON.stringify(dom.occupancy)}`);
        for (const [dev, , text] of cells) {
          assert.ok(isNumText(text) && num(text) >= 0 && num(text) <= 100, `occupancy of ${m} on ${dev} is "${text}"`);
        }
      }
      const devices = [...new Set(dom.occupancy.map(([dev]) => dev))];
      assert.deepEqual(dom.free.map(([dev]) => dev), devices, 'a free cell per device');
      for (const [dev, text] of dom.free) {
        const used = dom.occupancy.filter(([d]) => d === dev).reduce((sum, [, , t]) => sum + num(t), 0);
        assert.ok(Math.abs(num(text) + used - 100) < 0.5 || used > 100, `free on ${dev} is "${text}" with ${used}% used`);
      }
    });

    await t.test('models table: a row per served model', () => {
      for (const m of SERVED_MODELS) assert.ok(dom.models.includes(m), `no row for ${m} in ${JSON.stringify(dom.models)}`);
    });

    await t.test('chart: QPS points on #qps-chart, at least one above zero', () => {
      assert.ok(dom.chartIsCanvas, 'the Chart instance does not draw on #qps-chart');
      assert.ok(dom.chartQps.length >= 1, 'no QPS points');
      assert.equal(dom.chartLabels, dom.chartQps.length, 'one label per point');
      assert.ok(dom.chartQps.some((v) => v > 0), `no QPS above 0: ${JSON.stringify(dom.chartQps)}`);
    });

    await t.test('batch curves: a served model\'s lag vs QPS per batch size', () => {
      assert.ok(dom.curveIsCanvas, 'the curve chart does not draw on #curve-chart');
      assert.ok(dom.curveModels.length >= 1, 'no model with a batch curve');
      assert.ok(dom.curveDatasets.length >= 1 && dom.curveDatasets.every(([, n]) => n === 24),
        JSON.stringify(dom.curveDatasets));
      assert.match(dom.curveDatasets[0][0], /^batch \d+$/);
      // Drawn: 1 and 4 (powers of two, 4 the largest), not 3; each ends at QPS_max = b x 1000 / T_b.
      assert.deepEqual(dom.formula, [[1, { x: 100, y: 10 }], [4, { x: 250, y: 16 + (1000 / 250) * 3 / 2 }]]);
    });

    await t.test('page: status, content types, no errors, nothing fetched from elsewhere', () => {
      assert.match(dom.status, /^updated \d\d:\d\d:\d\d$/);
      assert.ok(dom.bannerHidden, 'error banner shown while the server is up');
      assert.match(contentTypes['/dashboard'] || '', /^text\/html/);
      assert.match(contentTypes['/dashboard/dashboard.js'] || '', /^(text|application)\/javascript/);
      assert.match(contentTypes['/dashboard/chart.js'] || '', /^(text|application)\/javascript/);
      assert.match(contentTypes['/dashboard/dashboard.css'] || '', /^text\/css/);
      assert.match(contentTypes['/v1/report'] || '', /^application\/json/);
      assert.deepEqual(foreign, [], 'requests to other origins');
      assert.deepEqual(problems, []);
    });

    await t.test('error banner once the server is gone', async () => {
      await stopServer(server.proc);
      await page.waitForFunction(() => {
        const b = document.getElementById('error-banner');
        return b && !b.hidden && b.textContent.includes('/v1/report') &&
          document.getElementById('status').textContent.startsWith('error');
      }, null, { timeout: WAIT_MS, polling: 100 });
    });
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(server.proc);
    process.removeListener('exit', killOnExit);
  }
});

function screenshotPath() {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  return join(SCREENSHOT_DIR, 'dashboard.png');
}
