// Browser test of the web console against a running Postern server, in
// Debian's Chromium driven by playwright-core. e2e/console_test.go starts
// `postern dev` and runs this; by hand:
//
//   POSTERN_URL=https://127.0.0.1:8443 POSTERN_USER=admin \
//   POSTERN_PASSWORD=$(cat ~/.local/share/postern/admin-password) \
//   node web/e2e/console.mjs
//
// Env: POSTERN_URL, POSTERN_USER, POSTERN_PASSWORD, POSTERN_SCREENSHOTS
// and CHROMIUM, as browser.mjs reads them; POSTERN_SSO_USER, the user the identity provider
// signs in at the single sign-on button, and POSTERN_SSO_FORGED_CALLBACK,
// a callback URL of a sign-in another browser started; POSTERN_PORT_SESSION,
// an ended port session with one connection (1000 bytes from the client,
// 5000 from the target, which closed it) to POSTERN_PORT_TARGET
// (localhost:PORT). Exits non-zero with what failed.
import { base, context, go, log, page, password, run, shot, step, user, watch } from './browser.mjs';

// The terminal's screen and scrollback as text lines.
const termLines = (p = page) =>
  p.evaluate(() => {
    const b = window.postern?.term?.buffer.active;
    if (!b) return [];
    const out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i)?.translateToString(true) ?? '');
    return out;
  });

async function waitForLine(pred, what, p = page, timeout = 15_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const lines = await termLines(p);
    if (lines.some(pred)) return lines;
    if (Date.now() > end) throw new Error(`terminal never showed ${what}; screen:\n${lines.filter(Boolean).join('\n')}`);
    await p.waitForTimeout(100);
  }
}

const count = (lines, s) => lines.filter((l) => l.trim() === s).length;

async function typeLine(text, p = page) {
  await p.locator('.term .xterm').click();
  await p.keyboard.type(text, { delay: 5 });
  await p.keyboard.press('Enter');
}

const state = (p = page) => p.locator('[data-state]').first();

let sessionId = '';
let nodeName = '';

await run('console', async () => {
  await step('sign in', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('User name').waitFor();
    await shot('01-sign-in');
    // A wrong password says so, in the server's words.
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password', { exact: true }).fill(`${password}-wrong`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').waitFor();
    await shot('01b-sign-in-refused');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
  });

  await step('nodes page', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
    const row = page.locator('tr[data-node]').filter({ hasText: 'Online' }).first();
    await row.waitFor();
    nodeName = (await row.locator('.cell-main').first().textContent()).trim();
    // Search filters the table.
    await page.getByRole('searchbox').fill('no-such-node-xyz');
    await page.getByText('No nodes match').waitFor();
    await page.getByRole('searchbox').fill(nodeName);
    await row.waitFor();
    await shot('02-nodes');
  });

  await step('browser shell: start, type, Unicode, paste', async () => {
    const row = page.locator('tr[data-node]').filter({ hasText: 'Online' }).first();
    await row.getByRole('button', { name: 'Start session' }).click();
    await page.waitForURL(/#\/shell\//);
    sessionId = decodeURIComponent(/#\/shell\/([^?]+)/.exec(page.url())[1]);
    await state().and(page.locator('[data-state="connected"]')).waitFor();
    await waitForLine((l) => /[$#] ?$/.test(l.trimEnd()) || /[$#]\s*$/.test(l), 'a prompt');
    await typeLine('echo web-ok');
    await waitForLine((l) => l.trim() === 'web-ok', '"web-ok"');
    await typeLine("printf '%s\\n' 'héllo ✓ 世界'");
    await waitForLine((l) => l.trim() === 'héllo ✓ 世界', 'the Unicode line');
    // Paste from the clipboard with the toolbar's button.
    await page.evaluate(() => navigator.clipboard.writeText('echo pasted-ok'));
    await page.getByRole('button', { name: 'Paste' }).click();
    await waitForLine((l) => l.endsWith('echo pasted-ok'), 'the pasted command');
    await typeLine('');
    await waitForLine((l) => l.trim() === 'pasted-ok', '"pasted-ok"');
  });

  await step('browser shell: resumes after a dropped connection', async () => {
    await page.evaluate(() => window.postern.stream.drop());
    await page.locator('[data-state="reconnecting"], [data-state="connected"]').first().waitFor();
    await page.locator('[data-state="connected"]').waitFor();
    await typeLine('echo after-drop');
    const lines = await waitForLine((l) => l.trim() === 'after-drop', '"after-drop"');
    if (count(lines, 'web-ok') !== 1) throw new Error(`"web-ok" shown ${count(lines, 'web-ok')} times after resuming:\n${lines.join('\n')}`);
    if (count(lines, 'after-drop') !== 1) throw new Error('"after-drop" repeated');
  });

  await step('live view (read-only join)', async () => {
    const live = watch(await context.newPage());
    await go(`/sessions/${encodeURIComponent(sessionId)}/live`, live);
    await live.locator('[data-state="connected"]').waitFor();
    await waitForLine((l) => l.trim() === 'web-ok', 'the session so far', live);
    await typeLine('echo live-ok');
    await waitForLine((l) => l.trim() === 'live-ok', '"live-ok" as it happened', live);
    await shot('04-live-view', live);
    await live.close();
  });

  await step('browser shell: exit', async () => {
    await shot('03-shell');
    await typeLine('exit');
    await page.locator('[data-state="ended"]').waitFor();
    await page.getByRole('link', { name: 'View recording' }).waitFor();
  });

  await step('sessions history', async () => {
    await go('/sessions?state=history');
    const row = page.locator(`tr[data-session="${sessionId}"]`);
    await row.waitFor();
    await shot('05-sessions');
    // The 30-day connections report, as CSV.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /30-day report/ }).click()]);
    const csv = await new Promise((resolve, reject) => {
      dl.createReadStream().then((s) => {
        let b = '';
        s.on('data', (c) => (b += c));
        s.on('end', () => resolve(b));
        s.on('error', reject);
      }, reject);
    });
    if (!csv.startsWith('session_id,user,node_id') || !csv.includes(sessionId)) throw new Error(`unexpected report:\n${csv}`);
    await row.getByRole('link', { name: sessionId }).click();
    await page.waitForURL(new RegExp(`#/sessions/${sessionId}$`));
  });

  await step('session detail: play, timeline seeks the player', async () => {
    // Command events reach the log store just after the session ends.
    const cmd = page.locator('button.cmd').filter({ hasText: 'echo web-ok' });
    for (let i = 0; ; i++) {
      try {
        await cmd.waitFor({ timeout: 2000 });
        break;
      } catch (e) {
        if (i >= 5) throw e;
        await page.reload();
      }
    }
    await page.locator('.player .ap-player, .player .ap-wrapper').first().waitFor();
    const pos = page.locator('[data-current-time]');
    const now = async () => Number(await pos.getAttribute('data-current-time'));
    // Play: the position moves.
    const playPause = page.locator('.player .ap-playback-button');
    await playPause.click();
    await page.waitForFunction(() => Number(document.querySelector('[data-current-time]').dataset.currentTime) > 0.05);
    await playPause.click(); // pause
    await page.waitForTimeout(300);
    const t0 = await now();
    // Click the command farthest from where the player is.
    const offsets = await page.locator('button.cmd').evaluateAll((bs) => bs.map((b) => ({ text: b.textContent, offset: Number(b.dataset.offset) })));
    const target = offsets.reduce((a, b) => (Math.abs(b.offset - t0) > Math.abs(a.offset - t0) ? b : a));
    await page.locator('button.cmd').nth(offsets.indexOf(target)).click();
    await page.waitForFunction((want) => Math.abs(Number(document.querySelector('[data-current-time]').dataset.currentTime) - want) < 0.35, target.offset);
    const t1 = await now();
    if (Math.abs(target.offset - t0) > 0.3 && Math.abs(t1 - t0) < 0.2) throw new Error(`player stayed at ${t0}`);
    // And the web-ok command.
    const webOk = Number(await cmd.getAttribute('data-offset'));
    await cmd.click();
    await page.waitForFunction((want) => Math.abs(Number(document.querySelector('[data-current-time]').dataset.currentTime) - want) < 0.35, webOk);
    log(`     player: ${t0.toFixed(2)}s -> ${t1.toFixed(2)}s ("${target.text.trim()}" at ${target.offset}) -> web-ok at ${webOk}`);
    // The timeline names commands as typed, pasted ones too.
    const texts = offsets.map((o) => o.text);
    if (!texts.some((t) => t.includes('echo pasted-ok')) || texts.some((t) => t.includes('pastedecho'))) {
      throw new Error(`the timeline garbles the pasted command: ${JSON.stringify(texts)}`);
    }
    // Speed control rebuilds the player where it was.
    await page.getByLabel('Playback speed').selectOption('2');
    await page.waitForFunction((want) => Math.abs(Number(document.querySelector('[data-current-time]').dataset.currentTime) - want) < 0.6, webOk);
    await page.getByRole('cell', { name: /local|Postern/ }).first().waitFor();
    await page.locator('.timeline').scrollIntoViewIfNeeded();
    await shot('06b-session-timeline');
    await page.evaluate(() => document.querySelector('.main').scrollTo(0, 0));
    await shot('06-session-detail');
    await page.getByRole('tab', { name: 'Transcript' }).click();
    await page.locator('pre.transcript').filter({ hasText: 'web-ok' }).waitFor();
    await page.locator('pre.transcript').filter({ hasText: /Script started on/ }).waitFor();
  });

  const portSession = process.env.POSTERN_PORT_SESSION;
  if (portSession) {
    await step('port session: its type, port and connections, no player', async () => {
      const target = process.env.POSTERN_PORT_TARGET;
      await go('/sessions?state=history');
      const row = page.locator(`tr[data-session="${portSession}"]`);
      await row.waitFor();
      if ((await row.getAttribute('data-kind')) !== 'port') throw new Error(`the port session's row is a ${await row.getAttribute('data-kind')}`);
      await row.getByText('Port forward', { exact: true }).waitFor();
      await row.getByText(`to ${target}`, { exact: true }).waitFor();
      if (await row.getByRole('link', { name: 'Replay' }).count()) throw new Error('a port session offers Replay');
      // A shell beside it is still a shell, with its Replay.
      const shellRow = page.locator(`tr[data-session="${sessionId}"]`);
      if ((await shellRow.getAttribute('data-kind')) !== 'shell') throw new Error('the shell session is not listed as a shell');
      await shellRow.getByRole('link', { name: 'Replay' }).waitFor();
      await row.getByRole('link', { name: 'Connections' }).click();
      await page.waitForURL(new RegExp(`#/sessions/${portSession}$`));
      const conns = page.getByRole('table', { name: 'Forwarded connections' });
      const conn = conns.locator('tr[data-connection="1"]');
      await conn.waitFor();
      const text = (await conn.innerText()).replace(/\s+/g, ' ');
      for (const want of [target, '127.0.0.1:', '1,000', '5,000', 'TargetClosed']) {
        if (!text.includes(want)) throw new Error(`the connection's row lacks ${want}: ${text}`);
      }
      if ((await conns.locator('tbody tr').count()) !== 1) throw new Error('more than the one connection listed');
      await page.locator('.meta dd').filter({ hasText: `Port forward to ${target}` }).waitFor();
      // No player, no playback tabs, no .cast: there is no terminal.
      if (await page.locator('.player').count()) throw new Error('a port session shows a player');
      if (await page.getByRole('tab', { name: 'Playback' }).count()) throw new Error('a port session shows playback');
      if (await page.getByRole('link', { name: 'Download .cast' }).count()) throw new Error('a port session offers a .cast');
      await shot('06c-port-session');
    });
  }

  await step('logs: stats by bin(5m) draws a chart', async () => {
    await go('/logs');
    await page.getByLabel('Query', { exact: true }).fill('stats count(*) by bin(5m)');
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.locator('.chart canvas').waitFor();
    await page.getByRole('table', { name: 'Query results' }).locator('tbody tr').first().waitFor();
    await shot('07-logs');
    // A malformed query says where.
    await page.getByLabel('Query', { exact: true }).fill('stats count(* by');
    await page.getByRole('button', { name: 'Run query' }).click();
    await page.getByRole('alert').filter({ hasText: 'The query has an error' }).waitFor();
  });

  await step('preferences: out-of-range value shows an inline error', async () => {
    await go('/preferences');
    const editor = page.getByLabel('Preferences document (JSON or YAML)');
    await editor.waitFor();
    const doc = await editor.inputValue();
    const bad = doc.replace(/("idleSessionTimeout"\s*:\s*)"?\d*"?/, '$1"61"');
    if (bad === doc) throw new Error(`no idleSessionTimeout in the document:\n${doc}`);
    await editor.fill(bad);
    const err = page.locator('.error-item').filter({ hasText: 'idleSessionTimeout' });
    await err.waitFor();
    const text = await err.textContent();
    if (!/out of range|1.60/.test(text)) throw new Error(`unexpected error text: ${text}`);
    await page.locator('.gutter .ln.bad').first().waitFor();
    if ((await editor.getAttribute('aria-invalid')) !== 'true') throw new Error('editor not marked invalid');
    if (!(await page.getByRole('button', { name: 'Save' }).isDisabled())) throw new Error('Save is enabled with errors');
    await shot('08-preferences');
    // Fixing it clears the error.
    await editor.fill(doc);
    await page.getByText('✓ Valid').waitFor();
  });

  await step('dashboard', async () => {
    await go('/');
    await page.getByRole('heading', { name: 'Sessions per day' }).waitFor();
    await page.locator('.chart canvas').waitFor();
    await page.locator('.ranked li').first().waitFor();
    await shot('00-dashboard');
  });

  await step('sign out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User name').waitFor();
    // The cookie is gone: the API says 401.
    const status = await page.evaluate(() => fetch('/v1/whoami').then((r) => r.status));
    if (status !== 401) throw new Error(`whoami after sign-out: ${status}`);
  });

  if (process.env.POSTERN_SSO_FORGED_CALLBACK) {
    await step('single sign-on started in another browser is refused', async () => {
      // Someone else's sign-in, stopped at the provider's redirect back
      // (login CSRF): this browser did not start it, so it must not end
      // up signed in as them.
      const res = await page.goto(process.env.POSTERN_SSO_FORGED_CALLBACK);
      if (res.status() !== 403) throw new Error(`someone else's callback: ${res.status()} ${await res.text()}`);
      await page.getByText('started in another browser').waitFor();
      await shot('09-sso-elsewhere');
      const status = await page.evaluate(() => fetch('/v1/whoami').then((r) => r.status));
      if (status !== 401) throw new Error(`whoami after someone else's callback: ${status}`);
      await page.goto(`${base}/`);
      await page.getByLabel('User name').waitFor();
    });
  }

  if (process.env.POSTERN_SSO_USER) {
    await step('single sign-on', async () => {
      // The identity provider (mockoidc, started by the Go test) signs
      // the queued user in without a page of its own.
      await page.getByRole('button', { name: /single sign-on/ }).click();
      await page.waitForURL((u) => u.pathname === '/' && !u.search, { timeout: 15000 });
      const who = await page.evaluate(() => fetch('/v1/whoami').then((r) => r.json()));
      if (who.user !== process.env.POSTERN_SSO_USER) throw new Error(`signed in as ${JSON.stringify(who)}`);
      await page.getByText(process.env.POSTERN_SSO_USER, { exact: true }).first().waitFor();
    });
  }

});
