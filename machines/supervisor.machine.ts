/**
 * The root actor. Spawns one task actor per run (fresh, or restored from the database),
 * admits at most `maxRuns` of them at a time (the others wait in `queued`), and routes
 * commands to the right task, which routes step commands on to the step.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { RunCommand, SupervisorEvent } from './protocol.js';
import { restorable } from './restorable.js';
import { taskMachine } from './task.machine.js';

export interface SupervisorInput {
  /** Runs admitted at once (`concurrency.runs`). */
  readonly maxRuns: number;
}

export interface SupervisorContext {
  readonly maxRuns: number;
  /** Runs holding a slot, in admission order. */
  readonly admitted: readonly string[];
  /** Runs waiting for a slot, in arrival order. */
  readonly queue: readonly string[];
}

const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';

/** The run id of a task's done/error event. */
function finishedRunId(type: string): string {
  return type.startsWith(DONE_PREFIX) ? type.slice(DONE_PREFIX.length) : type.slice(ERROR_PREFIX.length);
}

export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: {
    task: restorable(taskMachine),
  },
  guards: {
    isKnownRun: ({ context, event }) =>
      (event.type === 'run.command' || event.type === 'run.release') &&
      (context.admitted.includes(event.runId) || context.queue.includes(event.runId)),
  },
  actions: {
    /** Grants free slots to queued runs, oldest first. */
    admit: enqueueActions(({ context, event, enqueue }) => {
      const free = context.maxRuns - context.admitted.length;
      if (free <= 0 || context.queue.length === 0) return;
      const admitted = context.queue.slice(0, free);
      enqueue.assign({
        admitted: [...context.admitted, ...admitted],
        queue: context.queue.slice(admitted.length),
      });
      const at = 'at' in event && typeof event.at === 'number' ? event.at : 0;
      for (const runId of admitted) enqueue.sendTo(runId, { type: 'run.admitted', at });
    }),
    /** A task finished (or another process took it over): free its slot and its actor. */
    release: enqueueActions(({ context, event, enqueue }) => {
      const runId = event.type === 'run.release' ? event.runId : finishedRunId(event.type);
      enqueue.assign({
        admitted: context.admitted.filter((id) => id !== runId),
        queue: context.queue.filter((id) => id !== runId),
      });
      enqueue.stopChild(runId);
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ maxRuns: input.maxRuns, admitted: [], queue: [] }),
  initial: 'supervising',
  states: {
    supervising: {
      on: {
        'run.create': {
          actions: [
            enqueueActions(({ enqueue, event }) => {
              enqueue.spawnChild('task', { id: event.runId, input: { create: event.input } });
            }),
            assign({ queue: ({ context, event }) => [...context.queue, event.runId] }),
            'admit',
          ],
        },
        'run.adopt': {
          actions: [
            enqueueActions(({ enqueue, event }) => {
              enqueue.spawnChild('task', { id: event.runId, input: { restore: event.snapshot } });
            }),
            assign(({ context, event }) =>
              event.phase === 'queued'
                ? { queue: [...context.queue, event.runId] }
                : { admitted: [...context.admitted, event.runId] },
            ),
            'admit',
          ],
        },
        'run.command': {
          guard: 'isKnownRun',
          actions: enqueueActions(({ enqueue, event }) => {
            enqueue.sendTo(event.runId, event.command satisfies RunCommand);
          }),
        },
        'run.release': { guard: 'isKnownRun', actions: ['release', 'admit'] },
        'xstate.done.actor.*': { actions: ['release', 'admit'] },
        'xstate.error.actor.*': { actions: ['release', 'admit'] },
      },
    },
  },
});
