/**
 * Plan validation with the sandbox's own judgement of shell commands (`PlanContext.shellCheck`
 * from `shellPlanCheck`): a plan is refused for exactly what `runShell` would refuse, with
 * the sandbox's message naming the binary, what it resolves to and the allow list.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isTaskvisorError, type TaskvisorError } from '../../src/errors.js';
import { parsePlan, type PlanContext } from '../../src/model/parse-plan.js';
import { StepSchema } from '../../src/model/plan.js';
import { spliceSteps } from '../../src/model/splice.js';
import { shellEnvPlanCheck, shellPlanCheck } from '../../src/sandbox/plan-check.js';
import { resolveSandbox } from '../../src/sandbox/policy.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function context(allow: string[]): { context: PlanContext; root: string } {
  const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-plan-')));
  dirs.push(root);
  const sandbox = resolveSandbox({ allow, cwd: root });
  return {
    context: {
      shellAllow: allow,
      shellCheck: shellPlanCheck(sandbox),
      shellEnvCheck: shellEnvPlanCheck(sandbox),
    },
    root,
  };
}

function thrown(fn: () => unknown): TaskvisorError {
  try {
    fn();
  } catch (error) {
    expect(isTaskvisorError(error)).toBe(true);
    return error as TaskvisorError;
  }
  throw new Error('expected a throw');
}

const shell = (id: string, command: string, extra: Record<string, unknown> = {}) => ({
  id,
  action: { kind: 'shell', command, ...extra },
});

describe('parsePlan with the sandbox check', () => {
  it('refuses a binary by what it resolves to, naming it and the allow list', () => {
    const { context: ctx } = context(['ls']);
    const error = thrown(() => parsePlan({ steps: [shell('wipe', '/usr/bin/../bin/rm')] }, ctx));
    expect(error.code).toBe('SHELL_NOT_ALLOWED');
    expect(error.message).toContain(
      'Step "wipe": Shell command "/usr/bin/../bin/rm" resolves to "/usr/bin/rm"',
    );
    expect(error.message).toContain('sandbox.allow is ["ls" (');
    expect(error.details).toMatchObject({ stepId: 'wipe', command: '/usr/bin/../bin/rm', allow: ['ls'] });
  });

  it('refuses a symlink named like an allowed binary, resolved from the step cwd', () => {
    const { context: ctx, root } = context(['ls']);
    fs.mkdirSync(path.join(root, 'tools'));
    fs.symlinkSync('/usr/bin/rm', path.join(root, 'tools', 'ls'));
    const error = thrown(() => parsePlan({ steps: [shell('list', './ls', { cwd: 'tools' })] }, ctx));
    expect(error.message).toContain('A binary named "ls" is allowed, but this one is really "/usr/bin/rm"');
  });

  it('accepts an allowed binary by name, by path and through a symlink to it', () => {
    const { context: ctx, root } = context(['ls']);
    fs.symlinkSync(fs.realpathSync('/usr/bin/ls'), path.join(root, 'my-ls'));
    const plan = parsePlan(
      { steps: [shell('a', 'ls'), shell('b', fs.realpathSync('/usr/bin/ls')), shell('c', './my-ls')] },
      ctx,
    );
    expect(plan.steps).toHaveLength(3);
  });

  it('leaves a command built from a template to the run (where it is checked)', () => {
    const { context: ctx } = context(['ls']);
    const plan = parsePlan(
      {
        steps: [
          { id: 'pick', action: { kind: 'note', output: 'ls' } },
          { ...shell('run', '{{steps.pick.output}}'), dependsOn: ['pick'] },
        ],
      },
      ctx,
    );
    expect(plan.steps).toHaveLength(2);
  });

  it('checks replanned steps the same way', () => {
    const { context: ctx } = context(['ls']);
    const plan = parsePlan({ steps: [shell('a', 'ls')] }, ctx);
    const error = thrown(() => spliceSteps(plan, [StepSchema.parse(shell('b', 'rm'))], { context: ctx }));
    expect(error.code).toBe('SHELL_NOT_ALLOWED');
  });

  it('says how to configure a sandbox when the allow list is empty', () => {
    const error = thrown(() => parsePlan({ steps: [shell('a', 'git')] }, { shellAllow: [] }));
    expect(error.message).toBe(
      'Step "a" runs "git", but sandbox.allow is empty, so no shell step may run; configure createSupervisor({ sandbox: { allow: ["git"], cwd } }).',
    );
  });

  it('refuses a step env that makes a program load code with SANDBOX_ESCAPE, naming the step and the variable', () => {
    const { context: ctx } = context(['ls']);
    const error = thrown(() =>
      parsePlan({ steps: [shell('list', 'ls', { env: { NODE_OPTIONS: '--require ./evil.js' } })] }, ctx),
    );
    expect(error.code).toBe('SANDBOX_ESCAPE');
    expect(error.message).toMatch(/^Step "list": Step env sets "NODE_OPTIONS", which is refused: /);
    expect(error.details).toMatchObject({ stepId: 'list', name: 'NODE_OPTIONS' });
  });

  it("refuses a PATH outside the allowed binaries' directories, and leaves a templated PATH to the run", () => {
    const { context: ctx, root } = context(['ls']);
    const error = thrown(() => parsePlan({ steps: [shell('list', 'ls', { env: { PATH: root } })] }, ctx));
    expect(error.code).toBe('SANDBOX_ESCAPE');
    expect(error.message).toContain(`"${root}", which holds no allowed binary`);
    const lsDirectory = path.dirname(fs.realpathSync('/usr/bin/ls'));
    expect(parsePlan({ steps: [shell('ok', 'ls', { env: { PATH: lsDirectory } })] }, ctx).steps).toHaveLength(
      1,
    );
    const templated = parsePlan(
      {
        steps: [
          { id: 'pick', action: { kind: 'note', output: root } },
          { ...shell('run', 'ls', { env: { PATH: '{{steps.pick.output}}' } }), dependsOn: ['pick'] },
        ],
      },
      ctx,
    );
    expect(templated.steps).toHaveLength(2);
  });

  it('checks the env of replanned steps the same way', () => {
    const { context: ctx } = context(['ls']);
    const plan = parsePlan({ steps: [shell('a', 'ls')] }, ctx);
    const step = StepSchema.parse(shell('b', 'ls', { env: { GIT_CONFIG_COUNT: '1' } }));
    expect(thrown(() => spliceSteps(plan, [step], { context: ctx })).code).toBe('SANDBOX_ESCAPE');
  });
});
