/**
 * What a fan-out worker's transition costs the persistence loop: a fan-out of 2 targets ×
 * 20 repeats (40 model workers, best_of_n) through a supervisor on a real SQLite file, the
 * model being the local OpenAI-compatible test server. Every batch committed is recorded:
 *
 * - bytes: the JSON text the batches hand the store for fan-out workers (worker actor rows,
 *   worker and fan-out events, worker attempt rows, their audit rows), per worker transition;
 * - µs: the time the persistence loop spends building batches (`toBatch`) and committing them
 *   (`store.commit`), over the whole run, per worker transition (the run's few task and step
 *   transitions are counted in: `otherTransitions` says how many).
 *
 * Run with `npm run bench` (scenario F).
 */
import path from 'node:path';
import { createSupervisor } from '../../src/index.js';
import { Persistence } from '../../src/runtime/persistence.js';
import { openSqliteStore } from '../../src/store/sqlite-open.js';
import type { Batch, CommitResult, Store } from '../../src/store/store.js';
import { startOpenAiServer } from '../support/openai-server.js';

const TARGETS = ['gpt-4o', 'o3-mini'];
const REPEAT = 20;

interface Tally {
  workerBytes: number;
  otherBytes: number;
  commitUs: number;
  batches: number;
}

const size = (value: unknown) => JSON.stringify(value ?? null).length;

/** Whether a batch part belongs to a fan-out worker (or the fan-out itself). */
function isWorkerActor(actor: Batch['actors'][number]): boolean {
  return actor.kind !== 'task' && actor.kind !== 'step';
}
const isWorkerEvent = (type: string) => type.startsWith('worker.') || type.startsWith('fanout.');
const isWorkerStepId = (stepId: string | undefined) => stepId !== undefined && stepId.includes('/');

function measure(batch: Batch, tally: Tally): void {
  for (const actor of batch.actors) {
    const bytes = size(actor.snapshot) + actor.actorId.length + actor.state.length;
    if (isWorkerActor(actor)) tally.workerBytes += bytes;
    else tally.otherBytes += bytes;
  }
  for (const { event } of batch.events) {
    if (isWorkerEvent(event.type)) tally.workerBytes += size(event);
    else tally.otherBytes += size(event);
  }
  for (const attempt of batch.attempts) {
    if (isWorkerStepId(attempt.stepId)) tally.workerBytes += size(attempt);
    else tally.otherBytes += size(attempt);
  }
  for (const entry of batch.audit) {
    const worker = isWorkerEvent(entry.action) || isWorkerStepId(entry.stepId);
    if (worker) tally.workerBytes += size(entry);
    else tally.otherBytes += size(entry);
  }
  for (const output of batch.outputs) tally.otherBytes += output.json.length;
}

function measuringStore(inner: Store, tally: Tally): Store {
  return {
    runs: inner.runs,
    leases: inner.leases,
    events: inner.events,
    inbox: inner.inbox,
    records: inner.records,
    auditLog: inner.auditLog,
    commit: async (batch: Batch): Promise<CommitResult> => {
      measure(batch, tally);
      tally.batches += 1;
      const started = performance.now();
      try {
        return await inner.commit(batch);
      } finally {
        tally.commitUs += (performance.now() - started) * 1000;
      }
    },
    check: () => inner.check(),
    close: () => inner.close(),
  };
}

/** Times `Persistence`'s batch building (a private method, reached for measuring only). */
function timeToBatch(): { readonly us: () => number } {
  const prototype = Persistence.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = prototype['toBatch']!;
  let us = 0;
  prototype['toBatch'] = function (this: unknown, ...args: unknown[]) {
    const started = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      us += (performance.now() - started) * 1000;
    }
  };
  return { us: () => us };
}

export async function fanoutPersistence(dir: string): Promise<Record<string, number | string>> {
  const server = await startOpenAiServer({
    handler: (body) => {
      const messages = (body['messages'] ?? []) as Array<{ role: string; content: string }>;
      const reducer = messages[0]?.role === 'system' && messages[0].content.startsWith('You review answers');
      if (reducer) {
        return {
          text: JSON.stringify({
            summary: 'all fine',
            winner_label: `${TARGETS[0]}#1`,
            rationale: 'first',
            recommended_next_step: 'use it',
          }),
          usage: { prompt_tokens: 900, completion_tokens: 40 },
        };
      }
      return {
        text: `answer from ${String(body['model'])}: 7`,
        usage: { prompt_tokens: 20, completion_tokens: 5 },
      };
    },
  });
  const tally: Tally = { workerBytes: 0, otherBytes: 0, commitUs: 0, batches: 0 };
  const toBatch = timeToBatch();
  const db = path.join(dir, 'F.db');
  const sv = await createSupervisor({
    store: measuringStore(openSqliteStore(db), tally),
    llm: { baseURL: server.baseURL, apiKey: 'bench', model: TARGETS[0]!, maxRetries: 0 },
  });
  try {
    const run = await sv.fanout({
      prompt: 'Name a prime',
      targets: TARGETS,
      repeat: REPEAT,
      reduce: { mode: 'best_of_n' },
    });
    const result = await run.done;
    if (result.phase !== 'completed') throw new Error(`the fan-out ended ${result.phase}: ${result.error}`);
    const trace = await sv.trace(run.id);
    const workerTransitions = trace.events.filter((event) => event.type === 'worker.transition').length;
    const otherTransitions = trace.transitions.length;
    const workers = TARGETS.length * REPEAT;
    if (trace.workers.length !== workers || trace.workers.some((worker) => worker.state !== 'completed'))
      throw new Error(`expected ${workers} completed workers, got ${trace.workers.length}`);
    const persistUs = toBatch.us() + tally.commitUs;
    return {
      scenario: 'F',
      workers,
      workerTransitions,
      otherTransitions,
      batches: tally.batches,
      bytesPerWorkerTransition: Math.round(tally.workerBytes / workerTransitions),
      usPerWorkerTransition: Math.round(persistUs / workerTransitions),
      note: 'bytes: worker rows, events, attempts and audit handed to the store; µs: toBatch + commit over the run',
    };
  } finally {
    await sv.close();
    await server.close();
  }
}
