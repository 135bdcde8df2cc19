import fs from 'node:fs';
import path from 'node:path';

/**
 * Finds `name` on `searchPath` the way `which` does: the first directory holding an executable
 * regular file of that name. Relative and empty PATH entries are skipped, so what runs never
 * depends on the current directory.
 */
export function findOnPath(name: string, searchPath: string): string | undefined {
  for (const directory of searchPath.split(path.delimiter)) {
    if (!path.isAbsolute(directory)) continue;
    const candidate = path.join(directory, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** True when `file` (after symlinks) is a regular file this process may execute. */
export function isExecutableFile(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The canonical path (every symlink and `..` resolved by the kernel), or undefined if it does not exist. */
export function realPathOf(file: string): string | undefined {
  try {
    return fs.realpathSync.native(file);
  } catch {
    return undefined;
  }
}

/** The absolute directories of a PATH string, for error messages. */
export function searchDirectories(searchPath: string): string[] {
  return searchPath.split(path.delimiter).filter((directory) => path.isAbsolute(directory));
}
