// Builds dist/eddy.js (minified ESM bundle with flatbuffers inlined, plus a
// source map) and dist/types (declarations from tsc), then prints the
// bundle's minified+gzipped size and fails when it exceeds the budget.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUDGET = 30 * 1024;

rmSync(join(root, 'dist'), { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'src/index.ts')],
  outfile: join(root, 'dist/eddy.js'),
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  mainFields: ['module', 'main'],
  target: 'es2020',
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  // Short lines: an uncaught error shows its source line, which must not
  // be the whole minified bundle.
  lineLimit: 160,
  // Node without a global WebSocket imports ws at run time (an optional
  // peer dependency); it is never bundled.
  external: ['ws'],
  logLevel: 'warning',
});
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });

const bundle = readFileSync(join(root, 'dist/eddy.js'));
const gz = gzipSync(bundle, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(1) + ' KB';
console.log(`dist/eddy.js: ${kb(bundle.length)} minified, ${kb(gz)} minified+gzipped (budget ${kb(BUDGET)})`);
if (gz > BUDGET) {
  console.error(`bundle too large: ${gz} bytes gzipped > ${BUDGET}`);
  process.exit(1);
}
