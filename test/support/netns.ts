/**
 * A "different host" for tests: a network namespace of its own (`ip netns`), joined to
 * the test's namespace by a veth pair, and a UTS namespace with its own hostname for the
 * process started in it. The database server listens on the loopback only, so the test
 * forwards one TCP port from its end of the veth pair to it: the process in the
 * namespace reaches the server only through the veth pair, as a remote host would.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';

function run(args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stderr ?? ''}${result.stdout ?? ''}`.trim() };
}

function probe(): string | undefined {
  if (process.getuid?.() !== 0) return 'creating network namespaces needs root';
  for (const binary of ['ip', 'unshare', 'hostname']) {
    if (!run(['sh', '-c', `command -v ${binary}`]).ok) return `${binary} is not installed`;
  }
  const name = `tvprobe${randomBytes(3).toString('hex')}`;
  const added = run(['ip', 'netns', 'add', name]);
  if (!added.ok) return `ip netns add failed: ${added.output}`;
  run(['ip', 'netns', 'del', name]);
  return undefined;
}

/** Why a second host cannot be made here, or undefined when it can. */
export const remoteHostUnavailable: string | undefined = probe();

export interface RemoteHost {
  /** The hostname processes started in it see. */
  readonly hostname: string;
  /** The address and port (on the veth pair) that reach `targetPort` on the test's loopback. */
  readonly address: string;
  readonly port: number;
  /** The command prefix that runs a program in the namespace with the host's own hostname. */
  command(program: string, args: readonly string[]): { file: string; args: string[] };
  dispose(): Promise<void>;
}

export async function createRemoteHost(targetPort: number): Promise<RemoteHost> {
  if (remoteHostUnavailable) throw new Error(remoteHostUnavailable);
  const tag = randomBytes(3).toString('hex');
  const ns = `tv${tag}`;
  const outer = `tvh${tag}`;
  const inner = `tvn${tag}`;
  const subnet = 1 + (parseInt(tag.slice(0, 2), 16) % 250);
  const address = `10.232.${subnet}.1`;
  const innerAddress = `10.232.${subnet}.2`;
  const steps = [
    ['ip', 'netns', 'add', ns],
    ['ip', 'link', 'add', outer, 'type', 'veth', 'peer', 'name', inner],
    ['ip', 'link', 'set', inner, 'netns', ns],
    ['ip', 'addr', 'add', `${address}/30`, 'dev', outer],
    ['ip', 'link', 'set', outer, 'up'],
    ['ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', `${innerAddress}/30`, 'dev', inner],
    ['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', inner, 'up'],
    ['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up'],
  ];
  const teardown = () => {
    run(['ip', 'netns', 'del', ns]);
    run(['ip', 'link', 'del', outer]);
  };
  for (const step of steps) {
    const result = run(step);
    if (!result.ok) {
      teardown();
      throw new Error(`${step.join(' ')} failed: ${result.output}`);
    }
  }
  const sockets = new Set<net.Socket>();
  const forward = net.createServer((incoming) => {
    const outgoing = net.connect(targetPort, '127.0.0.1');
    sockets.add(incoming);
    sockets.add(outgoing);
    incoming.pipe(outgoing).pipe(incoming);
    const close = () => {
      incoming.destroy();
      outgoing.destroy();
      sockets.delete(incoming);
      sockets.delete(outgoing);
    };
    incoming.on('error', close).on('close', close);
    outgoing.on('error', close).on('close', close);
  });
  const port = await new Promise<number>((resolve, reject) => {
    forward.on('error', reject);
    forward.listen(0, address, () => resolve((forward.address() as net.AddressInfo).port));
  });
  const hostname = `remote-${tag}`;
  return {
    hostname,
    address,
    port,
    command: (program, args) => ({
      file: 'ip',
      // `ip netns exec` and `unshare` (without --fork) exec: the pid is the program's.
      args: [
        'netns',
        'exec',
        ns,
        'unshare',
        '--uts',
        '--',
        'sh',
        '-c',
        `hostname ${hostname} && exec "$0" "$@"`,
        program,
        ...args,
      ],
    }),
    dispose: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => forward.close(() => resolve()));
      teardown();
    },
  };
}
