// What the console's browser tests share: Debian's Chromium driven by
// playwright-core, steps that report themselves, a screenshot per page,
// and the pages' own complaints (uncaught errors, console errors,
// Content-Security-Policy refusals) counted as failures.
//
// Env: POSTERN_URL, POSTERN_USER (default admin), POSTERN_PASSWORD,
// POSTERN_SCREENSHOTS (a directory for one PNG per page; default: none),
// CHROMIUM (default /usr/bin/chromium).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const base = (process.env.POSTERN_URL || '').replace(/\/$/, '');
export const user = process.env.POSTERN_USER || 'admin';
export const password = process.env.POSTERN_PASSWORD || '';
const shots = process.env.POSTERN_SCREENSHOTS || '';
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
if (!base || !password) {
  console.error('set POSTERN_URL and POSTERN_PASSWORD');
  process.exit(2);
}
if (shots) mkdirSync(shots, { recursive: true });

const started = Date.now();
export const log = (...a) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
let passed = 0;
let failed = 0;

const profile = mkdtempSync(join(tmpdir(), 'postern-chromium-'));
export const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  ignoreHTTPSErrors: true, // postern dev's certificate is from its own CA
  viewport: { width: 1440, height: 900 },
  deviceScaleFactor: 1,
  timezoneId: 'UTC',
  locale: 'en-US',
});
context.setDefaultTimeout(15_000);
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });

// Everything the pages say went wrong: uncaught errors, failed requests
// the app did not expect, and Content-Security-Policy refusals.
const problems = [];
export function watch(page) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of (401|404)|Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  return page;
}
export const page = watch(context.pages()[0] || (await context.newPage()));

export async function shot(name, p = page) {
  if (!shots) return;
  await p.screenshot({ path: join(shots, `${name}.png`) });
}

export async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    log(`FAIL ${name}: ${e.stack || e}`);
    await shot(`FAILED-${name.replace(/\W+/g, '-')}`).catch(() => {});
    throw e;
  }
}

export const go = (hash, p = page) => p.goto(`${base}/#${hash}`);

// run runs the test's steps, then reports and exits: non-zero with what
// failed, the pages' complaints included.
export async function run(name, steps) {
  try {
    await steps();
    if (problems.length) {
      failed++;
      log(`FAIL the pages reported problems:\n  ${problems.join('\n  ')}`);
    }
  } catch (e) {
    // step() reported its own failures; anything else is one too.
    if (!failed) {
      failed++;
      log(`FAIL ${e.stack || e}`);
    }
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  console.log(`${name}: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
