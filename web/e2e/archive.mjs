// Browser test of the Organization page's central archive, against a
// running Postern server whose organization archives to bucket
// org-archive, with one session of the management account delivered
// there. e2e/archive_test.go (TestConsoleArchive) sets it up and runs
// this. The page names the archive account, bucket and key, and counts
// the management account's copies: its transcript and cast, delivered.
//
// Env: as browser.mjs reads it, and POSTERN_ARCHIVE_ACCOUNT. Exits
// non-zero with what failed.
import { base, page, password, run, shot, step, user } from './browser.mjs';

const archiveAccount = process.env.POSTERN_ARCHIVE_ACCOUNT || '';

await run('archive', async () => {
  await step('sign in', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  });

  await step('the archive and each account copies', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Organization' }).click();
    const card = page.locator('section[data-archive="org-archive"]');
    await card.waitFor();
    await card.locator('dd').getByText(archiveAccount, { exact: true }).waitFor();
    await card.getByText('s3://org-archive/central/ACCOUNT/', { exact: true }).waitFor();
    const mine = card.locator('tr[data-archive-account="000000000001"]');
    const delivered = (await mine.locator('td[data-col="delivered"]').textContent()).trim();
    if (delivered !== '2') throw new Error(`the management account's delivered copies: "${delivered}", want 2 (transcript and cast)`);
    const failing = (await mine.locator('td[data-col="failing"]').textContent()).trim();
    if (failing !== '0') throw new Error(`failing copies: "${failing}"`);
    const logs = (await mine.locator('td[data-col="logs"]').textContent()).trim();
    if (!/^\d+$/.test(logs)) throw new Error(`log events pending: "${logs}", want a count`);
    await card.locator('dd').getByText('/postern/sessions, /app/*', { exact: true }).waitFor();
    await card.locator(`tr[data-archive-account="${archiveAccount}"]`).waitFor();
    await shot('20-organization-archive');
  });
});
