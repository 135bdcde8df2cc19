/** Where a command writes: stdout and stderr (tests and the monitor pass their own). */
export interface Io {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(io: Io, text = ''): void {
  io.stdout.write(`${text}\n`);
}
