// Builds the console into dist/, which the Go package embeds:
//   dist/index.html                 (never cached: names the assets)
//   dist/assets/<name>-<hash>.<ext> (cached for a year: the hash changes with them)
//   dist/SOURCE.sha256              (what the bundle was built from; web_test.go
//                                    checks it against the sources, so a stale
//                                    bundle fails the tests)
// Run with `npm run build` after `npm ci`.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const assets = join(dist, 'assets');

// The inputs of the bundle, in a fixed order. Keep in step with
// sourceFiles in web_test.go.
function sourceFiles() {
  const out = ['build.mjs', 'package.json', 'package-lock.json'];
  const walk = (dir) => {
    for (const name of readdirSync(join(root, dir))) {
      const rel = `${dir}/${name}`;
      if (statSync(join(root, rel)).isDirectory()) walk(rel);
      else out.push(rel);
    }
  };
  walk('src');
  return out.sort();
}

// sha256sum's format, over contents with CRLF read as LF (a Windows
// checkout must not look stale).
function sourceManifest() {
  return sourceFiles()
    .map((f) => {
      const text = readFileSync(join(root, f)).toString('latin1').replace(/\r\n/g, '\n');
      return `${createHash('sha256').update(Buffer.from(text, 'latin1')).digest('hex')}  ${f}\n`;
    })
    .join('');
}

function hashed(name, content) {
  const h = createHash('sha256').update(content).digest('hex').slice(0, 10);
  const ext = extname(name);
  return `${basename(name, ext)}-${h}${ext}`;
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(assets, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.jsx' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: assets,
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.svg': 'file', '.png': 'file' },
  legalComments: 'none', // the licences go to THIRD-PARTY-NOTICES.txt, whole
  metafile: true,
  logLevel: 'warning',
  charset: 'utf8',
});

const outs = Object.keys(result.metafile.outputs).map((p) => relative(dist, join(root, p)));
const js = outs.find((p) => p.endsWith('.js'));
const css = outs.find((p) => p.endsWith('.css'));
if (!js || !css) throw new Error(`esbuild produced ${outs.join(', ')}: expected a .js and a .css`);

const favicon = readFileSync(join(root, 'src/favicon.svg'));
const faviconName = `assets/${hashed('favicon.svg', favicon)}`;
writeFileSync(join(dist, faviconName), favicon);

const html = readFileSync(join(root, 'src/index.html'), 'utf8')
  .replace('{{js}}', `/${js}`)
  .replace('{{css}}', `/${css}`)
  .replace('{{favicon}}', `/${faviconName}`);
writeFileSync(join(dist, 'index.html'), html);
writeFileSync(join(dist, 'SOURCE.sha256'), sourceManifest());

// The licences of every package in the bundle, whole.
const pkgs = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) pkgs.add(m[1]);
}
let notices = 'Postern\'s web console bundles these packages.\n';
for (const name of [...pkgs].sort()) {
  const dir = join(root, 'node_modules', name);
  const { version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
  notices += `\n${'='.repeat(72)}\n${name} ${version} (${license})\n${'='.repeat(72)}\n\n`;
  notices += file ? readFileSync(join(dir, file), 'utf8').trim() + '\n' : `Licensed under ${license}; the package ships no licence file.\n`;
}
writeFileSync(join(dist, 'THIRD-PARTY-NOTICES.txt'), notices);

for (const f of readdirSync(assets).sort()) {
  console.log(`  dist/assets/${f}  ${(statSync(join(assets, f)).size / 1024).toFixed(1)} KiB`);
}
