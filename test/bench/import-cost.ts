/**
 * `node .bench/test/bench/import-cost.js`: what importing the package costs in a fresh
 * process (nothing else loaded first), and when the process got there since it started.
 */
const started = performance.now();
await import('../../src/index.js');
const ms = performance.now() - started;
console.log(
  JSON.stringify({
    scenario: 'I',
    importMs: Math.round(ms),
    sinceProcessStartMs: Math.round(performance.now()),
    note: 'import of the package index in a fresh process',
  }),
);
