/**
 * `taskvisor run <plan.json | "goal">`: starts a run and follows it to the end; with
 * `--detach`, hands it to a background process and prints its id.
 */
import path from 'node:path';
import type { RunHandle } from '../../runtime/runtime.js';
import type { Supervisor } from '../../supervisor.js';
import { detachRun, reportToStarter } from '../detach.js';
import { chooseDisplay } from '../display.js';
import { errorLine, exitCodeOf } from '../exit-codes.js';
import { commandHint } from '../hints.js';
import { type InspectorRelay, startInspector } from '../inspector.js';
import { type Io, printJson, printLine } from '../io.js';
import { loadRunTarget } from '../load-plan.js';
import { closeQuietly, dbPathOf, type DriveFlags, loadConfig, openSupervisor } from '../open-supervisor.js';
import { hasModel, requireModelFor, requireModelForGoal } from '../preflight.js';
import { recordConfig } from '../run-config.js';
import { exitCodeForViews, followInterruptibly, holdInspector } from './drive.js';

export interface RunFlags extends DriveFlags {
  readonly detach?: boolean;
  readonly requireApproval?: boolean;
  readonly goal?: string;
  readonly replan?: boolean;
  readonly inspect?: boolean;
  readonly inspectPort: number;
  readonly open: boolean;
  /** Set in the background process of `--detach`: the run id to use. */
  readonly detachedRunId?: string;
}

export async function runCommand(
  target: string,
  flags: RunFlags,
  io: Io,
  argv: readonly string[],
): Promise<number> {
  const runTarget = loadRunTarget(target);
  const hint = commandHint(flags.db);
  // Up front (exit 2), not at run time: what the run would need a model for.
  const withModel = hasModel(flags, flags.config ? await loadConfig(flags.config) : {});
  if (runTarget.kind === 'goal') requireModelForGoal(runTarget.goal, withModel);
  else requireModelFor(runTarget.plan, withModel, Boolean(flags.replan));
  if (flags.detach) {
    const started = await detachRun(argv, dbPathOf(flags));
    if (flags.json) printJson(io, { runId: started.runId });
    else {
      printLine(io, `run ${started.runId}`);
      printLine(
        io,
        `  in the background (pid ${started.pid}), logging to ${path.relative(process.cwd(), started.log)}`,
      );
      if (started.inspectUrl) printLine(io, `  Stately inspector: open ${started.inspectUrl}`);
      printLine(io, `  follow it: ${hint(`watch ${started.runId}`)}`);
    }
    return 0;
  }

  const detached = flags.detachedRunId !== undefined;
  const display = await chooseDisplay(io, { json: flags.json, hint, severalRuns: false });
  let inspector: InspectorRelay | undefined;
  let sv: Supervisor | undefined;
  let handle: RunHandle;
  try {
    if (flags.inspect) {
      inspector = await startInspector({
        port: flags.inspectPort,
        open: flags.open && !detached && Boolean(io.stdout.isTTY),
      });
    }
    sv = await openSupervisor(flags, {
      drive: flags,
      console: (text) => display.display.note(text),
      ...(inspector ? { inspect: inspector.inspect } : {}),
      ...(flags.detachedRunId ? { runId: flags.detachedRunId } : {}),
      ...(runTarget.kind === 'plan' ? { handWritten: { replan: Boolean(flags.replan) } } : {}),
    });
    const requireApproval = flags.requireApproval ? { requireApproval: true } : {};
    // How it was started, so `resume` drives it with the same config, binaries and model.
    const metadata = recordConfig(flags);
    handle = await sv.start(
      runTarget.kind === 'plan'
        ? {
            plan: runTarget.plan,
            goal: flags.goal ?? runTarget.plan.goal ?? `Run ${path.basename(runTarget.file)}`,
            metadata,
            ...requireApproval,
          }
        : { goal: runTarget.goal, metadata, ...requireApproval },
    );
  } catch (error) {
    display.stop();
    if (detached) {
      const message = errorLine(error).replace(/^taskvisor: /, '');
      reportToStarter({ type: 'failed', message, exitCode: exitCodeOf(error) });
    }
    await closeQuietly(sv);
    inspector?.stop();
    throw error;
  }
  if (detached) {
    reportToStarter({
      type: 'started',
      runId: handle.id,
      ...(inspector ? { inspectUrl: inspector.url } : {}),
    });
  }

  const supervisor = sv;
  const runId = handle.id;
  if (!flags.json) {
    printLine(io, `run ${runId}`);
    if (inspector) {
      printLine(io, `Stately inspector: open ${inspector.url} (the page embeds https://stately.ai/inspect)`);
    }
  }
  try {
    const [view] = await followInterruptibly(
      supervisor,
      [runId],
      display,
      () => {
        inspector?.stop();
        io.stderr.write(
          `\ntaskvisor: stopped; run ${runId} is unfinished and resumes with ${hint(`resume ${runId}`)} (or ${hint(`cancel ${runId}`)}).\n`,
        );
      },
      handle.done,
    );
    if (flags.json) printJson(io, view);
    await holdInspector(inspector, io, flags);
    return exitCodeForViews([view!]);
  } finally {
    await closeQuietly(supervisor);
    inspector?.stop();
  }
}
