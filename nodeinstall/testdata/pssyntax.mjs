// node --liftoff-only pssyntax.mjs NODE_MODULES FILE...: parses each
// file as PowerShell with tree-sitter's PowerShell grammar (web-tree-sitter and
// tree-sitter-powershell, from NODE_MODULES: web/'s, pinned in its lock
// file) and prints each syntax error or missing token, FILE:LINE:COLUMN.
// It exits 1 if there is any. No PowerShell runs on the test machines:
// this is what tells a script that would not even parse.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modules, ...files] = process.argv.slice(2);
const require = createRequire(join(resolve(modules), 'resolve.js'));
// Its ES module build (require.resolve would name the CommonJS one).
const { Parser, Language } = await import(pathToFileURL(join(resolve(modules), 'web-tree-sitter', 'tree-sitter.js')).href);
await Parser.init();
const lang = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
const parser = new Parser();
parser.setLanguage(lang);
let bad = 0;
for (const f of files) {
  const src = readFileSync(f, 'utf8');
  const walk = (n) => {
    if (!n.hasError) {
      return; // nothing below: skips walking the whole tree, which is slow
    }
    if (n.isError || n.isMissing) {
      bad++;
      const what = n.isMissing ? `missing ${n.type}` : 'syntax error';
      console.log(`${f}:${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${what}: ${JSON.stringify(src.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 60)))}`);
      return;
    }
    for (const c of n.children) walk(c);
  };
  walk(parser.parse(src).rootNode);
}
process.exit(bad ? 1 : 0);
