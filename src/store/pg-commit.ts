/**
 * One commit on PostgreSQL: the rows of a batch, written in one transaction on one
 * connection. The runs the batch writes are locked first (`FOR UPDATE`, in id order, so
 * commits never deadlock on each other) and their fences compared, so a lease taken over
 * by another process cannot interleave with the check; events are numbered last, from the
 * counter row, and a NOTIFY tells other processes the new last seq when the commit lands.
 */
import type { PoolClient } from 'pg';
import type { TaskvisorEvent } from '../model/events.js';
import { isTerminalPhase } from '../model/states.js';
import type { Batch, CommitResult } from './store.js';

/** Keeps the last of several items with the same key, in first-seen order. */
function lastByKey<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const byKey = new Map<string, T>();
  for (const item of items) {
    const key = keyOf(item);
    byKey.delete(key);
    byKey.set(key, item);
  }
  return [...byKey.values()];
}

/** `INSERT ... SELECT * FROM unnest($1::t1[], $2::t2[], ...)` for rows given column-wise. */
async function insertColumns(
  client: PoolClient,
  sql: (unnest: string) => string,
  columns: ReadonlyArray<readonly [type: string, values: readonly unknown[]]>,
): Promise<void> {
  if ((columns[0]?.[1].length ?? 0) === 0) return;
  const unnest = `unnest(${columns.map(([type], index) => `$${index + 1}::${type}[]`).join(', ')})`;
  await client.query(
    sql(unnest),
    columns.map(([, values]) => values),
  );
}

const json = (value: unknown): string => JSON.stringify(value);
const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

/**
 * Writes `batch` inside the open transaction of `client` (the caller begins and commits).
 * Returns what the commit will have stored once it commits.
 */
export async function writeBatch(
  client: PoolClient,
  batch: Batch,
  eventsChannel: string,
): Promise<CommitResult> {
  // Fencing: a run whose stored fence is newer than the writer's was taken over.
  const lost = new Set<string>();
  const positions = new Map<string, number>();
  const fenced = [...batch.fences.keys()].sort();
  if (fenced.length > 0) {
    const locked = await client.query<{ id: string; fence: number; audit_position: number }>(
      'SELECT id, fence, audit_position FROM runs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
      [fenced],
    );
    const stored = new Map(locked.rows.map((row) => [row.id, row]));
    for (const [runId, fence] of batch.fences) {
      const row = stored.get(runId);
      if (row && row.fence > fence) lost.add(runId);
      else positions.set(runId, row?.audit_position ?? 0);
    }
  }
  const lands = (runId: string) => batch.fences.has(runId) && !lost.has(runId);
  const heads = new Map<string, { position: number; hash: string }>();
  for (const row of batch.audit) if (lands(row.runId)) heads.set(row.runId, row);
  for (const [runId, head] of heads) positions.set(runId, head.position);
  const anchor = (runId: string) => positions.get(runId) ?? 0;

  const inserts = batch.runs.flatMap((run) => (run.type === 'insert' && lands(run.row.id) ? [run] : []));
  await insertColumns(
    client,
    (rows) =>
      `INSERT INTO runs (id, goal, phase, created_at, updated_at, plan_version, metadata, owner, owner_host, owner_pid, lease_expires_at, fence)
       SELECT * FROM ${rows}`,
    [
      ['text', inserts.map((run) => run.row.id)],
      ['text', inserts.map((run) => run.row.goal)],
      ['text', inserts.map((run) => run.row.phase)],
      ['bigint', inserts.map((run) => run.row.createdAt)],
      ['bigint', inserts.map((run) => run.row.updatedAt)],
      ['integer', inserts.map((run) => run.row.planVersion)],
      ['text', inserts.map((run) => (run.row.metadata ? json(run.row.metadata) : null))],
      ['text', inserts.map((run) => run.lease.owner)],
      ['text', inserts.map((run) => run.lease.host)],
      ['integer', inserts.map((run) => run.lease.pid)],
      ['bigint', inserts.map((run) => run.lease.expiresAt)],
      ['bigint', inserts.map((run) => run.lease.fence)],
    ],
  );
  // Several updates of one run in a batch: the last one is the run's state.
  const updates = lastByKey(
    batch.runs.flatMap((run) => (run.type === 'update' && lands(run.id) ? [run] : [])),
    (run) => run.id,
  );
  await insertColumns(
    client,
    (rows) =>
      `UPDATE runs SET phase = u.phase, plan_version = u.plan_version, updated_at = u.updated_at,
         owner = CASE WHEN u.terminal THEN NULL ELSE runs.owner END,
         lease_expires_at = CASE WHEN u.terminal THEN NULL ELSE runs.lease_expires_at END
       FROM ${rows} AS u(id, phase, plan_version, updated_at, terminal) WHERE runs.id = u.id`,
    [
      ['text', updates.map((run) => run.id)],
      ['text', updates.map((run) => run.phase)],
      ['integer', updates.map((run) => run.planVersion)],
      ['bigint', updates.map((run) => run.updatedAt)],
      ['boolean', updates.map((run) => isTerminalPhase(run.phase))],
    ],
  );
  const plans = lastByKey(
    batch.plans.filter((plan) => lands(plan.runId)),
    (plan) => `${plan.runId}\u0000${plan.version}`,
  );
  await insertColumns(
    client,
    (rows) =>
      `INSERT INTO plans (run_id, version, plan) SELECT * FROM ${rows}
       ON CONFLICT (run_id, version) DO UPDATE SET plan = excluded.plan`,
    [
      ['text', plans.map((plan) => plan.runId)],
      ['integer', plans.map((plan) => plan.version)],
      ['text', plans.map((plan) => json(plan.plan))],
    ],
  );
  const outputs = lastByKey(
    batch.outputs.filter((output) => lands(output.runId)),
    (output) => `${output.runId}\u0000${output.ref}`,
  );
  await insertColumns(
    client,
    (rows) => `INSERT INTO outputs (run_id, ref, json) SELECT * FROM ${rows} ON CONFLICT DO NOTHING`,
    [
      ['text', outputs.map((output) => output.runId)],
      ['text', outputs.map((output) => output.ref)],
      ['text', outputs.map((output) => output.json)],
    ],
  );
  const actors = lastByKey(
    batch.actors.filter((actor) => lands(actor.runId)),
    (actor) => `${actor.runId}\u0000${actor.actorId}`,
  );
  await insertColumns(
    client,
    (rows) =>
      `INSERT INTO actors (run_id, actor_id, kind, state, snapshot, output_ref, fence, updated_at, version)
       SELECT *, 1 FROM ${rows}
       ON CONFLICT (run_id, actor_id) DO UPDATE SET
         kind = excluded.kind, state = excluded.state, snapshot = excluded.snapshot,
         output_ref = excluded.output_ref, fence = excluded.fence, version = actors.version + 1,
         updated_at = excluded.updated_at`,
    [
      ['text', actors.map((actor) => actor.runId)],
      ['text', actors.map((actor) => actor.actorId)],
      ['text', actors.map((actor) => actor.kind)],
      ['text', actors.map((actor) => actor.state)],
      ['text', actors.map((actor) => json(actor.snapshot))],
      ['text', actors.map((actor) => orNull(actor.outputRef))],
      ['bigint', actors.map((actor) => batch.fences.get(actor.runId) ?? 0)],
      ['bigint', actors.map((actor) => actor.updatedAt)],
    ],
  );
  const attempts = lastByKey(
    batch.attempts.filter((attempt) => lands(attempt.runId)),
    (attempt) => `${attempt.runId}\u0000${attempt.stepId}\u0000${attempt.attempt}`,
  );
  await insertColumns(
    client,
    (rows) =>
      `INSERT INTO attempts (run_id, step_id, attempt, idempotency_key, status, started_at, ended_at, output_ref, error, audit_position)
       SELECT * FROM ${rows}
       ON CONFLICT (run_id, step_id, attempt) DO UPDATE SET
         status = excluded.status, ended_at = excluded.ended_at, output_ref = excluded.output_ref,
         error = excluded.error, audit_position = excluded.audit_position`,
    [
      ['text', attempts.map((attempt) => attempt.runId)],
      ['text', attempts.map((attempt) => attempt.stepId)],
      ['integer', attempts.map((attempt) => attempt.attempt)],
      ['text', attempts.map((attempt) => attempt.idempotencyKey)],
      ['text', attempts.map((attempt) => attempt.status)],
      ['bigint', attempts.map((attempt) => attempt.startedAt)],
      ['bigint', attempts.map((attempt) => orNull(attempt.endedAt))],
      ['text', attempts.map((attempt) => orNull(attempt.outputRef))],
      ['text', attempts.map((attempt) => (attempt.error === undefined ? null : json(attempt.error)))],
      ['integer', attempts.map((attempt) => anchor(attempt.runId))],
    ],
  );
  // Requests in their order: a close and a reopen of one request in one batch both count.
  for (const request of batch.requests) {
    if (request.type === 'open') {
      if (!lands(request.row.runId)) continue;
      await client.query(
        `INSERT INTO requests (id, run_id, step_id, key, question, options, opened_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [
          request.row.id,
          request.row.runId,
          request.row.stepId,
          request.row.key,
          request.row.question,
          request.row.options ? json(request.row.options) : null,
          request.row.openedAt,
        ],
      );
    } else if (!lands(request.runId)) {
      continue;
    } else if (request.type === 'answer') {
      await client.query(
        `UPDATE requests SET answer = $1, answered_at = $2, answered_by = $3
         WHERE id = $4 AND run_id = $5 AND answered_at IS NULL AND closed_at IS NULL`,
        [json(request.answer), request.at, orNull(request.by), request.id, request.runId],
      );
    } else if (request.type === 'close') {
      await client.query(
        'UPDATE requests SET closed_at = $1 WHERE id = $2 AND run_id = $3 AND answered_at IS NULL',
        [request.at, request.id, request.runId],
      );
    } else {
      await client.query(
        'UPDATE requests SET closed_at = NULL WHERE id = $1 AND run_id = $2 AND answered_at IS NULL',
        [request.id, request.runId],
      );
    }
  }
  const artifacts = batch.artifacts.filter((artifact) => lands(artifact.runId));
  await insertColumns(
    client,
    (rows) =>
      `INSERT INTO artifacts (run_id, step_id, kind, name, body, at, audit_position)
       SELECT run_id, step_id, kind, name, body, at, audit_position
       FROM ${rows} WITH ORDINALITY AS a(run_id, step_id, kind, name, body, at, audit_position, n) ORDER BY n`,
    [
      ['text', artifacts.map((artifact) => artifact.runId)],
      ['text', artifacts.map((artifact) => orNull(artifact.stepId))],
      ['text', artifacts.map((artifact) => artifact.kind)],
      ['text', artifacts.map((artifact) => artifact.name)],
      ['text', artifacts.map((artifact) => json(artifact.body))],
      ['bigint', artifacts.map((artifact) => artifact.at)],
      ['integer', artifacts.map((artifact) => anchor(artifact.runId))],
    ],
  );
  const applied = batch.commandsApplied.filter((command) => command.unowned || lands(command.runId));
  await insertColumns(
    client,
    (rows) =>
      `UPDATE commands SET applied_at = c.at, error = c.error
       FROM ${rows} AS c(id, run_id, at, error)
       WHERE commands.id = c.id AND commands.run_id = c.run_id AND commands.applied_at IS NULL`,
    [
      ['bigint', applied.map((command) => command.id)],
      ['text', applied.map((command) => command.runId)],
      ['bigint', applied.map((command) => command.at)],
      ['text', applied.map((command) => orNull(command.error))],
    ],
  );
  const audit = batch.audit.filter((row) => lands(row.runId));
  await insertColumns(
    client,
    (rows) =>
      `INSERT INTO audit (run_id, position, at, step_id, action, by, details, prev_hash, hash, keyed)
       SELECT run_id, position, at, step_id, action, by, details, prev_hash, hash, keyed
       FROM ${rows} WITH ORDINALITY AS a(run_id, position, at, step_id, action, by, details, prev_hash, hash, keyed, n)
       ORDER BY n`,
    [
      ['text', audit.map((row) => row.runId)],
      ['integer', audit.map((row) => row.position)],
      ['bigint', audit.map((row) => row.at)],
      ['text', audit.map((row) => orNull(row.stepId))],
      ['text', audit.map((row) => row.action)],
      ['text', audit.map((row) => orNull(row.by))],
      ['text', audit.map((row) => json(row.details))],
      ['text', audit.map((row) => row.prevHash)],
      ['text', audit.map((row) => row.hash)],
      ['boolean', audit.map((row) => row.keyed)],
    ],
  );
  const headList = [...heads];
  await insertColumns(
    client,
    (rows) =>
      `UPDATE runs SET audit_position = h.position, audit_hash = h.hash
       FROM ${rows} AS h(id, position, hash) WHERE runs.id = h.id`,
    [
      ['text', headList.map(([runId]) => runId)],
      ['integer', headList.map(([, head]) => head.position)],
      ['text', headList.map(([, head]) => head.hash)],
    ],
  );
  const episodes = batch.episodes.filter((episode) => lands(episode.runId));
  await insertColumns(
    client,
    (rows) =>
      `INSERT INTO episodes (run_id, step_id, kind, title, body, data, at)
       SELECT run_id, step_id, kind, title, body, data, at
       FROM ${rows} WITH ORDINALITY AS e(run_id, step_id, kind, title, body, data, at, n) ORDER BY n`,
    [
      ['text', episodes.map((episode) => episode.runId)],
      ['text', episodes.map((episode) => orNull(episode.stepId))],
      ['text', episodes.map((episode) => episode.kind)],
      ['text', episodes.map((episode) => episode.title)],
      ['text', episodes.map((episode) => episode.text)],
      ['text', episodes.map((episode) => (episode.data === undefined ? null : json(episode.data)))],
      ['bigint', episodes.map((episode) => episode.at)],
    ],
  );

  // Events last: the counter row is taken as the commit's final write and held to its end.
  const events = batch.events.filter(({ event }) => lands(event.runId));
  const stored: TaskvisorEvent[] = [];
  if (events.length > 0) {
    const bodies = events.map(({ event, outputRef }) => {
      if (outputRef !== undefined && 'output' in event) {
        const { output: _stored, ...rest } = event;
        return json(rest);
      }
      return json(event);
    });
    const numbered = await client.query<{ base: number }>(
      `WITH counter AS (
         UPDATE counters SET value = value + $1 WHERE name = 'event_seq' RETURNING value - $1 AS base
       ), stored AS (
         INSERT INTO events (seq, run_id, step_id, type, at, body, output_ref, audit_position)
         SELECT counter.base + e.n, e.run_id, e.step_id, e.type, e.at, e.body, e.output_ref, e.audit_position
         FROM counter, unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::integer[])
           WITH ORDINALITY AS e(run_id, step_id, type, at, body, output_ref, audit_position, n)
       )
       SELECT base, pg_notify($9, (base + $1)::text) FROM counter`,
      [
        events.length,
        events.map(({ event }) => event.runId),
        events.map(({ event }) =>
          'stepId' in event && typeof event.stepId === 'string' ? event.stepId : null,
        ),
        events.map(({ event }) => event.type),
        events.map(({ event }) => event.at),
        bodies,
        events.map(({ outputRef }) => orNull(outputRef)),
        events.map(({ event }) => anchor(event.runId)),
        eventsChannel,
      ],
    );
    const base = numbered.rows[0]!.base;
    events.forEach(({ event }, index) => stored.push({ ...event, seq: base + index + 1 } as TaskvisorEvent));
  }
  const notFenced = [
    ...new Set(batch.runs.map((run) => (run.type === 'insert' ? run.row.id : run.id))),
  ].filter((runId) => !batch.fences.has(runId));
  return { events: stored, lostRuns: [...lost, ...notFenced] };
}
