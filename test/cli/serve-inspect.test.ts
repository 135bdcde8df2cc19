/**
 * `taskvisor serve` (the web monitor's JSON endpoints, its page, and an approval sent
 * through it) and `run --inspect` (the Stately inspector relay receives the actors).
 */
import net from 'node:net';
import path from 'node:path';
import { createWebSocketReceiver, type StatelyInspectionEvent } from '@statelyai/inspect';
import { afterAll, describe, expect, it } from 'vitest';
import { RunViewSchema } from '../../src/model/views.js';
import { EXAMPLES, start, tempDir } from './cli.js';

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
    const { url } = JSON.parse((await server.line(/^\{"url"/)).line) as { url: string };
    try {
      const page = await fetch(url);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(await page.text()).toContain('<title>taskvisor monitor</title>');

      const runs = RunViewSchema.array().parse(await (await fetch(`${url}/api/runs`)).json());
      expect(runs.map((run) => [run.id, run.phase])).toEqual([[runId, 'awaitingApproval']]);
      const pending = (await (await fetch(`${url}/api/pending`)).json()) as {
        approvals: Array<{ runId: string }>;
      };
      expect(pending.approvals.map((approval) => approval.runId)).toEqual([runId]);
      const mermaid = await (await fetch(`${url}/api/runs/${runId}/mermaid`)).text();
      expect(mermaid).toContain('s0 --> s2');
      const missing = await fetch(`${url}/api/runs/run_nope`);
      expect(missing.status).toBe(404);

      const form = await fetch(`${url}/api/runs/${runId}/approve`, { method: 'POST', body: 'x=1' });
      expect(form.status).toBe(415);
      const foreign = await fetch(`${url}/api/runs/${runId}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
        body: '{}',
      });
      expect(foreign.status).toBe(403);
      const approve = await fetch(`${url}/api/runs/${runId}/approve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(approve.status).toBe(202);
      const exit = await runner.exited;
      expect(exit.code).toBe(0);
      expect(exit.stdout).toContain('plan: approve by web monitor');
    } finally {
      server.process.kill('SIGTERM');
    }
    expect((await server.exited).code).toBe(0);
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
    expect((await runner.line('Stately inspector: open')).line).toContain(`http://localhost:${port}`);
    await runner.line('waiting: plan waits for approval');

    const page = await (await fetch(`http://localhost:${port}`)).text();
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
