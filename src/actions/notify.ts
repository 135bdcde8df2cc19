/**
 * The `notify` step kind: sends its message on a channel (`console` when the step names
 * none) and records each delivery, delivered or not, as a `notification` artifact.
 */
import type { Clock } from '../clock.js';
import { isTaskvisorError, TaskvisorError } from '../errors.js';
import { didYouMean } from '../model/suggest.js';
import type { ActionFunction } from '../runtime/executor.js';
import type { Channel, NotifyMessage } from './channels.js';

/** What a `notify` step outputs. */
export interface NotifyOutput {
  channel: string;
  delivered: true;
  attempts: number;
  status?: number;
}

/**
 * The `notify` action over the resolved channels.
 *
 * @example
 * ```ts
 * const notify = createNotifyAction({ clock: systemClock, channels: resolveChannels({ file: { path: 'notes.jsonl' } }) });
 * ```
 */
export function createNotifyAction(services: {
  readonly clock: Clock;
  readonly channels: ReadonlyMap<string, Channel>;
}): ActionFunction {
  return async (input, ctx) => {
    const name = typeof input.channel === 'string' ? input.channel : 'console';
    if (typeof input.message !== 'string') {
      throw new TaskvisorError(
        'INVALID_OPTION',
        `A notify step needs a message (a string), got ${JSON.stringify(input.message)}.`,
        { retryable: false },
      );
    }
    const channel = services.channels.get(name);
    if (!channel) {
      const known = [...services.channels.keys()];
      throw new TaskvisorError(
        'UNKNOWN_CHANNEL',
        `Step "${ctx.stepId}" notifies channel "${name}", which is not configured${didYouMean(name, known)}; channels: ${known.map((k) => `"${k}"`).join(', ')}. Add it to createSupervisor({ channels }).`,
        { channel: name, known, retryable: false },
      );
    }
    const message: NotifyMessage = {
      channel: name,
      message: input.message,
      runId: ctx.runId,
      stepId: ctx.stepId,
      idempotencyKey: ctx.idempotencyKey,
      at: services.clock.now(),
    };
    try {
      const receipt = await channel(message, { signal: ctx.signal, clock: services.clock });
      ctx.artifact('notification', name, {
        channel: name,
        message: message.message,
        delivered: true,
        attempts: receipt.attempts,
        ...(receipt.status === undefined ? {} : { status: receipt.status }),
        ...(receipt.path === undefined ? {} : { path: receipt.path }),
      });
      const output: NotifyOutput = {
        channel: name,
        delivered: true,
        attempts: receipt.attempts,
        ...(receipt.status === undefined ? {} : { status: receipt.status }),
      };
      return { output };
    } catch (error) {
      const details = isTaskvisorError(error) ? error.details : {};
      ctx.artifact('notification', name, {
        channel: name,
        message: message.message,
        delivered: false,
        attempts: typeof details.attempts === 'number' ? details.attempts : 1,
        ...(typeof details.status === 'number' ? { status: details.status } : {}),
        error: error instanceof Error ? error.message : String(error),
      });
      if (isTaskvisorError(error)) throw error;
      throw new TaskvisorError(
        'DELIVERY_FAILED',
        `Channel "${name}" failed to deliver: ${error instanceof Error ? error.message : String(error)}.`,
        { channel: name },
        { cause: error },
      );
    }
  };
}
