import { describe, expect, it } from 'vitest';
import type { Json } from '../../src/model/json.js';
import { StepSchema } from '../../src/model/plan.js';
import { interpolate, renameTemplateStep, templateReferences } from '../../src/model/templates.js';

const outputs: Record<string, Json> = {
  text: 'hello world',
  count: 3,
  flag: false,
  data: { items: [{ title: 'first' }, { title: 'second', tags: ['a', 'b'] }], total: 2 },
  list: [1, 'two', null],
};
const outputOf = (stepId: string): Json | undefined => outputs[stepId];

describe('templateReferences', () => {
  it('finds templates in nested fields and names the field by its path', () => {
    const action = StepSchema.parse({
      id: 'run',
      action: {
        kind: 'shell',
        command: 'node',
        args: ['script.js', '--in={{steps.fetch.output}}'],
        env: { TOKEN: '{{steps.auth.output.token}}' },
      },
    }).action;
    expect(templateReferences(action)).toEqual([
      { raw: '{{steps.fetch.output}}', field: 'args.1', stepId: 'fetch', path: [] },
      { raw: '{{steps.auth.output.token}}', field: 'env.TOKEN', stepId: 'auth', path: ['token'] },
    ]);
  });

  it('reads the path after .output, array indexes included', () => {
    const [reference] = templateReferences({ message: 'Top: {{steps.search.output.items.0.title}}' });
    expect(reference).toMatchObject({ field: 'message', stepId: 'search', path: ['items', '0', 'title'] });
  });

  it('finds every template in one string, in order', () => {
    const references = templateReferences({ query: '{{steps.a.output}} vs {{ steps.b.output.score }}' });
    expect(references.map((reference) => [reference.stepId, reference.raw])).toEqual([
      ['a', '{{steps.a.output}}'],
      ['b', '{{ steps.b.output.score }}'],
    ]);
  });

  it('names the field of a template inside an array of objects', () => {
    const references = templateReferences({ targets: [{ model: 'm' }, { label: '{{steps.pick.output}}' }] });
    expect(references.map((reference) => reference.field)).toEqual(['targets.1.label']);
  });

  it('reports a malformed template with a problem and no step id', () => {
    for (const raw of ['{{steps.fetch}}', '{{steps.fetch.outputs}}', '{{steps.1x.output}}', '{{steps.}}']) {
      const [reference] = templateReferences({ query: `see ${raw}` });
      expect(reference?.raw).toBe(raw);
      expect(reference?.field).toBe('query');
      expect(reference?.stepId).toBeUndefined();
      expect(reference?.problem).toMatch(`got ${raw}`);
    }
  });

  it('ignores double braces that do not open {{steps., non-string values and the kind key', () => {
    expect(
      templateReferences({
        kind: '{{steps.kind.output}}',
        command: 'echo {{user}} {{ step.a.output }} {steps.a.output}',
        timeoutMs: 5,
        idempotent: true,
        nothing: null,
      }),
    ).toEqual([]);
  });

  it('starts field names from the given prefix', () => {
    const [reference] = templateReferences({ query: '{{steps.a.output}}' }, 'action');
    expect(reference?.field).toBe('action.query');
  });
});

describe('interpolate', () => {
  it('inserts a null output as null, like any other JSON value', () => {
    expect(interpolate('got {{steps.empty.output}}', (id) => (id === 'empty' ? null : undefined))).toBe(
      'got null',
    );
  });

  it('inserts a string output as it is, without quotes', () => {
    expect(interpolate('Said: {{steps.text.output}}!', outputOf)).toBe('Said: hello world!');
  });

  it('inserts other JSON outputs as compact JSON', () => {
    expect(interpolate('{{steps.count.output}} {{steps.flag.output}}', outputOf)).toBe('3 false');
    expect(interpolate('{{steps.list.output}}', outputOf)).toBe('[1,"two",null]');
    expect(interpolate('{{steps.data.output.items.1}}', outputOf)).toBe(
      '{"title":"second","tags":["a","b"]}',
    );
  });

  it('navigates a path into objects and arrays', () => {
    expect(interpolate('{{steps.data.output.items.0.title}}', outputOf)).toBe('first');
    expect(interpolate('{{steps.data.output.items.1.tags.1}}', outputOf)).toBe('b');
    expect(interpolate('{{ steps.data.output.total }}', outputOf)).toBe('2');
  });

  it('inserts an empty string for a missing output or a path that leads nowhere', () => {
    expect(interpolate('[{{steps.nothing.output}}]', outputOf)).toBe('[]');
    expect(interpolate('[{{steps.data.output.missing}}]', outputOf)).toBe('[]');
    expect(interpolate('[{{steps.text.output.length}}]', outputOf)).toBe('[]');
    expect(interpolate('[{{steps.data.output.items.7.title}}]', outputOf)).toBe('[]');
  });

  it('replaces templates in every string of an action but not its kind or other values', () => {
    const action = {
      kind: 'shell',
      command: 'echo',
      args: ['{{steps.text.output}}', 'n={{steps.count.output}}'],
      env: { TITLE: '{{steps.data.output.items.0.title}}' },
      timeoutMs: 1000,
    };
    const before = structuredClone(action);
    expect(interpolate(action, outputOf)).toEqual({
      kind: 'shell',
      command: 'echo',
      args: ['hello world', 'n=3'],
      env: { TITLE: 'first' },
      timeoutMs: 1000,
    });
    expect(action).toEqual(before);
  });

  it('leaves malformed templates and other double braces as they are', () => {
    const text = 'a {{steps.text}} b {{user}} c {{ step.text.output }}';
    expect(interpolate(text, outputOf)).toBe(text);
  });
});

describe('renameTemplateStep', () => {
  it('rewrites the templates that read the old step, keeping their path', () => {
    expect(
      renameTemplateStep(
        { kind: 'notify', message: 'built {{steps.build.output}} at {{steps.build.output.meta.path}}' },
        'build',
        'build-fix',
      ),
    ).toEqual({
      kind: 'notify',
      message: 'built {{steps.build-fix.output}} at {{steps.build-fix.output.meta.path}}',
    });
  });

  it('leaves templates of other steps, including ids that share a prefix, alone', () => {
    const text = '{{steps.build2.output}} {{steps.prebuild.output}} {{steps.fetch.output.build}}';
    expect(renameTemplateStep(text, 'build', 'fix')).toBe(text);
  });

  it('rewrites templates in nested fields but not the kind', () => {
    const action = {
      kind: '{{steps.a.output}}',
      args: ['{{ steps.a.output }}', 'plain'],
      env: { A: '{{steps.a.output.x}}' },
      timeoutMs: 10,
    };
    const before = structuredClone(action);
    expect(renameTemplateStep(action, 'a', 'b')).toEqual({
      kind: '{{steps.a.output}}',
      args: ['{{steps.b.output}}', 'plain'],
      env: { A: '{{steps.b.output.x}}' },
      timeoutMs: 10,
    });
    expect(action).toEqual(before);
  });

  it('leaves malformed templates alone', () => {
    expect(renameTemplateStep('{{steps.a}} {{steps.a.outputs}}', 'a', 'b')).toBe(
      '{{steps.a}} {{steps.a.outputs}}',
    );
  });
});
