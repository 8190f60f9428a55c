// Takes docs/report.png, the README's picture of the report: the top of an HTML report
// (e.g. the quickstart's) in headless Chromium, light theme, 1 CSS px per pixel.
//   pullbench run scenarios/quickstart.yaml && node scripts/screenshot-report.mjs reports/quickstart/report.html
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import process from 'node:process';

const [html = 'reports/quickstart/report.html', out = 'docs/report.png', height = '900'] = process.argv.slice(2);
const executablePath = execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
const browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: Number(height) }, colorScheme: 'light', deviceScaleFactor: 1 });
  await page.goto(pathToFileURL(html).href);
  await page.waitForLoadState('load');
  await page.waitForTimeout(1000); // Chart.js animates the first draw
  await page.screenshot({ path: out, fullPage: false });
  process.stderr.write(`wrote ${out}\n`);
} finally {
  await browser.close();
}
