/**
 * The live fan-outs of the runs driven here, by run and step, so a worker control (a
 * `control()` naming a worker label) reaches the fan-out handle that owns the worker.
 */
import type { StepControlAction } from '../../machines/protocol.js';
import { TaskvisorError } from '../errors.js';
import type { FanoutHandle } from '../fanout/run-fanout.js';

export class FanoutRegistry {
  private readonly runs = new Map<string, Map<string, FanoutHandle>>();

  /** Makes a fan-out step's handle reachable; returns its unregister function. */
  register(runId: string, stepId: string, handle: FanoutHandle): () => void {
    const steps = this.runs.get(runId) ?? new Map<string, FanoutHandle>();
    steps.set(stepId, handle);
    this.runs.set(runId, steps);
    return () => {
      if (steps.get(stepId) !== handle) return;
      steps.delete(stepId);
      if (steps.size === 0) this.runs.delete(runId);
    };
  }

  /** Applies a control to a worker; the error when it does not fit (or the fan-out is not live here). */
  control(
    runId: string,
    stepId: string,
    label: string,
    action: StepControlAction,
    by: string | undefined,
  ): TaskvisorError | undefined {
    const handle = this.runs.get(runId)?.get(stepId);
    if (!handle) {
      return new TaskvisorError(
        'INVALID_STATE',
        `The fan-out of step ${stepId} in run ${runId} is not running here, so worker "${label}" cannot be controlled; control the step instead.`,
        { runId, stepId, label, action },
      );
    }
    try {
      handle.control(label, action, by === undefined ? {} : { by });
      return undefined;
    } catch (error) {
      if (error instanceof TaskvisorError) return error;
      throw error;
    }
  }
}
