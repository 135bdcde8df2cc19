/**
 * The `taskvisor` command line, on commander: every command of API.md's table, each
 * taking `--db <path>` and `--json`. Commands are thin: they parse, call the embedding
 * API, and render. `main()` returns the exit code (0 ok, 1 run failed, 2 bad input).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DETACHED_FLAG } from './detach.js';
import { errorJson, errorLine, EXIT_BAD_INPUT, exitCodeOf } from './exit-codes.js';
import { DEFAULT_INSPECT_PORT } from './inspector.js';
import { type Io, printJson } from './io.js';

// Each command's module loads when the command runs, so `--help` and `viz` start fast.
const load = {
  run: () => import('./commands/run.js'),
  read: () => import('./commands/read.js'),
  watch: () => import('./commands/watch.js'),
  gates: () => import('./commands/gates.js'),
  resume: () => import('./commands/resume.js'),
  fanout: () => import('./commands/fanout.js'),
  viz: () => import('./commands/viz.js'),
  serve: () => import('./commands/serve.js'),
  worker: () => import('./commands/worker.js'),
  prune: () => import('./commands/prune.js'),
  doctor: () => import('./commands/doctor.js'),
};

const FOOTER = `
Exit codes: 0 success; 1 a run failed or was cancelled; 2 bad input (the message names the value and the fix).
Environment: TASKVISOR_DB (default --db), OPENAI_API_KEY / OPENAI_BASE_URL / TASKVISOR_MODEL (the model), NO_COLOR.`;

/** The package version (this file is src/cli/ in the repository, dist/src/cli/ when built). */
function version(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === 'taskvisor' && manifest.version) return manifest.version;
    } catch {
      // not there; try the next place
    }
  }
  return '0.0.0';
}

function collect(value: string, previous: string[]): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean),
  ];
}

function positiveInt(name: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1) {
      throw new InvalidArgumentError(`${name} must be a whole number of at least 1.`);
    }
    return number;
  };
}

function port(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 65_535) {
    throw new InvalidArgumentError('a port is a whole number from 1 to 65535.');
  }
  return number;
}

/** --db and --json, on every command. */
function common(command: Command): Command {
  return command
    .option(
      '--db <path|url>',
      'the SQLite file, or a postgres:// URL (default $TASKVISOR_DB or .taskvisor/taskvisor.db)',
    )
    .option('--json', 'print JSON instead of text');
}

/** The options of the commands that drive runs. */
function drive(command: Command): Command {
  return common(command)
    .option(
      '--config <file>',
      'createSupervisor options: a .json file, or a .mjs module exporting them (actions, sandbox, channels, llm, ...)',
    )
    .option('--allow <binaries>', 'binaries shell steps may run (comma-separated, repeatable)', collect, [])
    .option('--model <model>', 'the model for planning and model steps (default $TASKVISOR_MODEL)');
}

function inspectable(command: Command): Command {
  return command
    .option('--inspect', 'start the Stately inspector relay and connect the supervisor to it')
    .option('--inspect-port <port>', 'the relay port', port, DEFAULT_INSPECT_PORT)
    .option('--no-open', 'do not open the inspector page in a browser');
}

export function buildProgram(
  io: Io,
  argv: readonly string[],
  setExit: (code: number) => void,
  /** With --json, commander's own error messages are collected here instead of printed. */
  usageErrors?: string[],
): Command {
  const program = new Command('taskvisor')
    .description(
      'A durable, inspectable supervisor for AI-agent work: plans as DAGs of XState actors, persisted to SQLite.',
    )
    .version(version(), '-v, --version')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => (usageErrors ? usageErrors.push(text.trim()) : io.stderr.write(text)),
    })
    .addHelpText('after', FOOTER)
    .exitOverride();
  const act =
    <A extends unknown[]>(handler: (...args: A) => Promise<number> | number) =>
    async (...args: A) => {
      setExit(await handler(...args));
    };

  inspectable(
    drive(
      program
        .command('run')
        .argument('<plan>', 'a plan file (JSON), or a goal in words for the model to plan'),
    ),
  )
    .description('start a run and follow it live to the end')
    .option('--detach', 'hand the run to a background process (log beside the db) and print its id')
    .option('--require-approval', 'wait for `taskvisor approve <run>` before running the plan')
    .option('--goal <text>', "the run's goal (default: the plan's goal)")
    .option(
      '--replan',
      'for a plan file: let the model add corrective steps when a step fails (off unless this or maxReplans in --config; a replan adding steps above the read tier waits for approval)',
    )
    .addOption(new Option(`${DETACHED_FLAG} <id>`).hideHelp())
    .action(act(async (target: string, flags) => (await load.run()).runCommand(target, flags, io, argv)));

  common(program.command('doctor'))
    .description('check the database: integrity, audit chains, runs no live process drives; says what to do')
    .action(act(async (flags) => (await load.doctor()).doctorCommand(flags, io)));

  common(program.command('ls'))
    .description('list runs, newest first')
    .option('--phase <phase>', 'only runs in this phase (comma-separated, repeatable)', collect, [])
    .option('--limit <n>', 'at most this many runs', positiveInt('--limit'), 50)
    .action(act(async (flags) => (await load.read()).lsCommand(flags, io)));

  common(program.command('show').argument('<run>', 'run id'))
    .description("a run's steps, outputs and what it waits for")
    .option('--mermaid', "print the run's DAG as a Mermaid flowchart coloured by step state")
    .action(act(async (runId: string, flags) => (await load.read()).showCommand(runId, flags, io)));

  common(program.command('watch').argument('<run>', 'run id'))
    .description('follow a run another process drives until it ends (--json: one event per line)')
    .action(act(async (runId: string, flags) => (await load.watch()).watchCommand(runId, flags, io)));

  common(program.command('trace').argument('<run>', 'run id'))
    .description("a run's full trace: every event, attempt, request and artifact")
    .action(act(async (runId: string, flags) => (await load.read()).traceCommand(runId, flags, io)));

  common(
    program
      .command('approve')
      .argument('<run>', 'run id')
      .argument('[step]', 'a step waiting for confirmation'),
  )
    .description("approve a run's plan, or confirm a step (run it)")
    .option('--by <name>', 'who approves (default: your user name)')
    .option('--note <text>', 'a note kept with the approval')
    .action(
      act(async (runId: string, stepId: string | undefined, flags) =>
        (await load.gates()).approveCommand(runId, stepId, flags, io),
      ),
    );

  common(
    program
      .command('reject')
      .argument('<run>', 'run id')
      .argument('[step]', 'a step waiting for confirmation'),
  )
    .description("reject a run's plan, or a step (cancel it, or --decision skip|fail)")
    .option('--reason <text>', 'why (required for a plan)')
    .option('--decision <decision>', 'for a step: skip (dependents run) or fail')
    .option('--by <name>', 'who rejects (default: your user name)')
    .action(
      act(async (runId: string, stepId: string | undefined, flags) =>
        (await load.gates()).rejectCommand(runId, stepId, flags, io),
      ),
    );

  common(program.command('answer').argument('<request>', 'request id (shown by run, watch and show)'))
    .description('reply to a question a step asked')
    .option('--text <text>', 'a free-text answer')
    .option('--option <id>', 'the id of one of the offered options')
    .option('--by <name>', 'who answers (default: your user name)')
    .action(
      act(async (requestId: string, flags) => (await load.gates()).answerCommand(requestId, flags, io)),
    );

  common(program.command('cancel').argument('<run>', 'run id'))
    .description('cancel a run; in-flight work is aborted')
    .option('--reason <text>', 'why')
    .option('--by <name>', 'who cancels (default: your user name)')
    .action(act(async (runId: string, flags) => (await load.gates()).cancelCommand(runId, flags, io)));

  common(program.command('extend').argument('<run>', 'run id'))
    .description("raise a run's budget; a run paused on its budget continues")
    .option('--max-cost <usd>', 'the new dollar limit')
    .option('--max-tokens <n>', 'the new token limit')
    .option('--max-steps <n>', 'the new step limit')
    .option('--by <name>', 'who extends it (default: your user name)')
    .action(act(async (runId: string, flags) => (await load.gates()).extendCommand(runId, flags, io)));

  common(
    program
      .command('control')
      .argument('<run>', 'run id')
      .argument('<step>', 'step id')
      .argument('<action>', 'cancel | interrupt | retry | resume'),
  )
    .description('control one step: cancel, interrupt, retry or resume it')
    .option('--by <name>', 'who (default: your user name)')
    .action(
      act(async (runId: string, stepId: string, action: string, flags) =>
        (await load.gates()).controlCommand(runId, stepId, action, flags, io),
      ),
    );

  inspectable(
    drive(
      program
        .command('resume')
        .argument('[run]', 'one run (default: every unfinished run no process drives)'),
    ),
  )
    .description('drive unfinished runs to the end (commands stored meanwhile apply first)')
    .action(
      act(async (runId: string | undefined, flags) => (await load.resume()).resumeCommand(runId, flags, io)),
    );

  drive(program.command('fanout').argument('<prompt>', 'the prompt'))
    .description('one prompt to several model targets, optionally reduced')
    .option('--target <model>', 'a model target (repeatable, or comma-separated)', collect, [])
    .option('--repeat <n>', 'ask each target n times', positiveInt('--repeat'))
    .option('--reduce <mode>', 'compare | summarize | best_of_n')
    .option('--reduce-target <model>', 'the model that reduces')
    .action(act(async (prompt: string, flags) => (await load.fanout()).fanoutCommand(prompt, flags, io)));

  program
    .command('viz')
    .argument('[machine]', 'supervisor | task | step (default: all three)')
    .description("print a machine's statechart as Mermaid, or --out <dir> to regenerate the diagram files")
    .option('--out <dir>', 'write the diagram files (as in visualizations/) to this directory')
    .option('--db <path>', 'not used by viz (accepted for uniformity)')
    .option('--json', 'print JSON instead of text')
    .action(
      act(async (machine: string | undefined, flags) => (await load.viz()).vizCommand(machine, flags, io)),
    );

  common(program.command('serve'))
    .description('a local web monitor: runs, their DAGs, and approvals')
    .option('--port <port>', 'the port (0: any free one)', '4317')
    .option('--host <host>', 'the address to listen on', '127.0.0.1')
    .action(act(async (flags) => (await load.serve()).serveCommand(flags, io)));

  drive(program.command('worker'))
    .description('drive runs until SIGTERM or Ctrl-C: claim every run that needs a driver (drive: all)')
    .option(
      '--concurrency <runs>',
      'runs driven at once (default: the config, else 4)',
      positiveInt('--concurrency'),
    )
    .option(
      '--grace <duration>',
      'on SIGTERM/SIGINT, how long attempts in flight may finish (e.g. 30s, 2m)',
      '30s',
    )
    .action(act(async (flags) => (await load.worker()).workerCommand(flags, io)));

  common(program.command('prune'))
    .description('delete finished runs that ended longer ago than --older-than (the audit still verifies)')
    .option('--older-than <duration>', 'e.g. 30d, 12h, 90m, 45s')
    .option(
      '--phase <phase>',
      'only runs in this phase: completed, failed, cancelled (repeatable)',
      collect,
      [],
    )
    .action(act(async (flags) => (await load.prune()).pruneCommand(flags, io)));

  return program;
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export async function main(
  argv: readonly string[],
  io: Io = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let exitCode = 0;
  // --json: an error is JSON too, `{ "error": { "code", "message" } }` on stdout.
  const json = argv.includes('--json') && !argv.includes('--help') && !argv.includes('-h');
  const usageErrors: string[] | undefined = json ? [] : undefined;
  const program = buildProgram(
    io,
    argv,
    (code) => {
      exitCode = code;
    },
    usageErrors,
  );
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander printed the message (and the hint) already; help and version exit 0.
      if (error.exitCode !== 0 && usageErrors) {
        const message =
          usageErrors.filter((line) => !line.startsWith('(add --help')).join(' ') || error.message;
        printJson(io, { error: { code: 'BAD_INPUT', message: message.replace(/^error: /, '') } });
      }
      return error.exitCode === 0 ? 0 : EXIT_BAD_INPUT;
    }
    if (json) printJson(io, errorJson(error));
    else io.stderr.write(`${errorLine(error)}\n`);
    return exitCodeOf(error);
  }
}
