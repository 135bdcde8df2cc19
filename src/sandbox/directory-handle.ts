import fs from 'node:fs';
import { TaskvisorError } from '../errors.js';

/** An open directory (or file), checked to be the canonical path it was opened as. */
export interface DirectoryHandle {
  readonly fd: number;
  /** The canonical path it had when it was opened and checked. */
  readonly path: string;
  /** `<st_dev>:<st_ino>` of what was opened: the jail's start-up check compares against it. */
  readonly id: string;
  /** A path the kernel resolves to this very directory, whatever happens to `path` meanwhile. */
  readonly procPath: string;
  close(): void;
}

/**
 * Opens `canonical` (a realpath, as `confineCwd` returns; a file too with `fileToo`) and checks,
 * through the open descriptor, that the directory opened really is there: a directory swapped for a symlink
 * between the check and the open is refused with `SANDBOX_ESCAPE`. From then on the
 * descriptor, not the path, names the directory — a child started in `procPath`, or a jail
 * binding the descriptor, gets the directory that was checked even if the path is swapped later.
 */
export function openDirectory(
  canonical: string,
  what: string,
  options: { readonly fileToo?: boolean } = {},
): DirectoryHandle {
  let fd: number;
  try {
    fd = fs.openSync(
      canonical,
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | (options.fileToo ? 0 : fs.constants.O_DIRECTORY),
    );
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') throw swapped(canonical, what, 'a symlink or a file');
    throw new TaskvisorError(
      'ACTION_FAILED',
      `${what} "${canonical}" could not be opened (${code ?? String(error)}); check that it exists and is readable.`,
      { path: canonical, code: code ?? null },
      { cause: error },
    );
  }
  const procPath = `/proc/self/fd/${fd}`;
  let opened: string | undefined;
  try {
    opened = fs.readlinkSync(procPath);
  } catch {
    opened = undefined;
  }
  if (opened !== canonical) {
    fs.closeSync(fd);
    throw swapped(canonical, what, opened === undefined ? 'something else' : `"${opened}"`);
  }
  const stat = fs.fstatSync(fd, { bigint: true });
  let closed = false;
  return {
    fd,
    path: canonical,
    id: `${stat.dev}:${stat.ino}`,
    procPath,
    close: () => {
      if (closed) return;
      closed = true;
      fs.closeSync(fd);
    },
  };
}

function swapped(canonical: string, what: string, found: string): TaskvisorError {
  return new TaskvisorError(
    'SANDBOX_ESCAPE',
    `${what} "${canonical}" was replaced by ${found} while it was being checked; the step does not run anywhere else. Stop whatever swaps directories in the sandbox.`,
    { path: canonical, found },
  );
}
