#!/usr/bin/env node
/**
 * The `taskvisor` command. Today it prints what it will do; commands land with the
 * runtime (see the README for what works now).
 */
const HELP = `taskvisor — a durable, inspectable supervisor for AI-agent work

Usage: taskvisor <command> [options]

Commands (coming with the runtime):
  run <plan.json | "goal">   start a run and follow it to the end
  ls | show | watch | trace  read runs from the database
  approve | reject | answer  answer what a run waits for
  cancel | control           stop a run, or control one step
  resume [run]               drive unfinished runs to the end
  fanout "<prompt>"          one prompt to several models
  viz [machine]              print the statechart diagrams
  serve                      local web monitor

Every command takes --db <path> and --json.
`;

const [command] = process.argv.slice(2);
if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write(HELP);
} else {
  process.stderr.write(
    `taskvisor: "${command}" is not available yet in this version; run "taskvisor --help".\n`,
  );
  process.exitCode = 2;
}
