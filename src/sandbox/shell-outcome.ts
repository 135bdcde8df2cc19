/** What a shell command ran to: its result, or the facts of its failure. */
/** A run that exited with code 0. */
export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  /** The canonical path of the binary that ran. */
  command: string;
  args: string[];
  /** `'jail'`: it ran in the jail; `'none'`: under the policy sandbox alone. */
  isolation: 'jail' | 'none';
  /** With `sandbox.isolation: 'auto'`, why the jail could not be had (the run went ahead without it). */
  unjailed?: string;
}

/** What a failed, timed-out or aborted run got: the `details` of its error. */
export interface ShellOutcome extends Omit<ShellResult, 'exitCode'> {
  /** Null when a signal ended it. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The command as the step named it. */
  requested: string;
}
