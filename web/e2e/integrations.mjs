// Browser test of the console's Integrations page against a running
// Postern server that has a webhook delivery stream fed by a subscription
// filter on /postern/sessions, a rule whose webhook target refuses every
// event (400) and a session run since. e2e/console_test.go
// (TestConsoleIntegrations) sets it up and runs this.
//
// The administrator sees the stream with the events it delivered, the
// filter with its pattern and backlog, the rule with its pattern and
// target, the dead letters with their reason, and the recent events;
// names and patterns are text, never markup. Then the test makes the
// stream's endpoint fail (POST $POSTERN_CONTROL_URL/fail), and after
// Refresh the page shows the stream failing, with its error and backlog.
// Last, an operator, who may describe none of it, sees the refusals
// politely, card by card.
//
// Env: as browser.mjs reads it, and POSTERN_STREAM, POSTERN_STREAM_URL,
// POSTERN_RULE_URL, POSTERN_FILTER, POSTERN_FILTER_PATTERN,
// POSTERN_CONTROL_URL, POSTERN_OPERATOR, POSTERN_OPERATOR_PASSWORD.
// Exits non-zero with what failed.
import { base, go, page, password, run, shot, step, user } from './browser.mjs';

const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.error(`set ${k}`);
    process.exit(2);
  }
  return v;
};
const stream = env('POSTERN_STREAM');
const streamURL = env('POSTERN_STREAM_URL');
const ruleURL = env('POSTERN_RULE_URL');
const filter = env('POSTERN_FILTER');
const filterPattern = env('POSTERN_FILTER_PATTERN');
const control = env('POSTERN_CONTROL_URL');
const operator = env('POSTERN_OPERATOR');
const operatorPassword = env('POSTERN_OPERATOR_PASSWORD');

const card = (name) => page.locator(`section[data-card="${name}"]`);
const streamRow = () => card('streams').locator(`tr[data-stream="${stream}"]`);
const cell = (row, col) => row.locator(`[data-col="${col}"]`);
const text = async (loc) => (await loc.textContent()).trim();
const count = async (loc) => {
  const t = await text(loc);
  const n = Number(t.replace(/[^\d]/g, ''));
  if (!/\d/.test(t) || Number.isNaN(n)) throw new Error(`"${t}" is not a count`);
  return n;
};

async function signIn(name, pw) {
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(pw);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

// noMarkup checks that no element was made from text shown on the page.
async function noMarkup() {
  if (await page.evaluate(() => window.__pwned)) throw new Error('a name or pattern ran as markup');
  if (await page.locator('main img').count()) throw new Error('a description became an <img>');
  if (await page.locator('main b').count()) throw new Error('a name or pattern became a <b>');
}

await run('integrations', async () => {
  await step('sign in and open Integrations', async () => {
    await page.goto(`${base}/`);
    await signIn(user, password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Integrations' }).click();
    await page.getByRole('heading', { name: 'Integrations', level: 1 }).waitFor();
  });

  await step('the delivery stream, with the events it delivered', async () => {
    const row = streamRow();
    await row.waitFor();
    await cell(row, 'destination').getByText(streamURL, { exact: true }).waitFor();
    await cell(row, 'destination').getByText('Webhook · json').waitFor();
    const events = await count(cell(row, 'events'));
    if (events < 1) throw new Error(`the stream delivered ${events} events, want some`);
    await cell(row, 'status').getByText('Up to date').waitFor();
    if (await cell(row, 'last-error').count()) throw new Error(`a healthy stream shows an error: ${await text(cell(row, 'last-error'))}`);
    if (/never/.test(await text(cell(row, 'delivered')))) throw new Error('the stream shows no last delivery');
    await row.getByText('/postern/sessions:' + filter).waitFor();
  });

  await step('the subscription filter, its pattern and destination, as text', async () => {
    const group = card('filters').locator('[data-group="/postern/sessions"]');
    await group.getByRole('heading', { name: '/postern/sessions' }).waitFor();
    const row = group.locator('tr').filter({ has: page.getByText(filter, { exact: true }) });
    await row.waitFor();
    await cell(row, 'pattern').getByText(filterPattern, { exact: true }).waitFor();
    await cell(row, 'destination').getByText(stream, { exact: true }).waitFor();
    await count(cell(row, 'backlog'));
  });

  await step('the rule: state, pattern pretty-printed, its target and backlog', async () => {
    const rule = card('rules').locator('[data-rule="console-rule"]');
    await rule.getByText('Enabled', { exact: true }).waitFor();
    await rule.getByText('<img src=x onerror="window.__pwned=1"> notify chat', { exact: true }).waitFor();
    const pattern = await text(cell(rule, 'pattern'));
    const want = JSON.stringify({ source: ['postern.sessions'], 'detail-type': ['Session State Change', '<b>Zq9Markup</b>'] }, null, 2);
    if (pattern !== want) throw new Error(`the pattern reads\n${pattern}\nwant\n${want}`);
    const target = rule.locator('tr[data-target="chat"]');
    await target.getByText(ruleURL, { exact: true }).waitFor();
    await count(cell(target, 'backlog'));
  });

  await step('the dead letters, with the rule, target and reason', async () => {
    const row = card('dead-letters').locator('tr[data-dead-letter="console-rule"]').first();
    await row.waitFor();
    if ((await text(cell(row, 'target'))) !== 'chat') throw new Error(`dead letter's target: ${await text(cell(row, 'target'))}`);
    const reason = await text(cell(row, 'reason'));
    if (!reason.includes(`${ruleURL} answered 400`) || !reason.includes('Zq9 channel archived')) throw new Error(`dead letter's reason: ${reason}`);
    await cell(row, 'detail-type').getByText('Session State Change', { exact: true }).waitFor();
    if (!/^(Started|Terminated|Failed) /.test(await text(row.locator('[data-col="summary"] > span').first()))) throw new Error("the dead letter's event has no summary");
  });

  await step('the recent events, with a summary', async () => {
    const row = card('events')
      .locator('tr')
      .filter({ has: page.locator('[data-col="detail-type"]', { hasText: 'Session State Change' }) })
      .filter({ has: page.locator('[data-col="summary"] > span', { hasText: /^(Started|Terminated) / }) })
      .first();
    await row.waitFor();
    await row.getByRole('link').first().waitFor(); // the session it is about
    await noMarkup();
    await shot('30-integrations');
    await card('dead-letters').scrollIntoViewIfNeeded();
    await shot('30-integrations-dead-letters');
  });

  await step('the endpoint fails: after Refresh, the stream is failing, with its error and backlog', async () => {
    const res = await fetch(`${control}/fail`, { method: 'POST' });
    if (!res.ok) throw new Error(`the test could not make the endpoint fail: ${res.status} ${await res.text()}`);
    // Both listings are read after Refresh: the filters' answer may come
    // after the streams', and the card would still show the healthy one.
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/v1/delivery-streams') && r.ok()),
      page.waitForResponse((r) => r.url().includes('/v1/log-groups/subscription-filters') && r.ok()),
      page.getByRole('button', { name: 'Refresh', exact: true }).click(),
    ]);
    const row = streamRow();
    await cell(row, 'status').getByText('Failing', { exact: true }).waitFor();
    const err = await text(cell(row, 'last-error'));
    if (!err.includes('503')) throw new Error(`the last error: ${err}`);
    await cell(row, 'status').getByText(/next attempt/).waitFor();
    const backlog = await count(cell(row, 'backlog-events'));
    if (backlog < 1) throw new Error(`backlog ${backlog} while failing`);
    await page.getByRole('alert').filter({ hasText: 'A delivery stream is failing' }).waitFor();
    const frow = card('filters').locator('tr').filter({ has: page.getByText(filter, { exact: true }) });
    // Its answer may be rendered a moment after the streams': wait for a
    // count that is not zero, then read it.
    await frow.locator('[data-col="backlog"]', { hasText: /[1-9]/ }).waitFor({ timeout: 10000 }).catch(() => {});
    if ((await count(cell(frow, 'backlog'))) < 1) throw new Error("the filter's backlog is empty while its stream fails");
    await cell(frow, 'oldest').getByText(/ago|just now/).waitFor();
    await noMarkup();
    await shot('31-integrations-failing');
  });

  await step("an operator sees each card's refusal, politely", async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User name').waitFor();
    await signIn(operator, operatorPassword);
    await go('/integrations');
    // Listings leave out what the caller may not describe: empty, and
    // saying so, with the command that makes one.
    const streams = card('streams');
    await streams.getByText('No delivery streams').waitFor();
    await streams.getByText('Only what your policies let you describe is listed.').waitFor();
    await streams.getByRole('button', { name: /^Copy command postern delivery-streams create NAME --bucket/ }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (!copied.startsWith('postern delivery-streams create NAME --bucket BUCKET')) throw new Error(`copied: ${copied}`);
    await card('filters').getByText('No subscription filters').waitFor();
    await card('rules').getByText('No event rules').waitFor();
    if (await page.getByText(stream, { exact: true }).count()) throw new Error('an operator sees the stream');
    // Reading log groups is refused outright: the card says so in the
    // server's words, and nothing else breaks.
    for (const [name, what] of [
      ['dead-letters', 'dead letters'],
      ['events', 'events'],
    ]) {
      const refusal = card(name).getByRole('status').filter({ hasText: `You may not see ${what}` });
      await refusal.waitFor();
      if (!(await text(refusal)).includes(`${operator} is not allowed to QueryLogs`)) throw new Error(`the refusal: ${await text(refusal)}`);
    }
    await shot('32-integrations-operator');
    await card('dead-letters').scrollIntoViewIfNeeded();
    await shot('32-integrations-operator-refused');
  });
});
