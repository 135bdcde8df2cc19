/**
 * A PostgreSQL cluster of a test's own, for tests that stop and start the server under a
 * running worker (the shared test server must not go away under the other test files):
 * initdb into a temporary directory as the `postgres` OS user, 127.0.0.1, a free port,
 * trust authentication on the loopback only. `dispose()` stops it and removes it.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function newestBin(): string | undefined {
  if (process.env.TASKVISOR_TEST_PG_BIN) return process.env.TASKVISOR_TEST_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((name) => fs.existsSync(path.join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(a) - Number(b));
  const newest = versions.at(-1);
  return newest ? path.join(root, newest, 'bin') : undefined;
}

export const PG_BIN = newestBin();
const isRoot = process.getuid?.() === 0;

/** Why a private cluster cannot be started here, or undefined when it can. */
export const privateClusterUnavailable: string | undefined = !PG_BIN
  ? 'no PostgreSQL server binaries (apt-get install postgresql)'
  : !isRoot
    ? 'starting a private cluster needs root (to run initdb as the postgres OS user)'
    : undefined;

export interface PrivateCluster {
  readonly url: string;
  readonly port: number;
  /** `pg_ctl stop -m fast` (every connection is cut). */
  stop(): void;
  /** `pg_ctl start` on the same port. */
  start(): void;
  dispose(): void;
}

function asPostgres(args: string[]): void {
  const result = spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  if (privateClusterUnavailable) throw new Error(privateClusterUnavailable);
  const bin = PG_BIN!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'taskvisor-pg-own-'));
  fs.chownSync(dir, ...ids());
  const data = path.join(dir, 'data');
  const port = await freePort();
  asPostgres([
    path.join(bin, 'initdb'),
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
  ]);
  const start = () =>
    asPostgres([
      path.join(bin, 'pg_ctl'),
      '-D',
      data,
      '-l',
      path.join(dir, 'server.log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=100`,
      'start',
    ]);
  const stop = () => asPostgres([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    dispose: () => {
      try {
        asPostgres([path.join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // Already stopped.
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The uid and gid of the postgres OS user. */
function ids(): [number, number] {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'));
  const fields = line?.split(':');
  if (!fields) throw new Error('no postgres OS user (the postgresql package creates it)');
  return [Number(fields[2]), Number(fields[3])];
}
