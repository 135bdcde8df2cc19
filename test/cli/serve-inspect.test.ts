/**
 * `taskvisor serve` (the web monitor's JSON endpoints, its page, and an approval sent
 * through it) and `run --inspect` (the Stately inspector relay receives the actors).
 */
import net from 'node:net';
import path from 'node:path';
import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { afterAll, describe, expect, it } from 'vitest';
import { RunViewSchema } from '../../src/model/views.js';
import { EXAMPLES, start, tempDir, tv } from './cli.js';

const temp = tempDir('serve');
const cwd = temp.dir;
afterAll(() => temp.remove());
const HELLO = path.join(EXAMPLES, 'hello.json');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe.concurrent('the web monitor and the inspector', () => {
  it('serve lists runs, shows one with its DAG, and approves a plan for the process that runs it', async () => {
    const db = path.join(cwd, 'serve.db');
    const runner = start(['run', HELLO, '--db', db, '--require-approval'], { cwd });
    const runId = /^run (\S+)$/.exec((await runner.line(/^run run_/)).line)![1]!;
    await runner.line('waiting: plan waits for approval');

    const server = start(['serve', '--db', db, '--port', '0', '--json'], { cwd });
    const url = new URL((JSON.parse((await server.line(/^\{"url"/)).line) as { url: string }).url);
    const headers = { authorization: `Bearer ${url.searchParams.get('token')}` };
    const api = (pathname: string, init: RequestInit = {}) =>
      fetch(new URL(pathname, url), { ...init, headers: { ...headers, ...(init.headers ?? {}) } });
    try {
      const page = await fetch(url);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<title>taskvisor console</title>');

      const rows = (await (await api('/api/runs')).json()) as Array<{ view: unknown; status: unknown }>;
      const runs = RunViewSchema.array().parse(rows.map((row) => row.view));
      expect(runs.map((run) => [run.id, run.phase])).toEqual([[runId, 'awaitingApproval']]);
      expect(rows[0]!.status).toMatchObject({ driver: 'live', waitingFor: ['approval'] });
      const search = (await (await api('/api/runs?q=nothing-like-this')).json()) as unknown[];
      expect(search).toEqual([]);
      const pending = (await (await api('/api/pending')).json()) as { approvals: Array<{ runId: string }> };
      expect(pending.approvals.map((approval) => approval.runId)).toEqual([runId]);
      const mermaid = await (await api(`/api/runs/${runId}/mermaid`)).text();
      expect(mermaid).toContain('s0 --> s2');
      const missing = await api('/api/runs/run_nope');
      expect(missing.status).toBe(404);
      expect(await missing.text()).not.toContain('sv.list');

      const approve = await api(`/api/runs/${runId}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(approve.status).toBe(202);
      expect(await approve.json()).toMatchObject({ ok: true, pending: false });
      const exit = await runner.exited;
      expect(exit.code).toBe(0);
      expect(exit.stdout).toContain('plan: approve by console');
    } finally {
      server.process.kill('SIGTERM');
    }
    expect((await server.exited).code).toBe(0);
  });

  it("the console resumes an orphaned run in the background with the run's own --config", async ({
    expect,
  }) => {
    const db = path.join(cwd, 'orphan.db');
    const runner = start(
      ['run', path.join(EXAMPLES, 'ask.json'), '--db', db, '--config', path.join(EXAMPLES, 'actions.mjs')],
      { cwd },
    );
    const runId = /^run (\S+)$/.exec((await runner.line(/^run run_/)).line)![1]!;
    await runner.line('waiting: step decide asks');
    runner.process.kill('SIGKILL');
    await runner.exited;

    const server = start(['serve', '--db', db, '--port', '0', '--json'], { cwd });
    const url = new URL((JSON.parse((await server.line(/^\{"url"/)).line) as { url: string }).url);
    const post = (pathname: string, body: unknown) =>
      fetch(new URL(pathname, url), {
        method: 'POST',
        headers: {
          authorization: `Bearer ${url.searchParams.get('token')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      });
    try {
      const detail = (await (
        await fetch(new URL(`/api/runs/${runId}`, url), {
          headers: { authorization: `Bearer ${url.searchParams.get('token')}` },
        })
      ).json()) as {
        status: { driver: string; waitingFor: string[] };
        pending: { requests: Array<{ requestId: string }> };
      };
      // Told apart from a live run: orphaned, and waiting for an answer.
      expect(detail.status).toMatchObject({ driver: 'orphaned', waitingFor: ['answer'] });
      const [request] = detail.pending.requests;
      // Answered while nobody drives the run: stored, and said to be pending.
      const answer = await post(`/api/requests/${request!.requestId}/answer`, { optionId: 'yes' });
      expect(await answer.json()).toMatchObject({ ok: true, pending: true });
      const resumed = await post(`/api/runs/${runId}/resume`, {});
      expect(resumed.status).toBe(202);
      expect(((await resumed.json()) as { message: string }).message).toContain('resuming in the background');
      const shown = async () => (await tv(['show', runId, '--db', db, '--json'], { cwd })).stdout;
      // Resumed: the step that was waiting for its answer was interrupted; a human confirms it.
      await expect.poll(shown, { timeout: 15_000 }).toContain('"state": "awaitingConfirmation"');
      expect((await post(`/api/runs/${runId}/approve`, { stepId: 'decide' })).status).toBe(202);
      await expect
        .poll(async () => (await tv(['show', runId, '--db', db, '--json'], { cwd })).stdout, {
          timeout: 15_000,
        })
        .toContain('"phase": "completed"');
    } finally {
      server.process.kill('SIGTERM');
    }
    await server.exited;
  });

  it('run --inspect starts the relay, says what to open, and streams the actors to the inspector', async ({
    expect,
  }) => {
    const db = path.join(cwd, 'inspect.db');
    const port = await freePort();
    const runner = start(
      ['run', HELLO, '--db', db, '--require-approval', '--inspect', '--inspect-port', String(port)],
      {
        cwd,
      },
    );
    const runId = /^run (\S+)$/.exec((await runner.line(/^run run_/)).line)![1]!;
    expect((await runner.line('Stately inspector: open')).line).toContain(`http://127.0.0.1:${port}`);
    await runner.line('waiting: plan waits for approval');

    const page = await (await fetch(`http://127.0.0.1:${port}`)).text();
    expect(page).toContain('https://stately.ai/inspect');
    const seen: StatelyInspectionEvent[] = [];
    createWebSocketReceiver({ server: `ws://localhost:${port}` }).subscribe((event) => seen.push(event));
    await expect
      .poll(
        () =>
          seen.filter((event) => event.type === '@xstate.actor').map((event) => event.sessionId.length > 0),
        {
          timeout: 10_000,
        },
      )
      .not.toEqual([]);
    runner.process.kill('SIGINT');
    const exit = await runner.exited;
    expect(exit.code).toBe(130);
    expect(exit.stderr).toContain(
      `run ${runId} is unfinished and resumes with npx taskvisor resume ${runId}`,
    );
  });
});
