import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { catalogOf, describeKinds, planJsonSchema } from '../../src/planning/catalog.js';
import { resolveModel } from '../../src/planning/options.js';
import { capText } from '../../src/planning/planner.js';
import { summarizePlan } from '../../src/planning/summary.js';

describe('summarizePlan', () => {
  it('numbers the steps, names what each waits for and marks the ones that ask for confirmation', () => {
    const summary = summarizePlan(
      'Ship it',
      [
        { id: 'build', title: 'Build', kind: 'shell', tier: 'execute', dependsOn: [] },
        { id: 'test', title: 'test', kind: 'shell', tier: 'execute', dependsOn: ['build'] },
        { id: 'deploy', title: 'Deploy', kind: 'shell', tier: 'destructive', dependsOn: ['build', 'test'] },
        { id: 'tell', title: 'Tell the team', kind: 'notify', tier: 'external', dependsOn: ['deploy'] },
      ],
      ['destructive', 'external'],
    );
    expect(summary).toBe(
      [
        'Plan: Ship it (4 steps)',
        '  1. build: Build [shell]',
        '  2. test [shell] after 1',
        '  3. deploy: Deploy [shell] after 1, 2  ⚠ destructive: asks for confirmation',
        '  4. tell: Tell the team [notify] after 3  ⚠ external: asks for confirmation',
      ].join('\n'),
    );
  });
});

describe('capText', () => {
  it('keeps short text as it is', () => {
    expect(capText('short', 10)).toBe('short');
  });
  it('cuts on a character boundary, never inside a surrogate pair, and marks the cut', () => {
    const text = '😀'.repeat(12);
    const capped = capText(text, 10);
    expect(capped).toBe(`${'😀'.repeat(10)}… [truncated: 2 more characters]`);
    expect(Buffer.from(capped, 'utf8').toString('utf8')).toBe(capped); // no lone surrogate
  });
});

describe('the catalog told to the model', () => {
  const catalog = catalogOf({
    kinds: ['note', 'research', 'shell', 'implement', 'notify', 'deploy'],
    shellAllow: ['git', 'npm'],
    channels: ['slack'],
  });
  it('offers shell only with an allow list and implement only with agents', () => {
    expect(catalog.kinds).toEqual(['note', 'research', 'shell', 'notify', 'deploy']);
    const text = describeKinds(catalog);
    expect(text).toContain('Allowed shell binaries: git, npm.');
    expect(text).toContain('Channels for notify: console, slack.');
    expect(text).toContain('- deploy: a custom action');
    expect(text).not.toContain('implement');
  });
  it('derives the response JSON Schema from the step kinds', () => {
    const schema = planJsonSchema(catalog) as {
      properties: {
        steps: { items: { properties: { action: { anyOf: Array<{ properties: { kind: unknown } }> } } } };
      };
    };
    const kinds = schema.properties.steps.items.properties.action.anyOf.map(
      (variant) => variant.properties.kind,
    );
    expect(kinds).toEqual([
      { type: 'string', const: 'note' },
      { type: 'string', const: 'research' },
      { type: 'string', const: 'shell' },
      { type: 'string', const: 'notify' },
      { type: 'string', const: 'deploy' },
    ]);
  });
});

describe('resolveModel', () => {
  const deps = { clock: new ManualClock(0), planContext: {}, confirmTiers: [] };
  it('has no model when neither llm nor TASKVISOR_MODEL says which', () => {
    expect(resolveModel({}, { ...deps, env: {} })).toBeUndefined();
  });
  it('falls back to OPENAI_BASE_URL, OPENAI_API_KEY and TASKVISOR_MODEL', () => {
    const model = resolveModel(
      {},
      {
        ...deps,
        env: {
          TASKVISOR_MODEL: 'llama3.2',
          OPENAI_API_KEY: 'local',
          OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
        },
      },
    );
    expect(model?.client.model).toBe('llama3.2');
  });
  it('explains what is missing when TASKVISOR_MODEL is set without a key', () => {
    expect(() => resolveModel({}, { ...deps, env: { TASKVISOR_MODEL: 'gpt-4o-mini' } })).toThrow(
      /TASKVISOR_MODEL is set, so taskvisor would plan with "gpt-4o-mini", but: No API key/,
    );
  });
});
