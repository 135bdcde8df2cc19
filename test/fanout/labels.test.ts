/**
 * Worker labels: the given label or the model name, `#n` added to every worker whose base
 * name is shared (a duplicate model, a repeated target, or both), in target order.
 */
import { describe, expect, it } from 'vitest';
import { workerSlots } from '../../src/fanout/labels.js';

const labels = (...args: Parameters<typeof workerSlots>) => workerSlots(...args).map((slot) => slot.label);

describe('fan-out worker labels', () => {
  it('uses the model name, or the given label, when only one worker has it', () => {
    expect(labels(['gpt-4o', { model: 'llama3.2', label: 'local' }, 'o3-mini'])).toEqual([
      'gpt-4o',
      'local',
      'o3-mini',
    ]);
  });

  it('numbers a model given twice in target order', () => {
    expect(labels(['gpt-4o', 'o3-mini', 'gpt-4o'])).toEqual(['gpt-4o#1', 'o3-mini', 'gpt-4o#2']);
  });

  it('numbers every repeat of a target, target by target, repeat by repeat', () => {
    const slots = workerSlots(['gpt-4o', { model: 'llama3.2', label: 'local' }, 'gpt-4o'], 2);
    expect(slots.map((s) => [s.label, s.targetIndex, s.repeatIndex])).toEqual([
      ['gpt-4o#1', 0, 1],
      ['gpt-4o#2', 0, 2],
      ['local#1', 1, 1],
      ['local#2', 1, 2],
      ['gpt-4o#3', 2, 1],
      ['gpt-4o#4', 2, 2],
    ]);
  });

  it('shares numbering between a label and a model of the same name', () => {
    expect(labels([{ model: 'x', label: 'gpt-4o' }, 'gpt-4o'])).toEqual(['gpt-4o#1', 'gpt-4o#2']);
  });

  it('keeps two targets of one model apart when they are labelled', () => {
    expect(
      labels([
        { model: 'gpt-4o', label: 'cold', options: { temperature: 0 } },
        { model: 'gpt-4o', label: 'hot', options: { temperature: 1 } },
      ]),
    ).toEqual(['cold', 'hot']);
  });

  it('rejects a given label that collides with a numbered one, naming it and the fix', () => {
    expect(() => labels(['gpt-4o', 'gpt-4o', { model: 'o3-mini', label: 'gpt-4o#2' }])).toThrowError(
      'Two fan-out workers would both be labelled "gpt-4o#2": a given label collides with one numbered for duplicates; choose another label for target 3',
    );
  });

  it('rejects a repeat that is not a positive integer and an empty target list', () => {
    expect(() => labels(['gpt-4o'], 0)).toThrowError('Expected `repeat` to be a positive integer, got 0');
    expect(() => labels([])).toThrowError('A fan-out needs at least one target, got none');
  });
});
