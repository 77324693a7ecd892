// Browser test of the Organization page's rollout (stack sets), against a
// running Postern server whose default account is in no organization
// yet. e2e/console_test.go (TestConsoleOrganizationRollout) starts
// `postern dev` and runs this, with the template to roll out.
//
// Through the API, as the CLI would (stack sets are made and deployed
// from files, not the page): the administrator makes the organization, a
// unit Prod with two accounts (one named like markup), and a stack set
// from POSTERN_TEMPLATE (the account's preferences, idle timeout 20),
// deployed to Prod. The page lists the stack set and shows each instance
// Current, in Prod, with its deployment as last operation, and the
// deployment among the recent operations. Then one account changes its
// preferences (the role the management account assumes there, through
// the API): after Detect drift, the page shows that instance Drifted,
// and the changed field with the value deployed and the value found;
// still so after a reload. Names are text, never markup. A user of a
// member account sees no rollout, and the page asks nothing of it.
//
// Env: as browser.mjs reads it, and POSTERN_TEMPLATE (the stack set's
// template) and POSTERN_MEMBER_PREFS (the member's own preferences, idle
// timeout 45). Exits non-zero with what failed.
import { request } from 'playwright-core';
import { base, context, go, page, password, run, shot, step, user } from './browser.mjs';

const template = process.env.POSTERN_TEMPLATE || '';
const memberPrefs = process.env.POSTERN_MEMBER_PREFS || '';
if (!template || !memberPrefs) {
  console.error('set POSTERN_TEMPLATE and POSTERN_MEMBER_PREFS');
  process.exit(2);
}

const hostile = '<img src=x onerror="window.__pwned=1"> & <b>bold</b>';
const field = 'Content.inputs.idleSessionTimeout';

// call is the signed-in administrator's API request, as the console
// makes it (cookie and anti-forgery header).
async function call(method, path, data) {
  const csrf = (await context.cookies(base)).find((c) => c.name === 'postern_csrf')?.value;
  const res = await context.request.fetch(`${base}${path}`, { method, headers: { 'X-Postern-CSRF': csrf }, data });
  if (!res.ok()) throw new Error(`${method} ${path}: ${res.status()} ${await res.text()}`);
  return res.status() === 204 ? null : res.json();
}

async function signIn(account, name, pw) {
  await page.getByLabel('User name').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(pw);
  if (account) {
    await page.getByText('Another account').click();
    await page.getByLabel('Account ID').fill(account);
  }
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}

const rollout = () => page.locator('section[aria-labelledby="org-rollout-title"]');
const detail = () => page.locator('section[data-stackset-detail="Prefs"]');
const instanceRow = (account) => detail().locator(`tr[data-instance="${account}"]`);
const text = async (l) => (await l.textContent()).replace(/\s+/g, ' ').trim();

// expectText waits until l's text holds want.
async function expectText(l, want, what) {
  try {
    await l.filter({ hasText: want }).waitFor();
  } catch (e) {
    throw new Error(`${what}: want "${want}", have "${(await l.count()) ? await text(l.first()) : '(nothing)'}"`);
  }
}

let prod = '';
let web = '';
let other = '';
let deployId = '';

await run('rollout', async () => {
  await step('sign in; an organization with no stack sets', async () => {
    await page.goto(`${base}/`);
    await signIn('', user, password);
    await call('POST', '/v1/organization', {});
    await go('/organization');
    await rollout().getByRole('heading', { name: 'No stack sets' }).waitFor();
  });

  await step('a stack set deployed to a unit of two accounts', async () => {
    prod = (await call('POST', '/v1/organization/units', { name: 'Prod' })).id;
    web = (await call('POST', '/v1/organization/accounts', { name: 'web-prod', parentId: prod })).id;
    other = (await call('POST', '/v1/organization/accounts', { name: hostile, parentId: prod })).id;
    await call('POST', '/v1/organization/stacksets', { name: 'Prefs', description: hostile, template, templateName: 'prefs.yaml' });
    const op = await call('POST', '/v1/organization/stacksets/Prefs/deploy', { targets: [prod], maxConcurrentCount: 2 });
    if (op.accounts.length !== 2 || op.accounts.some((a) => a.status !== 'SUCCEEDED')) throw new Error(`deploy: ${JSON.stringify(op)}`);
    deployId = op.operationId;
  });

  await step('the page shows the stack set and each instance Current, in its unit', async () => {
    await page.reload();
    const row = rollout().locator('tr[data-stackset="Prefs"]');
    await expectText(row.locator('td[data-col="instances"]'), '2 current', "the stack set's instances");
    // The description is text.
    await row.locator('.cell-sub').filter({ hasText: hostile }).waitFor();
    await detail().getByRole('heading', { name: 'Stack set Prefs' }).waitFor();
    for (const a of [web, other]) {
      await expectText(instanceRow(a).locator('td[data-col="status"]'), 'Current', `the status of ${a}`);
      await expectText(instanceRow(a).locator('td[data-col="unit"] .org-name'), 'Prod', `the unit of ${a}`);
      await expectText(instanceRow(a).locator('td[data-col="unit"] .cell-sub'), prod, `the unit id of ${a}`);
      await expectText(instanceRow(a).locator('td[data-col="last"]'), 'Deploy: succeeded', `the last operation of ${a}`);
      await expectText(instanceRow(a).locator('td[data-col="drift"]'), 'not checked', `the drift of ${a}`);
    }
    await instanceRow(other).locator('.org-name').filter({ hasText: hostile }).waitFor();
    const ops = detail().getByRole('table', { name: 'Operations of Prefs' });
    await expectText(ops.locator(`tr[data-operation="${deployId}"] td[data-col="action"]`), 'Deploy', 'the deployment among the operations');
    await expectText(ops.locator(`tr[data-operation="${deployId}"] td[data-col="accounts"] summary`), '2 succeeded', "the deployment's outcomes");
    if (await detail().locator('[data-drift-account]').count()) throw new Error('drift is shown before any was detected');
    await shot('30-organization-rollout', detail());
  });

  await step("a member's change shows as drift, field by field, after Detect drift", async () => {
    // web-prod's administrator, the role the management account
    // assumes there (as postern org assume-role), changes the
    // preferences through the API.
    const { token, account } = await call('POST', `/v1/organization/accounts/${web}/assume-role`, {});
    if (account !== web) throw new Error(`assumed a role in ${account}`);
    const asRole = await request.newContext({ ignoreHTTPSErrors: true, extraHTTPHeaders: { Authorization: `Bearer ${token}` } });
    const put = await asRole.put(`${base}/v1/preferences`, { data: { content: memberPrefs } });
    if (!put.ok()) throw new Error(`the member's preferences: ${put.status()} ${await put.text()}`);
    await asRole.dispose();

    await detail().getByRole('button', { name: 'Detect drift' }).click();
    await detail().getByRole('status').filter({ hasText: 'Checked 2 instances of Prefs: 1 drifted.' }).waitFor();
    const status = instanceRow(web).locator('td[data-col="status"]');
    await expectText(status, 'Drifted', "web-prod's status");
    await expectText(status.locator('[data-col="reason"]'), `Preferences changed (${field})`, "web-prod's reason");
    await expectText(instanceRow(web).locator('td[data-col="drift"]'), 'Drifted', "web-prod's drift");
    await expectText(instanceRow(other).locator('td[data-col="status"]'), 'Current', "the other account's status");
    await expectText(instanceRow(other).locator('td[data-col="drift"]'), 'In sync', "the other account's drift");
    await checkDrift();
    const ops = detail().getByRole('table', { name: 'Operations of Prefs' }).locator('tbody tr');
    await expectText(ops.first().locator('td[data-col="action"]'), 'Detect drift', 'the newest operation');
    await expectText(ops.first().locator('td[data-col="accounts"] summary'), '1 drifted', "the drift detection's outcomes");
    await ops.first().locator('td[data-col="accounts"] summary').click();
    await expectText(ops.first().locator(`li[data-outcome-account="${web}"]`), `DRIFTED: changed in the account: Preferences changed (${field})`, "the drift detection's outcome in web-prod");
    await shot('31-organization-rollout-drift', detail());
  });

  await step('drift is still shown after a reload; names are text', async () => {
    await page.reload();
    await detail().getByRole('heading', { name: 'Stack set Prefs' }).waitFor();
    await checkDrift();
    if (await page.locator('main img, main b').count()) throw new Error('a name was rendered as markup');
    if (await page.evaluate(() => window.__pwned)) throw new Error("a name's markup ran");
  });

  await step("a member account's user sees no rollout, and the page asks nothing of it", async () => {
    const { token } = await call('POST', `/v1/organization/accounts/${web}/assume-role`, {});
    const asRole = await request.newContext({ ignoreHTTPSErrors: true, extraHTTPHeaders: { Authorization: `Bearer ${token}` } });
    const made = await asRole.post(`${base}/v1/users`, { data: { name: 'alice', password: 'correct horse battery', groups: ['administrators'] } });
    if (!made.ok()) throw new Error(`creating web-prod's user: ${made.status()} ${await made.text()}`);
    await asRole.dispose();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User name').waitFor();
    await signIn(web, 'alice', 'correct horse battery');
    const asked = [];
    const onRequest = (r) => r.url().includes('/stacksets') && asked.push(r.url());
    page.on('request', onRequest);
    await go('/organization');
    await page.getByText('This is a member account').waitFor();
    await page.getByText('its archive and its rollout are seen and managed from its management account').waitFor();
    page.off('request', onRequest);
    if (await page.getByRole('heading', { name: 'Rollout' }).count()) throw new Error('a member is shown the rollout');
    if (await page.locator('[data-stackset], [data-stackset-detail]').count()) throw new Error('a member is shown a stack set');
    if (asked.length) throw new Error(`the member's page asked for ${asked.join(', ')}`);
    // The server refuses them anyway.
    const res = await page.evaluate(() => fetch('/v1/organization/stacksets').then(async (r) => ({ status: r.status, body: await r.json() })));
    if (res.status !== 403 || res.body.code !== 'NotManagementAccount') throw new Error(`a member listing stack sets: ${JSON.stringify(res)}`);
    await shot('32-organization-rollout-member');
  });
});

// checkDrift: web-prod's preferences, modified, with the field that
// differs, the value deployed and the value found; nothing of the other
// account.
async function checkDrift() {
  const d = detail().locator(`[data-drift-account="${web}"]`);
  await d.waitFor();
  const r = d.locator('[data-drift-resource="Preferences"]');
  await expectText(r, 'Modified', "the preferences' drift");
  const rows = r.getByRole('table', { name: `Drift of Preferences in ${web}` }).locator('tbody tr');
  if ((await rows.count()) !== 1) throw new Error(`${await rows.count()} fields drifted, want 1`);
  const row = rows.first();
  if ((await row.getAttribute('data-drift-field')) !== field) throw new Error(`the field that drifted: ${await row.getAttribute('data-drift-field')}`);
  if ((await text(row.locator('td').first())) !== field) throw new Error(`the field shows as "${await text(row.locator('td').first())}"`);
  const expected = await text(row.locator('td[data-col="expected"]'));
  const actual = await text(row.locator('td[data-col="actual"]'));
  if (expected !== '20' || actual !== '45') throw new Error(`${field}: expected "${expected}", actual "${actual}"; want 20 and 45`);
  if (await detail().locator(`[data-drift-account="${other}"]`).count()) throw new Error('the account in sync is shown as drifted');
}
