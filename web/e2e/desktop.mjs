// Browser test of remote desktops (issue 20) against a running Postern
// server whose node DESKTOP_NODE has a desktop (RDP) showing a solid
// background of DESKTOP_COLOR, in Debian's Chromium driven by
// playwright-core. e2e/desktop_test.go starts the desktop and `postern
// dev` and runs this. It:
//   - signs in, opens Nodes, clicks "Connect (desktop)" on the node (with
//     the RDP port DESKTOP_PORT), logs
//     in with DESKTOP_USER / DESKTOP_PASSWORD, and waits for the screen;
//   - checks the colour at DESKTOP_POINT, both in the display's own pixels
//     (Guacamole's display flattened to a canvas) and on the page (a
//     screenshot of the region, decoded in the page);
//   - clicks at DESKTOP_TYPE_AT (the window that takes the typing) and
//     types DESKTOP_TEXT followed by Enter;
//   - sends DESKTOP_TEXT prefixed with postern-clipboard- to the desktop's
//     clipboard (the Go test may check it arrived);
//   - watches the session live from a second page (read-only) and sees the
//     same colour there;
//   - drops the socket and sees the page reconnect to the same desktop;
//   - resizes the window: the page asks the desktop for the new size and
//     the screen still fits the page;
//   - disconnects, opens the session, plays the recording: seeks to its
//     middle and sees the same colour; plays at 2x;
//   - connects again with a wrong password and sees the clear error.
//
// Env: as browser.mjs reads them (POSTERN_URL, POSTERN_USER,
// POSTERN_PASSWORD, POSTERN_SCREENSHOTS, CHROMIUM), and
//   DESKTOP_NODE      the node's name as the Nodes page shows it (required)
//   DESKTOP_USER      the desktop's user name (required)
//   DESKTOP_PASSWORD  its password (required)
//   DESKTOP_COLOR     the background colour, #rrggbb (required)
//   DESKTOP_PORT      the node's RDP port, typed into the Connect dialog (default: the document's, 3389)
//   DESKTOP_POINT     x,y in desktop pixels where the background shows (default 10,10)
//   DESKTOP_TYPE_AT   x,y in desktop pixels to click before typing (default: the centre)
//   DESKTOP_TEXT      what to type (default: postern-desktop-<random>)
//   DESKTOP_TOLERANCE how far each channel may be from DESKTOP_COLOR (default 8)
//
// Prints one line `DESKTOP_RESULT {json}` (see the end of this file) and
// exits non-zero with what failed.
import { base, context, go, log, page, password, run, shot, step, user, watch } from './browser.mjs';

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`set ${name}`);
    process.exit(2);
  }
  return v;
}
const nodeName = need('DESKTOP_NODE');
const desktopUser = need('DESKTOP_USER');
const desktopPassword = need('DESKTOP_PASSWORD');
const colorHex = need('DESKTOP_COLOR');
const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colorHex);
if (!m) {
  console.error(`DESKTOP_COLOR ${colorHex}: want #rrggbb`);
  process.exit(2);
}
const want = { r: parseInt(m[1], 16), g: parseInt(m[2], 16), b: parseInt(m[3], 16) };
const point = (process.env.DESKTOP_POINT || '10,10').split(',').map(Number);
const typeAt = process.env.DESKTOP_TYPE_AT ? process.env.DESKTOP_TYPE_AT.split(',').map(Number) : null;
const typed = process.env.DESKTOP_TEXT || `postern-desktop-${Math.random().toString(36).slice(2, 10)}`;
const tolerance = Number(process.env.DESKTOP_TOLERANCE || 8);
const rdpPort = process.env.DESKTOP_PORT || '';

const result = { node: nodeName, color: colorHex, point, typed };
const hex = (c) => `#${[c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('')}`;
const near = (c) => Math.abs(c.r - want.r) <= tolerance && Math.abs(c.g - want.g) <= tolerance && Math.abs(c.b - want.b) <= tolerance;

// The pixel at (x, y) of a Guacamole display, flattened to a canvas:
// which is 'desktop' (window.postern.desktop.client, the live screen) or
// 'player' (window.postern.player, the recording's frame).
// It waits for the display to draw what it has been sent (images decode
// asynchronously) first.
const displayPixel = (p, which, x, y) =>
  p.evaluate(
    async ([which, x, y]) => {
      const src = which === 'desktop' ? window.postern?.desktop?.client : window.postern?.player;
      const d = src?.getDisplay();
      if (!d) return null;
      await new Promise((done) => d.flush(done));
      if (!d.getWidth() || !d.getHeight()) return null;
      const c = d.flatten();
      const [r, g, b] = c.getContext('2d').getImageData(x, y, 1, 1).data;
      return { r, g, b, width: c.width, height: c.height };
    },
    [which, x, y],
  );

// Where desktop pixel (x, y) is on the page, through the display's scale.
const pagePoint = (p, which, x, y) =>
  p.evaluate(
    ([which, x, y]) => {
      const src = which === 'desktop' ? window.postern?.desktop?.client : window.postern?.player;
      const d = src.getDisplay();
      d.getElement().scrollIntoView({ block: 'center', inline: 'center' });
      const r = d.getElement().getBoundingClientRect();
      const s = d.getScale();
      return { x: r.left + (x + 0.5) * s, y: r.top + (y + 0.5) * s, scale: s };
    },
    [which, x, y],
  );

// The colour the page shows at desktop pixel (x, y): a screenshot of the
// 3x3 region around it, decoded in the page (its CSP allows data: images);
// every pixel of it must be the colour.
async function screenColor(p, which, x, y) {
  const at = await pagePoint(p, which, x, y);
  const png = await p.screenshot({ clip: { x: Math.floor(at.x) - 1, y: Math.floor(at.y) - 1, width: 3, height: 3 } });
  const px = await p.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const out = [];
    for (let i = 0; i < d.length; i += 4) out.push({ r: d[i], g: d[i + 1], b: d[i + 2] });
    return out;
  }, png.toString('base64'));
  return px;
}

async function expectColor(p, which, what) {
  const [x, y] = point;
  const c = await displayPixel(p, which, x, y);
  if (!c) throw new Error(`${what}: the display is empty`);
  if (!near(c)) throw new Error(`${what}: the display's pixel at ${x},${y} is ${hex(c)}, want ${colorHex}`);
  const shown = await screenColor(p, which, x, y);
  const off = shown.filter((s) => !near(s));
  if (off.length) throw new Error(`${what}: the page shows ${off.map(hex).join(' ')} around ${x},${y}, want ${colorHex}`);
  return { pixel: hex(c), width: c.width, height: c.height };
}

async function waitState(want, p = page, timeout = 30_000) {
  await p.locator(`[data-state="${want}"]`).first().waitFor({ timeout });
}

// The desktop's screen has drawn: its display has a size and a frame.
async function waitScreen(p, which, timeout = 30_000) {
  await p.waitForFunction(
    (which) => {
      const src = which === 'desktop' ? window.postern?.desktop?.client : window.postern?.player;
      const d = src?.getDisplay();
      return !!(d && d.getWidth() > 0 && d.getHeight() > 0);
    },
    which,
    { timeout },
  );
}

async function connectDesktop(pw) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
  const row = page.locator('tr[data-node]').filter({ has: page.locator('.cell-main', { hasText: nodeName }) }).first();
  await row.waitFor();
  await row.getByRole('button', { name: 'Connect (desktop)' }).click();
  const dialog = page.getByRole('dialog');
  if (rdpPort) await dialog.getByLabel('RDP port on the node').fill(rdpPort);
  await dialog.getByRole('button', { name: 'Connect', exact: true }).click();
  await page.waitForURL(/#\/desktop\//);
  const id = decodeURIComponent(/#\/desktop\/([^?]+)/.exec(page.url())[1]);
  await page.getByLabel('User name').fill(desktopUser);
  await page.getByLabel('Password', { exact: true }).fill(pw);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  return id;
}

await run('desktop', async () => {
  await step('sign in', async () => {
    await page.goto(`${base}/`);
    await page.getByLabel('User name').fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
  });

  await step('connect to the desktop from the Nodes page', async () => {
    result.sessionId = await connectDesktop(desktopPassword);
    log(`session ${result.sessionId}`);
    await waitState('connected');
    // The login form, and the password in it, are gone.
    if (await page.locator('input[type=password]').count()) throw new Error('the password field is still on the page');
    await waitScreen(page, 'desktop');
    await shot('40-desktop');
  });

  await step('the desktop shows its background', async () => {
    const c = await expectColor(page, 'desktop', 'live desktop');
    result.desktopSize = `${c.width}x${c.height}`;
    result.requestedSize = await page.locator('.desktop-screen').getAttribute('data-requested-size');
  });

  await step('type into the desktop', async () => {
    const size = await page.evaluate(() => {
      const d = window.postern.desktop.client.getDisplay();
      return [d.getWidth(), d.getHeight()];
    });
    const [x, y] = typeAt || [Math.floor(size[0] / 2), Math.floor(size[1] / 2)];
    const at = await pagePoint(page, 'desktop', x, y);
    await page.mouse.click(at.x, at.y);
    const focused = await page.evaluate(() => document.activeElement?.classList.contains('desktop-screen'));
    if (!focused) throw new Error('clicking the desktop did not give it the keyboard');
    await page.keyboard.type(typed, { delay: 20 });
    await page.keyboard.press('Enter');
    result.typedAt = [x, y];
    await shot('41-desktop-typed');
  });

  await step("send text to the desktop's clipboard", async () => {
    result.clipboardSent = `postern-clipboard-${typed}`;
    await page.getByRole('button', { name: 'Clipboard' }).click();
    await page.getByRole('region', { name: 'Clipboard' }).locator('textarea').fill(result.clipboardSent);
    await page.getByRole('button', { name: 'Send to desktop' }).click();
    await page.getByRole('button', { name: 'Sent' }).waitFor();
    await page.getByRole('button', { name: 'Clipboard' }).click();
  });

  await step('watch it live, read-only, from another page', async () => {
    const p = watch(await context.newPage());
    await go(`/sessions/${encodeURIComponent(result.sessionId)}/live`, p);
    await p.getByText('read-only').first().waitFor();
    await waitState('connected', p);
    await waitScreen(p, 'desktop');
    await expectColor(p, 'desktop', 'live view');
    // A watcher has no login form and no Disconnect.
    if (await p.getByRole('button', { name: 'Disconnect' }).count()) throw new Error('the live view offers Disconnect');
    await shot('42-desktop-live', p);
    await p.close();
  });

  await step('reconnect after the socket drops', async () => {
    await page.evaluate(() => window.postern.desktop.drop());
    await waitState('connected');
    await waitScreen(page, 'desktop');
    await expectColor(page, 'desktop', 'after reconnecting');
  });

  await step('resize the window', async () => {
    const before = await page.locator('.desktop-screen').getAttribute('data-requested-size');
    await page.setViewportSize({ width: 1100, height: 720 });
    await page.waitForFunction((before) => {
      const v = document.querySelector('.desktop-screen')?.dataset.requestedSize;
      return v && v !== before;
    }, before);
    result.resizedTo = await page.locator('.desktop-screen').getAttribute('data-requested-size');
    // Whatever size the desktop took, the screen fits the page.
    const fits = await page.evaluate(() => {
      const area = document.querySelector('.desktop-area').getBoundingClientRect();
      const el = window.postern.desktop.client.getDisplay().getElement().getBoundingClientRect();
      return el.width <= area.width + 1 && el.height <= area.height + 1;
    });
    if (!fits) throw new Error('after resizing, the desktop does not fit the page');
    await expectColor(page, 'desktop', 'after resizing');
    await shot('43-desktop-resized');
  });

  await step('disconnect', async () => {
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await waitState('ended');
    await page.getByRole('region', { name: 'Desktop connection ended' }).waitFor();
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  await step('play the recording back', async () => {
    await go(`/sessions/${encodeURIComponent(result.sessionId)}`);
    const player = page.locator('[data-desktop-player]');
    // The recording is complete once the session has ended.
    await page.locator('.meta').getByText('Desktop', { exact: true }).waitFor();
    await player.and(page.locator('[data-loaded="true"]')).waitFor({ timeout: 30_000 });
    const duration = Number(await player.getAttribute('data-duration'));
    if (!(duration > 0)) throw new Error(`the recording's duration is ${duration}`);
    result.recordingDurationMs = duration;
    const slider = page.getByRole('slider', { name: 'Position in the recording' });
    // Seeking through the seek bar; done when the player says so
    // (data-sought counts the seeks completed). SessionRecording shows a
    // frame near t, so the position is read back, not assumed.
    const seekTo = async (t) => {
      const n = Number(await player.getAttribute('data-sought'));
      await slider.fill(String(t));
      await page.waitForFunction((n) => Number(document.querySelector('[data-desktop-player]').dataset.sought) > n, n);
      return Number(await player.getAttribute('data-position'));
    };
    const middle = Math.floor(duration / 2);
    result.seekedTo = await seekTo(middle);
    await waitScreen(page, 'player');
    const c = await expectColor(page, 'player', `the recording at ${middle} ms`);
    result.playbackPixel = c.pixel;
    await shot('44-desktop-playback');
    // The end is the last frame, exactly.
    const end = await seekTo(duration);
    if (end !== duration) throw new Error(`sought to the end (${duration} ms), the player is at ${end} ms`);
    await expectColor(page, 'player', 'the recording at its end');
    // Twice as fast: the same recording, its clock in its own time.
    await page.getByLabel('Speed').selectOption('2');
    await player.and(page.locator('[data-speed="2"][data-loaded="true"]')).waitFor({ timeout: 30_000 });
    const d2 = Number(await player.getAttribute('data-duration'));
    if (Math.abs(d2 - duration) > 2) throw new Error(`at 2x the recording lasts ${d2} ms of its own time, want ${duration}`);
    const scaled = await page.evaluate(() => window.postern.player.getDuration());
    if (Math.abs(scaled * 2 - duration) > 2) throw new Error(`at 2x the player takes ${scaled} ms, want ${duration / 2}`);
    // Playing from the start moves the position on.
    if ((await seekTo(0)) !== 0) throw new Error('sought to the start, the player is not at 0');
    await page.getByRole('button', { name: 'Play' }).click();
    await page.waitForFunction(() => Number(document.querySelector('[data-desktop-player]').dataset.position) > 0);
    const href = await page.getByRole('link', { name: 'Download .guac' }).first().getAttribute('href');
    if (!href.endsWith(`/v1/sessions/${encodeURIComponent(result.sessionId)}/logs?format=guac`)) throw new Error(`Download .guac links to ${href}`);
  });

  await step('a wrong password says so', async () => {
    result.wrongPasswordSessionId = await connectDesktop(`${desktopPassword}-wrong`);
    const alert = page.getByRole('alert').filter({ hasText: 'Could not connect' });
    await alert.waitFor({ timeout: 30_000 });
    result.wrongPasswordError = (await alert.textContent()).trim();
    if (!/user name or password/.test(result.wrongPasswordError)) throw new Error(`the error reads "${result.wrongPasswordError}"`);
    await waitState('failed');
    // Nothing to reconnect to after a refusal.
    if (await page.getByRole('button', { name: 'Reconnect' }).count()) throw new Error('a refused login offers Reconnect');
    await shot('45-desktop-wrong-password');
  });

  // What the Go test checks: the session ids (recorded, and failed with
  // its reason), what was typed (arrived on the desktop), the sizes.
  console.log(`DESKTOP_RESULT ${JSON.stringify(result)}`);
});
