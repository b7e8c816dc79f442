/**
 * Opens the report in headless Chromium (Debian's `chromium`, driven by playwright-core) from disk with every network
 * request blocked: no console errors, every chart drawn with real content, a screenshot saved. A missing browser is a
 * failure, not a skip: .ci/run installs it.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { buildReportData } from '../../src/report/build.js';
import { renderReportHtml } from '../../src/report/html.js';
import { writeFileAtomic } from '../../src/util/fs.js';
import { makeFixture, type Fixture } from './fixture.js';

const CHROMIUM = process.env.DIN_CHROMIUM ?? '/usr/bin/chromium';

let fx: Fixture;
before(async () => {
  fx = await makeFixture('din-report-browser-');
});

async function render(file: string, opts: Parameters<typeof buildReportData>[0]): Promise<string> {
  writeFileAtomic(file, renderReportHtml(await buildReportData(opts)));
  return file;
}

test('the report renders in headless Chromium: no console errors, no network, every chart has content', async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does) or set DIN_CHROMIUM`);
  const full = await render(join(fx.dir, 'report.html'), { run: fx.din, compare: fx.compare });
  const base = await render(join(fx.dir, 'report-base.html'), { run: fx.base });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const open = async (file: string) => {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        requests.push(url);
        return route.abort();
      });
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 10_000 });
      return { page, errors, requests };
    };

    const { page, errors, requests } = await open(full);
    // Each canvas: count painted pixels and distinct colours (a blank or axis-only canvas has few of either).
    const canvases = await page.$$eval('canvas.report-chart', (cs) => cs.map((c) => {
      const cv = c as HTMLCanvasElement;
      const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let painted = 0;
      const colours = new Set<number>();
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] === 0) continue;
        painted++;
        colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      }
      return { id: cv.id, w: cv.width, h: cv.height, painted, colours: colours.size };
    }));
    assert.deepEqual(canvases.map((c) => c.id).sort(), ['chart-embedding', 'chart-gauc', 'chart-loss']);
    for (const c of canvases) {
      assert.ok(c.w > 100 && c.h > 100, `${c.id} is ${c.w}x${c.h}`);
      assert.ok(c.painted > 2000, `${c.id}: only ${c.painted} painted pixels`);
      assert.ok(c.colours > 20, `${c.id}: only ${c.colours} colours`);
    }
    // Chart.js's own view of the data: every dataset has points.
    const points = await page.evaluate(() => {
      const C = (window as unknown as { Chart: { getChart(id: string): { data: { datasets: Array<{ data: unknown[] }> } } | undefined } }).Chart;
      return ['chart-loss', 'chart-gauc', 'chart-embedding'].map((id) => C.getChart(id)!.data.datasets.map((d) => d.data.length));
    });
    assert.deepEqual(points[0], [2, 2, 2]);
    assert.ok(points[2].length === 5 && points[2].every((n) => n > 0));
    // The heat strip and the table.
    const heat = await page.$$eval('#attention-table td.w', (tds) => tds.map((td) => getComputedStyle(td).backgroundColor));
    assert.ok(heat.length > 0, 'the heat strip has cells');
    assert.ok(heat.every((b) => /^rgba?\(/.test(b) && b !== 'rgba(0, 0, 0, 0)'), `heat cells without colour: ${heat.slice(0, 3)}`);
    assert.ok(new Set(heat).size > 3, 'heat cells vary in colour');
    assert.equal(await page.$$eval('#compare-table tr', (r) => r.length), 3);
    const shot = join(fx.dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, []);

    // A BaseModel report: the attention section explains itself, the other charts still draw.
    const b = await open(base);
    assert.match(await b.page.textContent('#attention') ?? '', /DIN-only/);
    assert.equal(await b.page.$$eval('canvas.report-chart', (cs) => cs.length), 3);
    await b.page.screenshot({ path: join(fx.dir, 'report-base.png'), fullPage: true });
    assert.deepEqual(b.errors, []);
    assert.deepEqual(b.requests, []);
  } finally {
    await browser.close();
  }
});
