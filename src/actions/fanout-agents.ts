/**
 * Agents as fan-out targets: a `{ agent }` target's worker runs the agent (function, LLM
 * persona or CLI) with the fan-out's prompt as its spec. A function agent may `ctx.ask()` a
 * human (the question is the step's, keyed by the worker's label, journaled across a crash);
 * an LLM persona's calls go through the run's meter; a CLI agent runs under the shell rules,
 * its pid logged and its stdout/stderr kept as a `fanout-agent` artifact per attempt, SIGINT
 * to its process group on `interrupt`, killed on `cancel`. Usage is recorded where the agent
 * reports it.
 */
import type { Clock } from '../clock.js';
import type { AgentAttempt, FanoutAgent } from '../fanout/call-model.js';
import { costOf, type Prices } from '../llm/prices.js';
import type { Json } from '../model/json.js';
import type { ActionContext } from '../runtime/executor.js';
import type { ResolvedSandbox } from '../sandbox/policy.js';
import { type AgentOption, type AgentUsage, runAgent, unknownAgent } from './agents.js';

export interface FanoutAgentServices {
  readonly clock: Clock;
  readonly prices: Prices;
  readonly agents: ReadonlyMap<string, AgentOption>;
  readonly sandbox?: ResolvedSandbox;
}

/** The text a worker keeps from an agent's output (a string as is, anything else as JSON). */
function answerText(output: Json): string {
  return typeof output === 'string' ? output : JSON.stringify(output);
}

/**
 * The runner of agent `name` for the workers of one fan-out step.
 *
 * @example
 * ```ts
 * const coder = fanoutAgent('coder', ctx, { clock, prices, agents });
 * const { text } = await coder.run({ label: 'coder#1', attempt: 1, prompt, signal, stopIntent: () => undefined });
 * ```
 */
export function fanoutAgent(name: string, ctx: ActionContext, services: FanoutAgentServices): FanoutAgent {
  const agent = services.agents.get(name);
  if (!agent) throw unknownAgent(name, services.agents.keys(), `Fan-out step "${ctx.stepId}"`);
  return {
    settlesOnAbort: agent.kind === 'cli',
    run: async (attempt: AgentAttempt) => {
      const { label } = attempt;
      let usage: { inputTokens: number; outputTokens: number; costUsd: number } | undefined;
      const addUsage = (spent: AgentUsage) => {
        const costUsd =
          spent.costUsd ??
          (spent.model === undefined ? 0 : costOf(spent, spent.model, services.prices).costUsd);
        usage = {
          inputTokens: (usage?.inputTokens ?? 0) + spent.inputTokens,
          outputTokens: (usage?.outputTokens ?? 0) + spent.outputTokens,
          costUsd: Math.round(((usage?.costUsd ?? 0) + costUsd) * 1e9) / 1e9,
        };
      };
      const output = await runAgent(
        agent,
        attempt.prompt,
        {
          signal: attempt.signal,
          runId: ctx.runId,
          stepId: ctx.stepId,
          attempt: attempt.attempt,
          idempotencyKey: `${ctx.idempotencyKey}/${label}`,
          agent: name,
          round: 1,
          originalSpec: attempt.prompt,
          episodes: [],
          log: (message, data) => ctx.log(`worker ${label}: ${message}`, data),
          // The worker's questions are the step's, keyed by the worker's label.
          ask: (question) => ctx.ask({ ...question, key: `${label}/${question.key}` }),
        },
        {
          clock: services.clock,
          tier: ctx.tier,
          ...(ctx.writtenBy ? { writtenBy: ctx.writtenBy } : {}),
          ...(services.sandbox ? { sandbox: services.sandbox } : {}),
          ...(ctx.llm ? { llm: { model: ctx.llm.model, chat: (request) => ctx.llm!.chat(request) } } : {}),
          artifact: (kind, artifactName, body) => ctx.artifact(kind, artifactName, body),
          onUsage: addUsage,
          stopIntent: attempt.stopIntent,
          onCliRun: (run) =>
            ctx.artifact('fanout-agent', `${label} attempt ${attempt.attempt}`, {
              label,
              agent: name,
              attempt: attempt.attempt,
              ...(run.pid === undefined ? {} : { pid: run.pid }),
              command: run.command,
              args: [...run.args],
              exitCode: run.exitCode,
              signal: run.signal,
              stdout: run.stdout,
              stderr: run.stderr,
              ...(run.durationMs === undefined ? {} : { durationMs: run.durationMs }),
            }),
        },
      );
      return { text: answerText(output), ...(usage ? { usage } : {}) };
    },
  };
}
