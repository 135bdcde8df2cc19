/** `npm run viz`: regenerates `visualizations/` from the machines. */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderDiagrams } from './diagrams.js';

export function writeDiagrams(directory: string): string[] {
  mkdirSync(directory, { recursive: true });
  const files = renderDiagrams();
  for (const existing of readdirSync(directory)) {
    if (!files.has(existing)) rmSync(path.join(directory, existing));
  }
  for (const [name, content] of files) writeFileSync(path.join(directory, name), content);
  return [...files.keys()];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const directory = path.resolve(process.argv[2] ?? 'visualizations');
  for (const name of writeDiagrams(directory))
    console.log(`wrote ${path.join(path.relative(process.cwd(), directory), name)}`);
}
