/**
 * The supervisor options the built-in kinds read (`sandbox`, `agents`, `escalation`,
 * `channels`): their schemas for `createSupervisor`, and their resolution into the services
 * of `createBuiltinActions` and the plan checks of `parsePlan` (which binaries, agents and
 * channels a plan may name).
 */
import { z } from 'zod';
import type { PlanContext } from '../model/parse-plan.js';
import { shellEnvPlanCheck, shellPlanCheck } from '../sandbox/plan-check.js';
import { type ResolvedSandbox, resolveSandbox, type SandboxOptions } from '../sandbox/policy.js';
import { type AgentOption, AgentsOptionSchema, resolveAgents } from './agents.js';
import { type Channel, type ChannelsOption, ChannelsOptionSchema, resolveChannels } from './channels.js';
import {
  type EscalationOption,
  EscalationOptionSchema,
  type EscalationPolicy,
  resolveEscalation,
} from './escalation.js';

/** `sandbox`: checked in detail by `resolveSandbox` (messages name the field and the fix). */
export const SandboxOptionSchema = z.custom<SandboxOptions>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  "sandbox is an object like { allow: ['git'], cwd: '/path/to/repo' }",
);

/** The zod entries of `createSupervisor`'s options schema for the built-in kinds. */
export const BuiltinOptionSchemas = {
  sandbox: SandboxOptionSchema.optional(),
  agents: AgentsOptionSchema.optional(),
  escalation: EscalationOptionSchema.optional(),
  channels: ChannelsOptionSchema.optional(),
};

export interface BuiltinOptions {
  /** Where `shell` steps and CLI agents may run; without it no shell step may run. */
  readonly sandbox?: SandboxOptions;
  /** Delegates of `implement` steps. */
  readonly agents?: readonly AgentOption[];
  /** Fallback agents when an `implement` step's agent fails. */
  readonly escalation?: EscalationOption;
  /** `notify` channels besides `console`. */
  readonly channels?: ChannelsOption;
}

export interface ResolvedBuiltins {
  readonly sandbox?: ResolvedSandbox;
  readonly agents: ReadonlyMap<string, AgentOption>;
  readonly escalation: EscalationPolicy;
  readonly channels: ReadonlyMap<string, Channel>;
  /** What plans are checked against: allowed binaries (as the sandbox resolves them), agents, channels. */
  readonly planContext: Required<Pick<PlanContext, 'shellAllow' | 'agents' | 'channels'>> &
    Pick<PlanContext, 'shellCheck' | 'shellEnvCheck'>;
}

/**
 * Validates and resolves the built-in kinds' options. Throws `INVALID_OPTION` (or
 * `UNKNOWN_AGENT` for a fallback that is not an agent) naming the bad value and the fix.
 *
 * @example
 * ```ts
 * const builtins = resolveBuiltinOptions({ sandbox: { allow: ['git'], cwd: '.' }, channels: { file: { path: 'n.jsonl' } } });
 * builtins.planContext.channels; // ['console', 'file']
 * ```
 */
export function resolveBuiltinOptions(options: BuiltinOptions): ResolvedBuiltins {
  const sandbox = options.sandbox === undefined ? undefined : resolveSandbox(options.sandbox);
  const agents = resolveAgents(options.agents ?? [], sandbox);
  const escalation = resolveEscalation(options.escalation, agents.keys());
  const channels = resolveChannels(options.channels);
  return {
    ...(sandbox ? { sandbox } : {}),
    agents,
    escalation,
    channels,
    planContext: {
      shellAllow: sandbox ? [...sandbox.allow] : [],
      ...(sandbox ? { shellCheck: shellPlanCheck(sandbox), shellEnvCheck: shellEnvPlanCheck(sandbox) } : {}),
      agents: [...agents.keys()],
      channels: [...channels.keys()],
    },
  };
}
