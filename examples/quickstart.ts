/**
 * `npm run example`: a plan with a custom step kind, a note that reads its output, and a
 * step that asks a question (answered here by code). Runs on the default database,
 * `.taskvisor/taskvisor.db`, with no API key. Run it twice: the second run lists the first.
 */
import { createSupervisor } from '../src/index.js';

const sv = await createSupervisor({
  actions: {
    // A custom step kind: any async function of the step's fields.
    countWords: async (input) => ({ output: String(input.text).split(/\s+/).filter(Boolean).length }),
    // A step that asks a human (journaled: after a crash it gets the same answer back).
    publish: async (input, ctx) => {
      const answer = await ctx.ask({
        key: 'publish',
        question: `Publish "${String(input.summary)}"?`,
        options: [
          { id: 'yes', label: 'Publish' },
          { id: 'no', label: 'Keep it' },
        ],
      });
      return { output: answer.optionId === 'yes' ? 'published' : 'kept' };
    },
  },
});

console.log(
  `${(await sv.list({ phase: 'completed' })).length} completed run(s) already in .taskvisor/taskvisor.db`,
);

// Whoever is watching (a UI, the CLI) answers questions; here, a subscriber does.
sv.events$.subscribe((event) => {
  if (event.type === 'request.opened') {
    console.log(`  ? ${event.question} -> yes`);
    void sv.answer(event.requestId, { optionId: 'yes', by: 'quickstart' });
  }
  if (event.type === 'step.transition') console.log(`  ${event.stepId}: ${event.from} -> ${event.to}`);
});

const run = await sv.start({
  goal: 'Summarise a sentence',
  plan: {
    steps: [
      { id: 'count', action: { kind: 'countWords', text: 'durable runs survive a crash' } },
      {
        id: 'summary',
        dependsOn: ['count'],
        action: { kind: 'note', output: 'The text has {{steps.count.output}} words.' },
      },
      {
        id: 'publish',
        dependsOn: ['summary'],
        action: { kind: 'publish', summary: '{{steps.summary.output}}' },
      },
    ],
  },
});
console.log(`run ${run.id}`);
const result = await run.done;
console.log(result.phase, result.outputs);
await sv.close();
