/**
 * The console in a real browser (Chromium through playwright-core): the run list with its
 * markers, a plan approved with the shell command visible before the click, a question
 * answered, a step confirmed, live updates pushed over Server-Sent Events (no reload, no
 * polling), the timeline, and the page at 700 and 1,400 px (screenshots in .artifacts/).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The page's document, as far as these tests read it (this file is compiled without the DOM's types). */
interface Document {
  readonly documentElement: { readonly scrollWidth: number };
}
import { ARTIFACTS, BROWSER_TESTS, launchChromium } from '../support/browser.js';
import { EXAMPLES, type Running, start, tempDir } from '../cli/cli.js';

const temp = tempDir('console');
const cwd = temp.dir;
const db = path.join(cwd, 'runs.db');
const planFile = path.join(cwd, 'release.json');
writeFileSync(
  planFile,
  JSON.stringify({
    goal: 'Release the docs',
    steps: [
      {
        id: 'build',
        title: 'Build the docs',
        action: { kind: 'shell', command: 'node', args: ['-e', 'console.log(6*7)'] },
      },
      {
        id: 'ask',
        title: 'Ask whether to publish',
        dependsOn: ['build'],
        action: {
          kind: 'ask',
          question: 'Publish the {{steps.build.output.stdout}} pages?',
          options: [
            { id: 'yes', label: 'Publish' },
            { id: 'no', label: 'Hold' },
          ],
        },
      },
      {
        id: 'publish',
        title: 'Publish',
        dependsOn: ['ask'],
        tier: 'destructive',
        action: { kind: 'shell', command: 'node', args: ['-e', 'console.log(1+1)'] },
      },
    ],
  }),
);

describe.runIf(BROWSER_TESTS)('the console in a browser', () => {
  let browser: Browser;
  let runner: Running;
  let server: Running;
  let url = '';
  let runId = '';
  let orphanId = '';

  beforeAll(async () => {
    // A run whose process died while its plan waited: orphaned, and waiting.
    const orphan = start(['run', path.join(EXAMPLES, 'hello.json'), '--db', db, '--require-approval'], {
      cwd,
    });
    orphanId = /^run (\S+)$/.exec((await orphan.line(/^run run_/)).line)![1]!;
    await orphan.line('waiting: plan waits for approval');
    orphan.process.kill('SIGKILL');
    await orphan.exited;
    runner = start(
      [
        'run',
        planFile,
        '--db',
        db,
        '--config',
        path.join(EXAMPLES, 'actions.mjs'),
        '--allow',
        'node',
        '--require-approval',
      ],
      { cwd },
    );
    runId = /^run (\S+)$/.exec((await runner.line(/^run run_/)).line)![1]!;
    await runner.line('waiting: plan waits for approval');
    server = start(['serve', '--db', db, '--port', '0', '--json'], { cwd });
    url = (JSON.parse((await server.line(/^\{"url"/)).line) as { url: string }).url;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.process.kill('SIGTERM');
    runner?.process.kill('SIGTERM');
    await Promise.all([server?.exited, runner?.exited]);
    temp.remove();
  });

  async function text(page: Page, selector: string): Promise<string> {
    return (await page.locator(selector).first().textContent()) ?? '';
  }

  it('approves, answers and confirms a run from the page, seeing what runs first, with live updates and a timeline', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const requests: string[] = [];
    page.on('request', (request) => requests.push(new URL(request.url()).pathname));
    await page.goto(url);

    // The list, with the marker of a run that waits for a human.
    const item = page.locator(`a[data-run="${runId}"]`);
    await item.waitFor();
    expect(await item.textContent()).toContain('Release the docs');
    expect(await item.locator('.marker').textContent()).toBe('waits: approval');
    // The dead process's run is told apart: orphaned, with a way to resume it.
    const orphan = page.locator(`a[data-run="${orphanId}"]`);
    expect(await orphan.locator('.marker').textContent()).toBe('waits: approval (orphaned)');
    await orphan.click();
    await page.getByTestId('driver').getByText('Orphaned: no live process drives this run').waitFor();
    expect(await page.getByRole('button', { name: 'Resume the run' }).isVisible()).toBe(true);
    await item.click();
    expect(await page.getByTestId('driver').textContent()).toMatch(/^Driven by pid \d+/);

    // Blind-free approval: the command line is on screen before the button is pressed.
    const approval = page.getByRole('region', { name: 'approval' });
    await approval.waitFor();
    const command = approval.getByText("$ node -e 'console.log(6*7)'");
    expect(await command.isVisible()).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-approval-1400.png'), fullPage: true });
    const loadedAt = await page.evaluate(() => performance.timeOrigin);
    await approval.getByRole('button', { name: 'Approve the plan' }).click();

    // Live: the shell step runs in the other process and its question appears, no reload.
    const question = page.getByRole('region', { name: 'question of ask' });
    await question.waitFor({ timeout: 15_000 });
    expect(await question.textContent()).toMatch(/Publish the 42\s+pages\?/);
    await question.getByRole('button', { name: 'Publish' }).click();

    const confirm = page.getByRole('region', { name: 'confirm publish' });
    await confirm.waitFor({ timeout: 15_000 });
    expect(await confirm.getByText("$ node -e 'console.log(1+1)'").first().isVisible()).toBe(true);
    await page.setViewportSize({ width: 700, height: 1000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-confirm-700.png'), fullPage: true });
    await page.setViewportSize({ width: 1400, height: 900 });
    await confirm.getByRole('button', { name: 'Run it' }).click();

    await page.locator('[data-testid="phase"]', { hasText: /^completed$/ }).waitFor({ timeout: 15_000 });
    expect(await page.evaluate(() => performance.timeOrigin)).toBe(loadedAt);
    expect(requests).toContain('/api/events');
    expect(await text(page, '[data-testid="connection"]')).toBe('live');
    const exit = await runner.exited;
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('plan: approve by console');

    // The step's detail: what it ran and its stdout.
    await page.locator('g.node[data-step="publish"]').click();
    const detail = page.getByRole('region', { name: 'step publish' });
    expect(await detail.locator('pre.stdout').textContent()).toBe('2\n');

    // The timeline, in plain words with times.
    await page.getByRole('tab', { name: 'Timeline' }).click();
    const timeline = page.getByRole('list', { name: 'timeline' });
    await timeline.waitFor();
    const lines = await timeline.locator('li').allTextContents();
    expect(lines.some((line) => /^\d\d:\d\d:\d\d\+.*Plan: approve by console/.test(line))).toBe(true);
    expect(lines.some((line) => line.includes('Answered by console: yes'))).toBe(true);
    expect(lines.some((line) => /Step build succeeded after \d/.test(line))).toBe(true);
    await page.getByRole('tab', { name: 'Steps' }).click();

    for (const width of [700, 1400]) {
      await page.setViewportSize({ width, height: 900 });
      await page.screenshot({ path: path.join(ARTIFACTS, `console-${width}.png`), fullPage: true });
      // Usable at this width: nothing sticks out sideways.
      const scrollWidth = await page.evaluate(
        () => (globalThis as unknown as { document: Document }).document.documentElement.scrollWidth,
      );
      expect(scrollWidth).toBeLessThanOrEqual(width);
      expect(await page.getByRole('figure').isVisible()).toBe(true);
    }
    await page.close();
  }, 90_000);
});
