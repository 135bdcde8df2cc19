/**
 * The `implement` step kind: delegates a spec to an agent, escalating through the fallbacks
 * on failure and, when every agent failed, asking a human (retry / skip / fail, or guidance
 * for another round). Relevant past episodes are recalled into the spec under a size budget,
 * and every agent's attempt is recorded as a `delegation` artifact, which episodic memory
 * and the audit trail pick up.
 */
import type { Clock } from '../clock.js';
import { TaskvisorError } from '../errors.js';
import type { Episode } from '../store/rows.js';
import { clip, type DelegationRecord } from '../memory/episodes.js';
import { type EpisodicMemory, renderEpisodes } from '../memory/episodic-memory.js';
import type { Answer } from '../model/events.js';
import type { Json } from '../model/json.js';
import type { ActionContext, ActionFunction } from '../runtime/executor.js';
import type { ResolvedSandbox } from '../sandbox/policy.js';
import { type AgentOption, runAgent, unknownAgent } from './agents.js';
import { agentChain, type EscalationPolicy, judgeAgentFailure, NO_ESCALATION } from './escalation.js';

/** Characters of recalled episodes added to a delegation spec, by default. */
export const DEFAULT_EPISODE_BUDGET_CHARS = 2000;

export interface ImplementServices {
  readonly clock: Clock;
  readonly agents: ReadonlyMap<string, AgentOption>;
  readonly escalation?: EscalationPolicy;
  readonly sandbox?: ResolvedSandbox;
  readonly memory?: EpisodicMemory;
  /** Characters of recalled episodes added to a spec (0: none). */
  readonly episodeBudgetChars?: number;
}

/** One agent's try, as the step's output lists it. */
export interface DelegationAttempt {
  agent: string;
  round: number;
  outcome: 'succeeded' | 'failed';
  durationMs: number;
  error?: { code?: string; message: string };
}

/** What an `implement` step outputs. */
export interface ImplementOutput {
  /** The agent that produced `output` (null when a human skipped the step). */
  agent: string | null;
  /**
   * How the step recovered when its own agent did not succeed on the first pass: the
   * fallback agent that produced the output, or `human` when a human skipped it; null when
   * the step's agent succeeded at once.
   */
  recoveredVia: string | null;
  output: Json;
  /** Rounds through the chain (a human's retry starts another). */
  rounds: number;
  attempts: DelegationAttempt[];
  skipped?: true;
  /** What humans answered when every agent had failed. */
  decisions?: Array<{ round: number; decision: 'retry' | 'skip' | 'fail'; guidance?: string }>;
}

type Decision = { decision: 'retry' | 'skip' | 'fail'; guidance?: string };

const QUESTION_OPTIONS = [
  { id: 'retry', label: 'Run the agents again' },
  { id: 'skip', label: 'Skip: go on without a result' },
  { id: 'fail', label: 'Fail the step' },
];

/**
 * The `implement` action over the configured agents.
 *
 * @example
 * ```ts
 * const implement = createImplementAction({ clock: systemClock, agents: resolveAgents(options.agents) });
 * ```
 */
export function createImplementAction(services: ImplementServices): ActionFunction {
  const policy = services.escalation ?? NO_ESCALATION;
  return async (input, ctx) => {
    const primary = input.agent;
    const spec = input.spec;
    if (typeof primary !== 'string' || typeof spec !== 'string') {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `An implement step needs { agent, spec } (strings), got agent ${JSON.stringify(primary)} and spec ${JSON.stringify(spec)}.`,
        { retryable: false },
      );
    }
    if (!services.agents.has(primary)) {
      const error = unknownAgent(primary, services.agents.keys(), `Step "${ctx.stepId}"`);
      throw new TaskvisorError(error.code, error.message, { ...error.details, retryable: false });
    }

    const episodes = await recall(services, spec);
    const recalled = renderEpisodes(episodes, services.episodeBudgetChars ?? DEFAULT_EPISODE_BUDGET_CHARS);
    if (episodes.length > 0) {
      ctx.log(`recalled ${episodes.length} past episode(s) into the spec`, {
        episodes: episodes.map((episode) => episode.id),
      });
    }
    const attempts: DelegationAttempt[] = [];
    const decisions: NonNullable<ImplementOutput['decisions']> = [];
    const guidance: string[] = [];

    for (let round = 1; ; round++) {
      const chain = agentChain(primary, policy);
      for (const [index, name] of chain.entries()) {
        const agent = services.agents.get(name)!;
        const fullSpec = composeSpec(spec, recalled, guidance);
        const startedAt = services.clock.now();
        try {
          const output = await runAgent(
            agent,
            fullSpec,
            {
              signal: ctx.signal,
              runId: ctx.runId,
              stepId: ctx.stepId,
              attempt: ctx.attempt,
              idempotencyKey: ctx.idempotencyKey,
              agent: name,
              round,
              originalSpec: spec,
              episodes,
              log: (message, data) => ctx.log(message, data),
              ask: (question) => ctx.ask(question),
            },
            {
              clock: services.clock,
              tier: ctx.tier,
              ...(ctx.writtenBy ? { writtenBy: ctx.writtenBy } : {}),
              artifact: (kind, artifactName, body) => ctx.artifact(kind, artifactName, body),
              ...(services.sandbox ? { sandbox: services.sandbox } : {}),
              ...(ctx.llm ? { llm: ctx.llm } : {}),
            },
          );
          const durationMs = services.clock.now() - startedAt;
          attempts.push({ agent: name, round, outcome: 'succeeded', durationMs });
          record(ctx, agent, { round, outcome: 'succeeded', spec, durationMs, result: preview(output) });
          const recoveredVia = name === primary && round === 1 ? null : name;
          if (recoveredVia) ctx.log(`recovered via agent ${name}`);
          const result: ImplementOutput = {
            agent: name,
            recoveredVia,
            output,
            rounds: round,
            attempts,
            ...(decisions.length > 0 ? { decisions } : {}),
          };
          return { output: result };
        } catch (error) {
          const durationMs = services.clock.now() - startedAt;
          const failure = describe(error);
          record(ctx, agent, { round, outcome: 'failed', spec, durationMs, error: failure });
          const verdict = judgeAgentFailure(error, policy, ctx.signal.aborted);
          if (verdict === 'propagate') throw error;
          attempts.push({ agent: name, round, outcome: 'failed', durationMs, error: failure });
          const next = chain[index + 1];
          ctx.log(
            `agent ${name} failed (${failure.code ?? 'error'}): ${failure.message}${
              verdict === 'escalate' && next ? `; escalating to ${next}` : '; asking a human'
            }`,
          );
          if (verdict === 'ask') break;
        }
      }

      const failed = attempts.filter((attempt) => attempt.round === round);
      const answer = await ctx.ask({
        key: `escalation-attempt${ctx.attempt}-round${round}`,
        question: question(ctx.stepId, round, failed),
        options: QUESTION_OPTIONS,
      });
      const decision = decide(answer);
      decisions.push({ round, ...decision });
      if (decision.decision === 'fail') {
        throw new TaskvisorError(
          'ACTION_FAILED',
          `Step ${ctx.stepId}: every agent failed (${failed.map((attempt) => attempt.agent).join(', ')}) and a human chose to fail the step.`,
          { retryable: false, attempts: attempts as unknown as Json },
        );
      }
      if (decision.decision === 'skip') {
        const result: ImplementOutput = {
          agent: null,
          recoveredVia: 'human',
          output: null,
          rounds: round,
          attempts,
          skipped: true,
          decisions,
        };
        return { output: result };
      }
      if (decision.guidance) guidance.push(decision.guidance);
    }
  };
}

async function recall(services: ImplementServices, spec: string): Promise<Episode[]> {
  if (!services.memory || (services.episodeBudgetChars ?? DEFAULT_EPISODE_BUDGET_CHARS) <= 0) return [];
  return services.memory.search(spec, { limit: 5 });
}

/** The spec an agent reads: the step's spec, then recalled episodes, then a human's guidance. */
export function composeSpec(spec: string, recalled: string, guidance: readonly string[]): string {
  const parts = [spec];
  if (recalled) parts.push(recalled);
  if (guidance.length > 0) {
    parts.push(
      `Guidance from a human after earlier attempts failed:\n${guidance.map((line) => `- ${line}`).join('\n')}`,
    );
  }
  return parts.join('\n\n');
}

/** A human's answer as a decision: an option, one of its words as text, or guidance (retry with it). */
export function decide(answer: Answer): Decision {
  const option = answer.optionId ?? answer.text?.trim().toLowerCase();
  if (option === 'retry' || option === 'skip' || option === 'fail') return { decision: option };
  const text = answer.text?.trim();
  return text ? { decision: 'retry', guidance: text } : { decision: 'retry' };
}

function question(stepId: string, round: number, failed: readonly DelegationAttempt[]): string {
  const lines = failed.map(
    (attempt) =>
      `- ${attempt.agent}: ${attempt.error?.code ? `${attempt.error.code}: ` : ''}${clip(attempt.error?.message ?? 'failed', 300)}`,
  );
  return [
    `Every agent failed on step "${stepId}"${round > 1 ? ` (round ${round})` : ''}:`,
    ...lines,
    'Answer "retry" to run the agents again, "skip" to go on without a result, or "fail" to fail the step; or write guidance and the agents retry with it.',
  ].join('\n');
}

function describe(error: unknown): { code?: string; message: string } {
  if (error instanceof TaskvisorError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { message: error.message };
  return { message: String(error) };
}

function preview(output: Json): string {
  const text = typeof output === 'string' ? output : JSON.stringify(output);
  return clip(text ?? 'null', 1500);
}

function record(
  ctx: ActionContext,
  agent: AgentOption,
  facts: Omit<DelegationRecord, 'agent' | 'agentKind'>,
): void {
  const body: DelegationRecord = {
    agent: agent.name,
    agentKind: agent.kind,
    ...facts,
    spec: clip(facts.spec, 4000),
  };
  ctx.artifact('delegation', agent.name, body as unknown as Json);
}
