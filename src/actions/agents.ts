/**
 * Agents: the delegates of `implement` steps, configured with `createSupervisor({ agents })`.
 *
 * - `function`: `run(spec, ctx)` in this process;
 * - `llm`: a persona (system prompt, optional model) answered by the supervisor's `llm`;
 * - `cli`: a command template whose args hold `{spec}`, run like a shell step: in the jail
 *   (unless `sandbox.isolation` says otherwise), with the allowed binary, confined cwd,
 *   filtered env, and everything it started killed on cancel, timeout or its end.
 */
import { whenAborted, withDeadline } from '../abort.js';
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { quote, TaskvisorError } from '../errors.js';
import type { Episode } from '../store/rows.js';
import { type Json, toJsonOutput } from '../model/json.js';
import { didYouMean } from '../model/suggest.js';
import type { Tier } from '../model/tier.js';
import type { Answer } from '../model/events.js';
import type { Question, RunModel } from '../runtime/executor.js';
import { resolveAllowedBinary } from '../sandbox/binary.js';
import { DEFAULT_TIMEOUTS_MS, type ResolvedSandbox } from '../sandbox/policy.js';
import { runShell } from '../sandbox/run-shell.js';
import { recordUnjailed } from './shell.js';

/** What an agent gets besides the spec. */
export interface AgentContext {
  /** Aborts when the step is cancelled, the step times out, or this agent's own timeout passes. */
  readonly signal: AbortSignal;
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  /** This agent's name. */
  readonly agent: string;
  /** 1 on the first pass through the escalation chain, 2 after a human said retry, ... */
  readonly round: number;
  /** The spec as the step wrote it (the `spec` argument adds recalled episodes and guidance). */
  readonly originalSpec: string;
  /** Past episodes recalled for this spec (also rendered into `spec`). */
  readonly episodes: readonly Episode[];
  log(message: string, data?: Json): void;
  /**
   * Asks a human mid-run: the step (or fan-out worker) waits until `answer()`; the answer is
   * journaled, so the same `key` after a crash returns it without asking again.
   */
  ask(question: Question): Promise<Answer>;
}

/** Tokens (and dollars, when the agent knows them) an agent reports for one run. */
export interface AgentUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd?: number;
  /** The model the tokens were spent on (prices it when `costUsd` is absent). */
  readonly model?: string;
}

/** What a CLI agent's process did: kept as an artifact by a fan-out worker. */
export interface CliAgentRun {
  readonly pid?: number;
  readonly command: string;
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs?: number;
}

/** What a function agent returns: its output, or `status: 'failed'` (then the chain escalates). */
export interface AgentResult {
  readonly output?: unknown;
  readonly status?: 'succeeded' | 'failed';
  /** Why it failed, with `status: 'failed'`. */
  readonly error?: string;
  /** What the agent spent, when it knows (a fan-out worker records it as its usage). */
  readonly usage?: AgentUsage;
}

export type AgentFunction = (spec: string, ctx: AgentContext) => Promise<AgentResult> | AgentResult;

const name = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/, 'an agent name is a word like "coder" or "claude-cli"');
const timeoutMs = z.int().positive().max(2_147_483_647).optional();

export const FunctionAgentSchema = z.strictObject({
  name,
  kind: z.literal('function'),
  run: z.custom<AgentFunction>(
    (value) => typeof value === 'function',
    'must be a function (spec, ctx) => ({ output })',
  ),
  timeoutMs,
});

export const LlmAgentSchema = z.strictObject({
  name,
  kind: z.literal('llm'),
  /** The persona: the system prompt. */
  system: z.string().min(1, 'the persona needs a system prompt'),
  /** Overrides the supervisor's default model. */
  model: z.string().min(1).optional(),
  temperature: z.number().min(0).max(2).optional(),
  maxTokens: z.int().positive().optional(),
  timeoutMs,
});

export const CliAgentSchema = z.strictObject({
  name,
  kind: z.literal('cli'),
  /** A binary that `sandbox.allow` allows. */
  command: z.string().min(1),
  /** argv; every `{spec}` is replaced by the spec (no shell is involved). */
  args: z.array(z.string()),
  /** Working directory inside `sandbox.cwd`. */
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
  timeoutMs,
});

/** One entry of `createSupervisor({ agents })`. */
export const AgentOptionSchema = z.discriminatedUnion(
  'kind',
  [FunctionAgentSchema, LlmAgentSchema, CliAgentSchema],
  {
    error:
      'an agent is { name, kind: "function", run } | { name, kind: "llm", system, model? } | { name, kind: "cli", command, args }',
  },
);
export const AgentsOptionSchema = z.array(AgentOptionSchema);

export type FunctionAgent = z.output<typeof FunctionAgentSchema>;
export type LlmAgent = z.output<typeof LlmAgentSchema>;
export type CliAgent = z.output<typeof CliAgentSchema>;
export type AgentOption = z.output<typeof AgentOptionSchema>;

/** The placeholder of a CLI agent's args that the spec replaces. */
export const SPEC_PLACEHOLDER = '{spec}';

/**
 * Checks the agents against each other and the sandbox, and indexes them by name: names are
 * unique, a CLI agent needs a sandbox whose allow list allows its binary, and its args hold
 * `{spec}`. Errors are `INVALID_OPTION` naming the agent, the bad value and the fix.
 *
 * @example
 * ```ts
 * const agents = resolveAgents([{ name: 'coder', kind: 'function', run: async (spec) => ({ output: spec }) }]);
 * ```
 */
export function resolveAgents(
  agents: readonly AgentOption[],
  sandbox?: ResolvedSandbox,
): ReadonlyMap<string, AgentOption> {
  const byName = new Map<string, AgentOption>();
  agents.forEach((agent, index) => {
    if (byName.has(agent.name)) {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `agents[${index}]: the name "${agent.name}" is used twice; give each agent its own name.`,
        { field: `agents[${index}].name`, value: agent.name },
      );
    }
    if (agent.kind === 'cli') checkCliAgent(agent, index, sandbox);
    byName.set(agent.name, agent);
  });
  return byName;
}

function checkCliAgent(agent: CliAgent, index: number, sandbox: ResolvedSandbox | undefined): void {
  const where = `agents[${index}] ("${agent.name}")`;
  if (!sandbox) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `${where} is a CLI agent, but no sandbox is configured; CLI agents run under the shell rules. Pass createSupervisor({ sandbox: { allow: [${quote(agent.command)}], cwd } }).`,
      { field: `agents[${index}]`, agent: agent.name },
    );
  }
  if (!agent.args.some((arg) => arg.includes(SPEC_PLACEHOLDER))) {
    throw new TaskvisorError(
      'INVALID_OPTION',
      `${where}: args ${quote(agent.args)} never pass the spec; put "${SPEC_PLACEHOLDER}" in one of them, like ["--prompt", "${SPEC_PLACEHOLDER}"].`,
      { field: `agents[${index}].args`, value: agent.args },
    );
  }
  try {
    resolveAllowedBinary(agent.command, sandbox);
  } catch (error) {
    if (error instanceof TaskvisorError) {
      throw new TaskvisorError('INVALID_OPTION', `${where}: ${error.message}`, {
        field: `agents[${index}].command`,
        value: agent.command,
        allow: [...sandbox.allow],
      });
    }
    throw error;
  }
}

/** The error for a name that is not a registered agent. */
export function unknownAgent(agent: string, known: Iterable<string>, where: string): TaskvisorError {
  const names = [...known];
  return new TaskvisorError(
    'UNKNOWN_AGENT',
    `${where} names agent "${agent}", which is not registered${didYouMean(agent, names)}; registered agents: ${names.length > 0 ? names.map((n) => `"${n}"`).join(', ') : 'none'}. Add it to createSupervisor({ agents }).`,
    { agent, known: names },
  );
}

/** What running one agent needs from the supervisor. */
export interface AgentRunner {
  readonly clock: Clock;
  readonly sandbox?: ResolvedSandbox;
  /** The step's model (undefined when no `llm` is configured). */
  readonly llm?: RunModel;
  readonly tier: Tier;
  /** `'model'` when the model wrote the step: then a CLI agent never runs without the jail under `isolation: 'auto'`. */
  readonly writtenBy?: 'model';
  /** Records an artifact of the step (a CLI agent run without the jail is audited). */
  readonly artifact?: (kind: string, name: string, body: Json) => void;
  /** Told what the agent spent (a function agent's `usage`, an LLM persona's calls). */
  readonly onUsage?: (usage: AgentUsage) => void;
  /** Told what a CLI agent's process did, when it ended (exited, failed, or was stopped). */
  readonly onCliRun?: (run: CliAgentRun) => void;
  /** How a CLI agent's process group is stopped when the signal aborts (see `runShell`). */
  readonly stopIntent?: () => 'interrupt' | 'cancel' | undefined;
}

/**
 * Runs one agent on `spec` and returns its output; throws a `TaskvisorError` when it fails
 * (`STEP_TIMEOUT`, `SHELL_FAILED`, `ACTION_FAILED`, `LLM_ERROR`, ...), for the escalation
 * chain to judge. The agent's own `timeoutMs` is armed here on the injected clock (CLI agents:
 * by `runShell`, which kills the process group).
 */
export async function runAgent(
  agent: AgentOption,
  spec: string,
  ctx: AgentContext,
  runner: AgentRunner,
): Promise<Json> {
  switch (agent.kind) {
    case 'cli': {
      if (!runner.sandbox)
        throw new TaskvisorError('SHELL_NOT_ALLOWED', `CLI agent "${agent.name}" needs a sandbox.`);
      const args = agent.args.map((arg) => arg.split(SPEC_PLACEHOLDER).join(spec));
      let pid: number | undefined;
      const ran = (run: Omit<CliAgentRun, 'command' | 'args' | 'pid'>) => {
        try {
          runner.onCliRun?.({ ...(pid === undefined ? {} : { pid }), command: agent.command, args, ...run });
        } catch {
          // An observer's failure does not change the agent's outcome.
        }
      };
      let result;
      try {
        result = await runShell(
          {
            command: agent.command,
            args,
            ...(agent.cwd === undefined ? {} : { cwd: agent.cwd }),
            ...(agent.env === undefined ? {} : { env: agent.env }),
            ...(agent.timeoutMs === undefined ? {} : { timeoutMs: agent.timeoutMs }),
          },
          runner.sandbox,
          {
            signal: ctx.signal,
            clock: runner.clock,
            tier: runner.tier,
            ...(runner.writtenBy ? { writtenBy: runner.writtenBy } : {}),
            ...(runner.artifact
              ? { onUnjailed: (reason: string) => recordUnjailed(runner.artifact!, agent.command, reason) }
              : {}),
            ...(runner.stopIntent ? { stopIntent: runner.stopIntent } : {}),
            onSpawn: (started) => {
              pid = started;
              ctx.log(`agent ${agent.name} started ${agent.command} (pid ${started})`, { pid: started });
            },
          },
        );
      } catch (error) {
        const outcome = (error instanceof TaskvisorError ? error.details : {}) as Partial<CliAgentRun> & {
          signal?: string | null;
        };
        if (pid !== undefined) {
          ran({
            exitCode: typeof outcome.exitCode === 'number' ? outcome.exitCode : null,
            signal: typeof outcome.signal === 'string' ? outcome.signal : null,
            stdout: typeof outcome.stdout === 'string' ? outcome.stdout : '',
            stderr: typeof outcome.stderr === 'string' ? outcome.stderr : '',
            ...(typeof outcome.durationMs === 'number' ? { durationMs: outcome.durationMs } : {}),
          });
        }
        throw error;
      }
      ran({
        exitCode: result.exitCode,
        signal: null,
        stdout: result.stdout,
        stderr: result.stderr,
        durationMs: result.durationMs,
      });
      return result.stdout;
    }
    case 'function':
      return withTimeout(agent, ctx, runner, async (signal) => {
        const result = await agent.run(spec, { ...ctx, signal });
        if (result === null || typeof result !== 'object') {
          throw new TaskvisorError(
            'ACTION_FAILED',
            `Agent "${agent.name}" returned ${quote(result)}; a function agent returns { output } (or { status: 'failed', error }).`,
            { agent: agent.name },
          );
        }
        if (result.usage && typeof result.usage.inputTokens === 'number') runner.onUsage?.(result.usage);
        if (result.status === 'failed') {
          throw new TaskvisorError(
            'ACTION_FAILED',
            `Agent "${agent.name}" reported failure${result.error ? `: ${result.error}` : ''}.`,
            { agent: agent.name, status: 'failed' },
          );
        }
        return toJsonOutput(result.output, `Agent "${agent.name}"`, { agent: agent.name });
      });
    case 'llm':
      return withTimeout(agent, ctx, runner, async (signal) => {
        if (!runner.llm) {
          throw new TaskvisorError(
            'INVALID_OPTION',
            `Agent "${agent.name}" is an LLM persona, but no model is configured; pass llm to createSupervisor (or delegate to a function or CLI agent).`,
            { agent: agent.name },
          );
        }
        const reply = await runner.llm.chat({
          messages: [
            { role: 'system', content: agent.system },
            { role: 'user', content: spec },
          ],
          ...(agent.model ? { model: agent.model } : {}),
          ...(agent.temperature === undefined ? {} : { temperature: agent.temperature }),
          ...(agent.maxTokens === undefined ? {} : { maxTokens: agent.maxTokens }),
          signal,
        });
        runner.onUsage?.({ ...reply.usage, model: reply.model });
        if (reply.text.trim() === '' || reply.finishReason === 'content_filter') {
          throw new TaskvisorError(
            'LLM_BAD_OUTPUT',
            `Agent "${agent.name}" (${reply.model}) gave no answer (finish reason "${reply.finishReason}").`,
            { agent: agent.name, finishReason: reply.finishReason },
          );
        }
        return reply.text;
      });
  }
}

/**
 * Runs `work` with the step's signal plus the agent's own timeout (its `timeoutMs`, else the
 * sandbox's limit for the tier) armed on the injected clock; the timeout rejects with
 * `STEP_TIMEOUT` even when `work` ignores its signal.
 */
async function withTimeout<T>(
  agent: FunctionAgent | LlmAgent,
  ctx: AgentContext,
  runner: AgentRunner,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const limit =
    agent.timeoutMs ?? runner.sandbox?.timeoutsMs[runner.tier] ?? DEFAULT_TIMEOUTS_MS[runner.tier];
  const timed = withDeadline(
    runner.clock,
    ctx.signal,
    runner.clock.now() + limit,
    () =>
      new TaskvisorError('STEP_TIMEOUT', `Agent "${agent.name}" timed out after ${limit} ms.`, {
        agent: agent.name,
        timeoutMs: limit,
      }),
  );
  try {
    return await Promise.race([work(timed.signal), whenAborted(timed.signal)]);
  } finally {
    timed.clear();
  }
}
