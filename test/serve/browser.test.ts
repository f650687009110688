// The dashboard in a real browser (headless Chromium driven by playwright-core), on the toy
// dashboard pipeline: the graph shows each node's planned state; a build turns a node stale →
// running → built on the open page without a reload; a node page shows params and log; a figure
// appears on the results page when its node builds. Screenshots go to $DASH_SHOTS when set.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { DashSandbox } from './helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = process.env.DASH_SHOTS;

async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Every (node id → data-state) the graph shows now. */
async function shownStates(page: Page): Promise<Record<string, string>> {
  return page.$$eval('g.node[data-node]', (els) => Object.fromEntries(els.map((e) => [e.getAttribute('data-node')!, e.getAttribute('data-state')!])));
}

/** Polls from Node: the page's CSP (rightly) forbids the eval that page.waitForFunction(string) needs. */
async function waitForText(page: Page, selector: string, re: RegExp, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!re.test((await page.textContent(selector).catch(() => null)) ?? '')) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${selector} to match ${re}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (!existsSync(CHROMIUM)) {
  console.log(`\n  SKIPPED (browser.test.ts: no Chromium at ${CHROMIUM}; apt-get install chromium, or set CHROMIUM_PATH)\n`);
} else {
  test('graph page: every node in its planned state (fresh, stale, failed); node pages show params, explanation and log', async () => {
    const sb = new DashSandbox();
    const browser = await launch();
    try {
      sb.writeConfig({ count: { n: 2, delayMs: 0 }, fail: true });
      assert.is((await sb.cli([])).code, 1);
      sb.writeConfig({ count: { n: 2, delayMs: 0 }, fail: true, side: 3 });
      const plan = JSON.parse((await sb.cli(['--dry-run', '--json'])).out) as { nodes: { id: string; status: string }[] };
      const expected = Object.fromEntries(plan.nodes.map((n) => [n.id, n.id === 'boom' ? 'failed' : n.status]));
      assert.equal(expected, { count: 'fresh', plot: 'fresh', side: 'stale', boom: 'failed' });

      const serve = await sb.serveProcess(['serve']);
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
        await page.goto(serve.url);
        await page.waitForSelector('g.node[data-node="boom"]');
        assert.equal(await shownStates(page), expected);
        assert.match(await page.textContent('#legend') ?? '', /up to date.*built this run.*running.*stale.*failed.*skipped/);
        await shot(page, 'toy-graph');

        await page.click('g.node[data-node="side"]');
        await page.waitForSelector('#node-state');
        assert.is(new URL(page.url()).pathname, '/node');
        assert.is(await page.textContent('h1'), 'side');
        assert.is(await page.getAttribute('#node-state', 'data-state'), 'stale');
        assert.match(await page.textContent('ul.reasons') ?? '', /params\.value 0 → 3/);

        await page.goto(`${serve.url}node?id=count`);
        await page.waitForSelector('#node-log');
        const params = await page.$$eval('table.kv tr', (rows) => rows.map((r) => r.textContent));
        assert.ok(params.includes('n2') && params.includes('delayMs0'), params.join(' | '));
        assert.match(await page.textContent('#node-log') ?? '', /info  counting to 2/);
        assert.match(await page.textContent('pre.explain') ?? '', /^count \(stage count\): fresh/);
        assert.ok(await page.$('text=count.json'), 'outputs are listed');
        await shot(page, 'toy-node');

        await page.goto(`${serve.url}node?id=boom`);
        await page.waitForSelector('#node-log');
        assert.match(await page.textContent('#node-log') ?? '', /about to fail[\s\S]*error boom: the toy stage failed on purpose/);
        assert.match(await page.textContent('#log-head') ?? '', /boom: FAILED/);
        assert.equal(errors, [], 'no script or CSP errors in the page');
      } finally {
        await serve.stop();
      }
    } finally {
      await browser.close();
      await sb.cleanup();
    }
  });

  test('live: a config edit under --serve --watch turns plot stale → running → built on the open page; its figure updates', async () => {
    const sb = new DashSandbox();
    const browser = await launch();
    try {
      sb.writeConfig({ count: { n: 2, delayMs: 0 } });
      assert.is((await sb.cli([])).code, 0);
      const serve = await sb.serveProcess(['--serve', '--watch']);
      try {
        const graph = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await graph.goto(serve.url);
        await graph.waitForSelector('g.node[data-node="plot"][data-state="fresh"]');
        // Record every state plot's box takes, including boxes replaced by a re-layout.
        // (Browser-side code as strings: this file is compiled for Node, without DOM types or helpers.)
        await graph.evaluate(`(() => {
          const seen = (window.plotStates = []);
          const note = (s) => s && seen[seen.length - 1] !== s && seen.push(s);
          note(document.querySelector('g.node[data-node="plot"]').getAttribute('data-state'));
          new MutationObserver((records) => {
            for (const r of records) {
              if (r.type === 'attributes' && r.target.getAttribute('data-node') === 'plot') {
                note(r.oldValue);
                note(r.target.getAttribute('data-state'));
              }
              for (const n of r.addedNodes) {
                const e = n.nodeType === 1 ? (n.matches('g.node[data-node="plot"]') ? n : n.querySelector('g.node[data-node="plot"]')) : null;
                if (e) note(e.getAttribute('data-state'));
              }
            }
          }).observe(document.getElementById('graph'), { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'], attributeOldValue: true });
        })()`);
        const results = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await results.goto(`${serve.url}results`);
        await results.waitForSelector('figure[data-figure="plot/bar.svg"]');
        assert.match(await results.textContent('figure[data-figure="plot/bar.svg"] figcaption') ?? '', /counted to 2/);

        sb.writeConfig({ count: { n: 30, delayMs: 60 } });
        await graph.waitForSelector('g.node[data-node="count"][data-state="running"]', { timeout: 30_000 });
        await graph.waitForSelector('g.node[data-node="count"] .pbar[visibility="visible"]');
        await shot(graph, 'toy-live-running');
        await graph.waitForSelector('g.node[data-node="plot"][data-state="built"]', { timeout: 30_000 });
        const states = (await graph.evaluate('window.plotStates')) as string[];
        assert.equal(states, ['fresh', 'stale', 'running', 'built']);
        assert.is((await shownStates(graph)).count, 'built');
        assert.match(await graph.textContent('#run') ?? '', /Last run: built 2, cached 1/);

        // the results page, open all along, shows the rebuilt figure and the filled-in series
        await waitForText(results, 'figure[data-figure="plot/bar.svg"] figcaption', /counted to 30/);
        await results.waitForSelector('figure[data-chart="inverse"] path.series');
        await shot(results, 'toy-results');
      } finally {
        await serve.stop();
      }
    } finally {
      await browser.close();
      await sb.cleanup();
    }
  });
}

test.run();
