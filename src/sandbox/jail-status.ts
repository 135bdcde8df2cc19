import fs from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * What bubblewrap reports on its `--json-status-fd`: first the jail's PID 1 (as this process
 * sees it) once the namespaces exist, then the command's exit code once it ended. No exit
 * code means the command never ran (the jail could not be set up, or exec failed).
 */
export class JailStatus {
  /** The jail's PID 1; its process group is the command's (bubblewrap's `--new-session`). */
  pid: number | undefined;
  /** The command's exit code (128 + n for a signal), when it ran and ended. */
  exitCode: number | undefined;
  private buffer = '';
  private readonly waiting: Array<(pid: number) => void> = [];

  constructor(stream: Readable | null | undefined) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => this.push(chunk));
    stream?.on('error', () => {
      // The jail is gone; what it reported is all there is.
    });
  }

  /** Calls `callback` with the jail's pid as soon as it is known. */
  onPid(callback: (pid: number) => void): void {
    if (this.pid !== undefined) callback(this.pid);
    else this.waiting.push(callback);
  }

  /**
   * Whether the jail is set up and its command started: bubblewrap's PID 1 forks the command
   * only after the mounts and the new session, so from then on the command's process group
   * exists and a SIGTERM to it reaches the command. Before, there is nobody to ask to stop.
   */
  commandStarted(): boolean {
    const pid = this.pid;
    if (pid === undefined) return false;
    try {
      return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '';
    } catch {
      return hasChild(pid);
    }
  }

  private push(chunk: string): void {
    this.buffer += chunk;
    // Each report is one JSON object; bubblewrap ends each with a newline.
    let end: number;
    while ((end = this.buffer.indexOf('}')) !== -1) {
      const text = this.buffer.slice(0, end + 1);
      this.buffer = this.buffer.slice(end + 1);
      let report: { 'child-pid'?: unknown; 'exit-code'?: unknown };
      try {
        report = JSON.parse(text.slice(text.indexOf('{'))) as typeof report;
      } catch {
        continue;
      }
      if (typeof report['child-pid'] === 'number' && this.pid === undefined) {
        this.pid = report['child-pid'];
        for (const callback of this.waiting.splice(0)) callback(this.pid);
      }
      if (typeof report['exit-code'] === 'number') this.exitCode = report['exit-code'];
    }
  }
}

/** Whether any process has `parent` as its parent (for kernels without /proc/<pid>/task/<pid>/children). */
function hasChild(parent: number): boolean {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === parent) return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
}
