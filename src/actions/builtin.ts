/**
 * The step kinds every supervisor has, built from the services its options configure.
 * `note` returns its `output` as given (seeds, summaries, tests).
 */
import type { Clock } from '../clock.js';
import type { EpisodicMemory } from '../memory/episodic-memory.js';
import type { Json } from '../model/json.js';
import type { ActionFunction } from '../runtime/executor.js';
import type { ResolvedSandbox } from '../sandbox/policy.js';
import type { AgentOption } from './agents.js';
import { type Channel, resolveChannels } from './channels.js';
import type { EscalationPolicy } from './escalation.js';
import { createImplementAction } from './implement.js';
import { createFanoutAction, type FanoutServices } from './fanout.js';
import { createNotifyAction } from './notify.js';
import { researchAction, reviewAction } from './research.js';
import { createShellAction } from './shell.js';

/** What the built-in kinds need from the supervisor's options. */
export interface BuiltinServices {
  readonly clock: Clock;
  /** `shell` steps and CLI agents run here; without it every shell step is refused. */
  readonly sandbox?: ResolvedSandbox;
  /** `implement` delegates, by name. */
  readonly agents?: ReadonlyMap<string, AgentOption>;
  readonly escalation?: EscalationPolicy;
  /** `notify` channels, by name (default: `console` only). */
  readonly channels?: ReadonlyMap<string, Channel>;
  /** Recalled into `implement` specs. */
  readonly memory?: EpisodicMemory;
  /** What `fanout` steps need from the runtime. */
  readonly fanout?: FanoutServices;
}

const note: ActionFunction = (input) => ({ output: (input.output ?? null) as Json });

export function createBuiltinActions(services: BuiltinServices): Map<string, ActionFunction> {
  const { clock, sandbox, escalation, memory } = services;
  return new Map<string, ActionFunction>([
    ['note', note],
    ['research', researchAction],
    ['review', reviewAction],
    ...(services.fanout
      ? [
          [
            'fanout',
            createFanoutAction({
              ...services.fanout,
              ...(services.agents ? { agents: services.agents } : {}),
              ...(sandbox ? { sandbox } : {}),
            }),
          ] as const,
        ]
      : []),
    ['shell', createShellAction({ clock, ...(sandbox ? { sandbox } : {}) })],
    [
      'implement',
      createImplementAction({
        clock,
        agents: services.agents ?? new Map(),
        ...(escalation ? { escalation } : {}),
        ...(sandbox ? { sandbox } : {}),
        ...(memory ? { memory } : {}),
      }),
    ],
    ['notify', createNotifyAction({ clock, channels: services.channels ?? resolveChannels(undefined) })],
  ]);
}
