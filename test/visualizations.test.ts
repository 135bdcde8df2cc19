import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { renderDiagrams } from '../src/viz/diagrams.js';

const directory = fileURLToPath(new URL('../visualizations', import.meta.url));

describe('the committed diagrams', () => {
  it('match the machines (run `npm run viz` after changing a machine)', () => {
    const expected = renderDiagrams();
    expect(readdirSync(directory).sort(), 'files in visualizations/').toEqual([...expected.keys()].sort());
    for (const [name, content] of expected) {
      expect(
        readFileSync(path.join(directory, name), 'utf8'),
        `visualizations/${name} is stale: run npm run viz`,
      ).toBe(content);
    }
  });
});
