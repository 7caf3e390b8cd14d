// Real-browser test of the live dashboard: Debian's chromium driven by
// playwright-core. Opens a run's page while the run goes on, checks that the
// DAG shows every task, watches one task's node go from running to succeeded
// without a reload, and saves a screenshot.
//
//   node browser_test.mjs URL TASK_IDS(comma) WATCH_TASK SCREENSHOT [GO_FILE]
//
// GO_FILE is created once the page shows the DAG: the run's first task
// waits for it, so however slowly the browser starts, the run is still going.
import { createRequire } from 'module';
import { writeFileSync } from 'fs';
const require = createRequire(process.env.PORCH_BROWSER_DEPS + '/node_modules/');
const { chromium } = require('playwright-core');

const [url, ids, watch, screenshot, go] = process.argv.slice(2);
const expected = ids.split(',');
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  let loads = 0;
  page.on('load', () => loads++);
  await page.goto(url);
  await page.waitForSelector('.dag g.node', { timeout: 15000 });
  const shown = await page.$$eval('.dag g.node', ns => ns.map(n => n.dataset.task));
  for (const id of expected) if (!shown.includes(id)) fail(`task ${id} is not in the DAG (${shown})`);
  if (go) writeFileSync(go, 'go\n');
  const node = `.dag g.node[data-task="${watch}"]`;
  const states = [];
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    const s = await page.$eval(node, n => n.dataset.state).catch(() => null);
    if (s && states[states.length - 1] !== s) states.push(s);
    if (s === 'succeeded') break;
    await page.waitForTimeout(100);
  }
  const fill = await page.$eval(node + ' rect', r => r.getAttribute('fill'));
  await page.screenshot({ path: screenshot, fullPage: true });
  if (!states.includes('running')) fail(`never saw ${watch} running: ${states}`);
  if (states[states.length - 1] !== 'succeeded') fail(`${watch} did not succeed: ${states}`);
  if (loads !== 1) fail(`the page reloaded (${loads} loads)`);
  if (fill !== '#2e9e5b') fail(`a succeeded node should be green, found ${fill}`);
  console.log(`ok: ${expected.length} tasks shown; ${watch}: ${states.join(' -> ')}; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
