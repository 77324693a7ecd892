// Browser test of the console's Organization page against a running
// Postern server whose default account is in no organization yet.
// e2e/console_test.go (TestConsoleOrganization) starts `postern dev` and
// runs this; by hand:
//
//   POSTERN_URL=https://127.0.0.1:8443 POSTERN_PASSWORD=... node web/e2e/organization.mjs
//
// The administrator creates the organization, units and accounts through
// the page, sees them in the tree, moves an account, is refused deleting a
// unit that is not empty (in the server's words) and deletes an empty
// one; names are shown as text, never as markup. Then a user of a member
// account (made through the API with the role the management account
// assumes, as the CLI would) signs in with the account's id and sees only
// the organization's id and management account.
//
// Env: as browser.mjs reads it. Exits non-zero with what failed.
import { request } from 'playwright-core';
import { base, context, go, page, password, run, shot, step, user } from './browser.mjs';

const tree = () => page.getByRole('list', { name: 'Structure' });
// The row of a unit or account itself, not its children's.
const unitRow = (id) => page.locator(`li[data-unit="${id}"] > .org-row`);
const accountRow = (id) => page.locator(`li[data-account="${id}"] > .org-row`);
const dialog = () => page.getByRole('dialog');

// pathOf reads the "ID · PATH" line of a row.
async function pathOf(row) {
  const t = (await row.locator('.cell-sub').first().textContent()).trim();
  return t.slice(t.indexOf('·') + 1).trim();
}

// idOf finds the id of the unit or account the success banner names.
async function idOf(pattern) {
  const s = page.getByRole('status').filter({ hasText: pattern });
  await s.waitFor();
  const m = /\(((?:ou-[a-z0-9-]+)|(?:\d{12}))\)/.exec(await s.textContent());
  if (!m) throw new Error(`no id in "${await s.textContent()}"`);
  return m[1];
}

async function createUnit(name, parentLabel) {
  await page.getByRole('button', { name: 'Create unit' }).click();
  await dialog().getByLabel('Name', { exact: true }).fill(name);
  if (parentLabel) await dialog().getByLabel('Parent').selectOption({ label: parentLabel });
  await dialog().getByRole('button', { name: 'Create unit' }).click();
}

async function createAccount(name, parentLabel) {
  await page.getByRole('button', { name: 'Create account' }).click();
  await dialog().getByLabel('Name', { exact: true }).fill(name);
  if (parentLabel) await dialog().getByLabel('Parent').selectOption({ label: parentLabel });
  await dialog().getByRole('button', { name: 'Create account' }).click();
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

let orgId = '';
let rootId = '';
let prod = '';
let dev = '';
let web = '';
const hostile = '<img src=x onerror="window.__pwned=1"> & <b>bold</b>';
let hostileId = '';

await run('organization', async () => {
  await step('sign in', async () => {
    await page.goto(`${base}/`);
    await signIn('', user, password);
  });

  await step('no organization yet: an administrator may create one', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Organization' }).click();
    await page.getByRole('heading', { name: 'This account belongs to no organization' }).waitFor();
    await shot('10-organization-none');
    await page.getByRole('button', { name: 'Create organization' }).click();
    const created = page.getByRole('status').filter({ hasText: 'Created organization' });
    await created.waitFor();
    orgId = /(o-[a-z0-9]+)/.exec(await created.textContent())[1];
    const facts = page.locator(`[data-org="${orgId}"]`);
    await facts.waitFor();
    rootId = (await facts.locator('dt:text-is("Root") + dd').textContent()).trim();
    if (!/^r-[a-z0-9]+$/.test(rootId)) throw new Error(`root "${rootId}"`);
    // The root holds the management account, this one.
    const me = accountRow('000000000001');
    await me.getByText('Management account').waitFor();
    if ((await pathOf(me)) !== `${orgId}/${rootId}/`) throw new Error(`the management account's path: ${await pathOf(me)}`);
    if (await me.getByText(/assume-role/).count()) throw new Error('the management account is offered an assume-role of itself');
  });

  await step('create units', async () => {
    await createUnit('Prod');
    prod = await idOf('Created organizational unit Prod');
    await createUnit('Dev');
    dev = await idOf('Created organizational unit Dev');
    await unitRow(prod).waitFor();
    await unitRow(dev).waitFor();
    if ((await pathOf(unitRow(prod))) !== `${orgId}/${rootId}/${prod}/`) throw new Error(`Prod's path: ${await pathOf(unitRow(prod))}`);
    // The server's refusal, in its words, in the dialog.
    await createUnit('Prod');
    await dialog().getByRole('alert').filter({ hasText: `already holds a unit named "Prod"` }).waitFor();
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    await dialog().waitFor({ state: 'hidden' });
  });

  await step('create accounts', async () => {
    await createAccount('web-prod', `Prod (${prod})`);
    web = await idOf('Created account web-prod');
    const row = accountRow(web);
    // Under Prod, with its path and the CLI line that acts in it.
    await page.locator(`li[data-unit="${prod}"] > ul > li[data-account="${web}"]`).waitFor();
    if ((await pathOf(row)) !== `${orgId}/${rootId}/${prod}/`) throw new Error(`web-prod's path: ${await pathOf(row)}`);
    const cli = `postern org assume-role ${web} --format env`;
    await row.getByText(cli, { exact: true }).waitFor();
    await row.getByRole('button', { name: `Copy command ${cli}` }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== cli) throw new Error(`copied "${copied}"`);
    // Nothing in the page assumes a role (the token is the CLI's): its
    // only buttons that name assume-role copy the command.
    if (await page.getByRole('button', { name: /^(?!Copy command ).*assume/i }).count()) throw new Error('the page offers to assume a role');

    // A name is text, whatever it holds.
    await createAccount(hostile);
    hostileId = await idOf('Created account');
    const h = accountRow(hostileId);
    await h.locator('.org-name').filter({ hasText: hostile }).waitFor();
    if ((await h.locator('.org-name').textContent()) !== hostile) throw new Error(`the name shows as "${await h.locator('.org-name').textContent()}"`);
    await tree().waitFor();
    if (await tree().locator('img, b').count()) throw new Error('a name was rendered as markup');
    if (await page.evaluate(() => window.__pwned)) throw new Error("a name's markup ran");
    await shot('11-organization-tree');
  });

  await step('move an account', async () => {
    await accountRow(web).getByRole('button', { name: 'Move account web-prod' }).click();
    await dialog().getByLabel('Move to').selectOption({ label: `Dev (${dev})` });
    await dialog().getByRole('button', { name: 'Move', exact: true }).click();
    await page.getByRole('status').filter({ hasText: `Moved account web-prod (${web}) to ${orgId}/${rootId}/${dev}/` }).waitFor();
    await page.locator(`li[data-unit="${dev}"] > ul > li[data-account="${web}"]`).waitFor();
    if (await page.locator(`li[data-unit="${prod}"] li[data-account="${web}"]`).count()) throw new Error('web-prod is still under Prod');
    if ((await pathOf(accountRow(web))) !== `${orgId}/${rootId}/${dev}/`) throw new Error(`web-prod's path after the move: ${await pathOf(accountRow(web))}`);
  });

  await step('a unit that is not empty is not deleted; an empty one is', async () => {
    await unitRow(dev).getByRole('button', { name: 'Delete unit Dev' }).click();
    await dialog().getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog().getByRole('alert').filter({ hasText: `${dev} still holds units or accounts: move or delete them first` }).waitFor();
    await shot('12-organization-refused');
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    await unitRow(dev).waitFor();
    await unitRow(prod).getByRole('button', { name: 'Delete unit Prod' }).click();
    await dialog().getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('status').filter({ hasText: `Deleted organizational unit Prod (${prod})` }).waitFor();
    await unitRow(prod).waitFor({ state: 'detached' });
    // The root is never offered for deletion.
    if (await unitRow(rootId).getByRole('button', { name: /Delete/ }).count()) throw new Error('the root has a Delete button');
  });

  await step("a member account's user sees only the organization's id and management account", async () => {
    // The management account's administrator assumes web-prod's role
    // through the API, as `postern org assume-role` does, and makes a
    // user there with it.
    const csrf = (await context.cookies(base)).find((c) => c.name === 'postern_csrf')?.value;
    const res = await context.request.post(`${base}/v1/organization/accounts/${web}/assume-role`, { headers: { 'X-Postern-CSRF': csrf }, data: {} });
    if (!res.ok()) throw new Error(`assume-role: ${res.status()} ${await res.text()}`);
    const { token, account } = await res.json();
    if (account !== web) throw new Error(`assumed a role in ${account}`);
    const asRole = await request.newContext({ ignoreHTTPSErrors: true, extraHTTPHeaders: { Authorization: `Bearer ${token}` } });
    const made = await asRole.post(`${base}/v1/users`, { data: { name: 'alice', password: 'correct horse battery', groups: ['administrators'] } });
    if (!made.ok()) throw new Error(`creating web-prod's user: ${made.status()} ${await made.text()}`);
    await asRole.dispose();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('User name').waitFor();
    await signIn(web, 'alice', 'correct horse battery');
    const who = await page.evaluate(() => fetch('/v1/whoami').then((r) => r.json()));
    if (who.account !== web || who.user !== 'alice') throw new Error(`signed in as ${JSON.stringify(who)}`);
    await go('/organization');
    await page.getByText('This is a member account').waitFor();
    const facts = page.locator(`[data-org="${orgId}"]`);
    await facts.locator('dt:text-is("Management account") + dd').filter({ hasText: '000000000001' }).waitFor();
    await facts.locator('dt:text-is("This account") + dd').filter({ hasText: web }).waitFor();
    // Nothing else of the organization, nor a way to manage it.
    if (await tree().count()) throw new Error("a member is shown the organization's structure");
    for (const name of ['Create unit', 'Create account', 'Create organization']) {
      if (await page.getByRole('button', { name }).count()) throw new Error(`a member is offered ${name}`);
    }
    if (await page.getByText(hostile).count()) throw new Error("a member sees another account's name");
    await shot('13-organization-member');
  });
});
