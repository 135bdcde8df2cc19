/**
 * Builds the console's page (src/serve/page/, Preact + dagre) into dist/console/app.js and
 * app.css with esbuild, at `npm run build` (and so at `npm install`/`prepare`). The package
 * ships the result; nothing is fetched at run time.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/serve/page/main.tsx' },
  outdir: 'dist/console',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2020',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  loader: { '.css': 'css' },
  logLevel: 'warning',
});
