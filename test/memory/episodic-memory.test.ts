/**
 * Episodic memory on a real SQLite file: episodes derived (by `episodesOf`, as the runtime
 * does) from delegation artifacts and from runs that end, full-text search (FTS5) that any user text is safe to pass to, ranking and
 * limits, and `relevantEpisodes` rendering under a size budget.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { type DelegationRecord, episodesOf } from '../../src/memory/episodes.js';
import { createEpisodicMemory, relevantEpisodes } from '../../src/memory/episodic-memory.js';
import { toFtsQuery } from '../../src/memory/fts-query.js';
import { openSqliteStore } from '../../src/store/sqlite-open.js';
import type { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Batch } from '../../src/store/store.js';
import { sequentialIds, useSupervisorHarness } from '../support/supervisor-harness.js';
import { refusal } from '../actions/helpers.js';

const harness = useSupervisorHarness();
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
});

function openStore(): SqliteStore {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-memory-')));
  harness.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = openSqliteStore(path.join(dir, 'memory.db'));
  stores.push(store);
  return store;
}

function delegation(runId: string, record: Partial<DelegationRecord> & { spec: string }, at = 1): Batch {
  const body: DelegationRecord = {
    agent: 'coder',
    agentKind: 'function',
    round: 1,
    outcome: 'succeeded',
    durationMs: 10,
    ...record,
  };
  const artifacts = [
    { runId, stepId: 'impl', kind: 'delegation', name: body.agent, body: body as never, at },
  ];
  // As the runtime's persistence does: the episodes of what the flush writes, in the same commit.
  return {
    runs: [],
    plans: [],
    actors: [],
    events: [],
    outputs: [],
    attempts: [],
    requests: [],
    artifacts,
    commandsApplied: [],
    audit: [],
    episodes: episodesOf({ events: [], artifacts }, () => undefined),
    fences: new Map([[runId, 1]]),
  };
}

async function seed(store: SqliteStore): Promise<void> {
  await store.commit(
    delegation('r1', {
      spec: 'Add OAuth login to the admin dashboard',
      outcome: 'failed',
      error: { code: 'SHELL_FAILED', message: 'callback URL mismatch' },
    }),
  );
  await store.commit(
    delegation('r2', { spec: 'Write the CSV export for invoices', result: 'export.ts written' }),
  );
  await store.commit(
    delegation('r3', {
      spec: 'Fix flaky login test',
      agent: 'tester',
      result: 'added a retry around the OAuth mock',
    }),
  );
}

const NASTY = [
  '"unbalanced quote',
  'login AND',
  'OR OR OR',
  'NEAR(login oauth, 2)',
  'title:login',
  'user:login',
  '*',
  'log*',
  '^login',
  '-login +oauth',
  '()',
  ')(',
  "it's the user's login",
  '💥 login 💥',
  '',
  '   \n\t ',
  'NOT',
  '{title body}: login',
  'login'.repeat(2000),
  '\u0000login',
];

describe('memory.search', () => {
  it.each(NASTY.map((text) => [JSON.stringify(text).slice(0, 40), text] as const))(
    'never throws on user text %s',
    async (_label, text) => {
      const store = openStore();
      await seed(store);
      const found = await createEpisodicMemory(store.records).search(text);
      expect(Array.isArray(found)).toBe(true);
    },
  );

  it('would have thrown on that text as raw FTS5 syntax (the cases are real)', () => {
    const store = openStore();
    const match = store.db.prepare('SELECT rowid FROM episodes_fts WHERE episodes_fts MATCH ?');
    for (const text of ['"unbalanced quote', 'login AND', 'NEAR(login', 'user:login', '*', '()', '-login']) {
      expect(() => match.all(text), text).toThrow();
    }
  });

  it('finds episodes by their words, best match first, at most limit of them', async () => {
    const store = openStore();
    await seed(store);
    const memory = createEpisodicMemory(store.records);
    const found = await memory.search('OAuth login');
    expect(found.map((episode) => episode.runId)).toEqual(['r1', 'r3']);
    expect(found[0]).toMatchObject({
      kind: 'delegation',
      stepId: 'impl',
      title: 'Delegated to coder, failed: Add OAuth login to the admin dashboard',
      text: 'Spec: Add OAuth login to the admin dashboard\nAgent: coder (function) failed in 10 ms\nError: SHELL_FAILED: callback URL mismatch',
      data: { agent: 'coder', outcome: 'failed', agentKind: 'function', round: 1, errorCode: 'SHELL_FAILED' },
    });
    expect(found[0]!.score).toBeGreaterThan(found[1]!.score!);
    expect(await memory.search('OAuth login', { limit: 1 })).toHaveLength(1);
    // Porter stemming: "exporting" finds "export".
    expect((await memory.search('exporting invoice')).map((episode) => episode.runId)).toEqual(['r2']);
    expect(await memory.search('kubernetes')).toEqual([]);
  });

  it('refuses a limit outside 1..100', async () => {
    const memory = createEpisodicMemory(openStore().records);
    for (const limit of [0, 101, 1.5, -1]) {
      const error = await refusal(() => memory.search('x', { limit }), 'INVALID_OPTION');
      expect(error.message).toContain('limit must be an integer from 1 to 100');
    }
  });
});

describe('relevantEpisodes', () => {
  it('renders the best matches under the budget, best first, and nothing when nothing matches', async () => {
    const store = openStore();
    await seed(store);
    for (let index = 0; index < 20; index++) {
      await store.commit(
        delegation(`bulk-${index}`, { spec: `Login page variant ${index} ${'detail '.repeat(60)}` }),
      );
    }
    const text = await relevantEpisodes(store.records, 'OAuth login', 1200);
    expect(text.length).toBeLessThanOrEqual(1200);
    expect(
      text.startsWith(
        'Relevant past episodes (from episodic memory):\n\n## Delegated to coder, failed: Add OAuth login',
      ),
    ).toBe(true);
    expect(await relevantEpisodes(store.records, 'kubernetes', 1200)).toBe('');
    expect(await relevantEpisodes(store.records, 'OAuth login', 50)).toBe('');
    expect(
      (await createEpisodicMemory(store.records).relevantEpisodes('OAuth', 5000)).length,
    ).toBeGreaterThan(0);
  });
});

describe('run summaries', () => {
  it('remembers how each run ended, with its steps, when it ends', async () => {
    const sv = await harness.open({
      db: harness.dbPath(),
      clock: new ManualClock(7),
      ids: sequentialIds(),
      sandbox: { allow: ['sh'], cwd: harness.tempDir() },
    });
    const run = await sv.start({
      goal: 'Rotate the staging certificates',
      plan: {
        steps: [
          { id: 'fetch', action: { kind: 'note', output: 'certs' } },
          {
            id: 'install',
            dependsOn: ['fetch'],
            action: { kind: 'shell', command: 'sh', args: ['-c', 'echo permission denied >&2; exit 1'] },
          },
          { id: 'verify', dependsOn: ['install'], action: { kind: 'note', output: 'ok' } },
        ],
      },
    });
    await run.done;
    const [summary] = await sv.memory.search('staging certificates');
    expect(summary).toMatchObject({
      runId: run.id,
      kind: 'run',
      title: 'Run failed: Rotate the staging certificates',
      data: { phase: 'failed', steps: { succeeded: 1, failed: 1, skipped: 1 } },
      at: 7,
    });
    expect(summary?.text).toContain(
      'Goal: Rotate the staging certificates\nOutcome: failed (not every step succeeded)\nSteps:',
    );
    expect(summary?.text).toContain('- fetch (note) succeeded');
    expect(summary?.text).toContain('- install (shell) failed: Shell command "sh" (');
    expect(summary?.text).toContain('permission denied');
    expect(summary?.text).toContain('- verify (note) skipped: dependency install failed');
  });
});

describe('toFtsQuery', () => {
  it.each([
    ['fix "login" (OAuth) NOT working*', '"fix" OR "login" OR "oauth" OR "not" OR "working"'],
    ['Login login LOGIN', '"login"'],
    ['naïve café', '"naïve" OR "café"'],
    ['"(*)"', undefined],
    ['', undefined],
  ])('%j -> %j', (text, query) => {
    expect(toFtsQuery(text)).toBe(query);
  });
});
