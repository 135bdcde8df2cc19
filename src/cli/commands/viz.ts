/** `taskvisor viz [machine]`: a machine's Mermaid statechart, or `--out <dir>` to regenerate the diagram files. */
import path from 'node:path';
import { didYouMean } from '../../model/suggest.js';
import { DIAGRAMS } from '../../viz/diagrams.js';
import { toMermaid } from '../../viz/state-chart.js';
import { writeDiagrams } from '../../viz/write-diagrams.js';
import { type Io, printJson, printLine } from '../io.js';
import { CliError } from '../exit-codes.js';

export interface VizFlags {
  readonly json?: boolean;
  readonly out?: string;
}

export function vizCommand(machine: string | undefined, flags: VizFlags, io: Io): number {
  const names = DIAGRAMS.map((entry) => entry.name);
  if (flags.out !== undefined) {
    const directory = path.resolve(flags.out);
    const files = writeDiagrams(directory);
    if (flags.json)
      printJson(
        io,
        files.map((file) => path.join(directory, file)),
      );
    else
      for (const file of files)
        printLine(io, `wrote ${path.join(path.relative(process.cwd(), directory) || '.', file)}`);
    return 0;
  }
  const entries = machine === undefined ? DIAGRAMS : DIAGRAMS.filter((entry) => entry.name === machine);
  if (entries.length === 0) {
    throw new CliError(
      `no machine ${JSON.stringify(machine)}${didYouMean(machine!, names)}; the machines are ${names.join(', ')}.`,
    );
  }
  if (flags.json) {
    printJson(io, Object.fromEntries(entries.map((entry) => [entry.name, toMermaid(entry.machine)])));
    return 0;
  }
  for (const [index, entry] of entries.entries()) {
    if (entries.length > 1) printLine(io, `${index > 0 ? '\n' : ''}%% ${entry.title}`);
    io.stdout.write(`${toMermaid(entry.machine).trimEnd()}\n`);
  }
  return 0;
}
