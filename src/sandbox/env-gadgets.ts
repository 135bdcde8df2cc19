import path from 'node:path';
import type { ResolvedSandbox } from './policy.js';

/**
 * Environment variables a step's `env` may not set: each makes some program load or run code
 * the step names, so setting it turns any allowed binary (or a script an allowed binary runs)
 * into "run this". Refused with `SANDBOX_ESCAPE` when a plan is validated and again before a
 * command starts, inside the jail too. Exact names, then prefixes (`LD_` covers `LD_PRELOAD`,
 * `LD_LIBRARY_PATH`, `LD_AUDIT`, ...).
 *
 * Variables the embedder passes through with `sandbox.env` are not checked: they are the
 * embedder's, not the plan's.
 */
export const ENV_GADGETS: Readonly<Record<string, string>> = Object.freeze({
  // shells
  BASH_ENV: 'bash runs the file it names before any script (ldd, zcat and many tools are scripts)',
  ENV: 'sh and bash run the file it names at start-up',
  SHELLOPTS: 'it switches on bash options such as xtrace, whose PS4 runs command substitutions',
  BASHOPTS: 'it switches on bash options in every bash script',
  PS4: 'bash expands it (command substitutions included) for every traced line',
  PROMPT_COMMAND: 'bash runs it before every prompt',
  ZDOTDIR: 'zsh runs the start-up files of the directory it names',
  // node and npm
  NODE_OPTIONS: 'node takes --require / --import from it, so any node program loads code first',
  NODE_PATH: 'node resolves modules from it, so a planted module replaces a real one',
  NODE_REPL_EXTERNAL_MODULE: 'node loads the module it names instead of the REPL',
  // git
  GIT_CONFIG: 'git reads configuration (aliases, hooks, core.fsmonitor) from the file it names',
  GIT_CONFIG_GLOBAL: 'git reads configuration (aliases, hooks, core.fsmonitor) from the file it names',
  GIT_CONFIG_SYSTEM: 'git reads configuration (aliases, hooks, core.fsmonitor) from the file it names',
  GIT_CONFIG_COUNT:
    'with GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n it sets any git option (core.pager, alias.x = !cmd)',
  GIT_CONFIG_PARAMETERS: 'git takes options from it as if given with -c',
  GIT_DIR: 'git reads the configuration (and hooks) of the repository it names',
  GIT_COMMON_DIR: 'git reads the configuration (and hooks) of the repository it names',
  GIT_EXEC_PATH: 'git runs its sub-commands from the directory it names',
  GIT_TEMPLATE_DIR: 'git copies hooks from the directory it names into new repositories',
  GIT_SSH: 'git runs it to reach a remote',
  GIT_SSH_COMMAND: 'git runs it to reach a remote',
  GIT_PROXY_COMMAND: 'git runs it to reach a remote',
  GIT_ASKPASS: 'git runs it to ask for a password',
  GIT_EDITOR: 'git runs it as the editor',
  GIT_PAGER: 'git runs it as the pager',
  GIT_EXTERNAL_DIFF: 'git runs it for every diff',
  // programs other programs start
  EDITOR: 'programs run it as the editor',
  VISUAL: 'programs run it as the editor',
  PAGER: 'programs run it as the pager',
  MANPAGER: 'man runs it as the pager',
  LESSOPEN: 'less runs it on every file it opens',
  LESSCLOSE: 'less runs it on every file it closes',
  BROWSER: 'programs run it to open links',
  SSH_ASKPASS: 'ssh runs it to ask for a password',
  // other interpreters
  PYTHONSTARTUP: 'python runs the file it names at start-up',
  PYTHONPATH: 'python imports modules from it first, so a planted module replaces a real one',
  PYTHONHOME: 'python loads its standard library from the directory it names',
  PYTHONUSERBASE: 'python imports modules from the directory it names',
  PYTHONBREAKPOINT: 'python imports and calls what it names on breakpoint()',
  PYTHONWARNINGS: 'python imports the warning categories it names',
  PERL5OPT: 'perl takes -M (load a module) and -e options from it',
  PERL5LIB: 'perl loads modules from it first',
  PERLLIB: 'perl loads modules from it first',
  PERL5DB: 'perl runs it as the debugger',
  RUBYOPT: 'ruby takes -r (load a library) options from it',
  RUBYLIB: 'ruby loads libraries from it first',
  JAVA_TOOL_OPTIONS: 'the JVM takes -javaagent (load code) options from it',
  JDK_JAVA_OPTIONS: 'the java launcher takes -javaagent (load code) options from it',
  _JAVA_OPTIONS: 'the JVM takes -javaagent (load code) options from it',
  CLASSPATH: 'java loads classes from it first',
  // the C library
  GCONV_PATH: 'glibc loads character-set modules (shared objects) from it',
  GETCONF_DIR: 'glibc runs getconf helpers from the directory it names',
  LOCPATH: 'glibc loads locale data from it',
  NLSPATH: 'programs load message catalogues from it',
});

/** Prefixes of variables that load code, with why. */
export const ENV_GADGET_PREFIXES: Readonly<Record<string, string>> = Object.freeze({
  LD_: 'the dynamic loader takes libraries to load (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT) from it, so it runs code inside any allowed binary',
  DYLD_: 'the macOS dynamic loader takes libraries to load from it',
  BASH_FUNC_: 'bash imports it as a shell function, replacing commands in every bash script',
  GIT_CONFIG_KEY_: 'with GIT_CONFIG_COUNT it sets any git option',
  GIT_CONFIG_VALUE_: 'with GIT_CONFIG_COUNT it sets any git option',
  npm_config_: 'npm takes any configuration from it (script-shell, node-options, ...)',
});

/** A refused variable: its name and why it is refused (a sentence for an error message). */
export interface EnvRefusal {
  readonly name: string;
  readonly message: string;
}

/**
 * Why a step's `env` may not be used, or undefined when it may: the first variable that is an
 * environment gadget ({@link ENV_GADGETS}, {@link ENV_GADGET_PREFIXES}), or a `PATH` with a
 * directory that holds no allowed binary (a PATH into the work directory would let a script an
 * allowed binary runs pick a planted program: `zcat` runs `gzip` from PATH). With
 * `{ templates: 'defer' }` (plan validation) a PATH holding a template (`{{steps.x.output}}`)
 * is left to the run, which judges the interpolated value.
 *
 * @example
 * ```ts
 * envRefusal({ BASH_ENV: '/tmp/x' }, sandbox); // { name: 'BASH_ENV', message: 'Step env sets "BASH_ENV": bash runs ... ' }
 * envRefusal({ NODE_ENV: 'test' }, sandbox); // undefined
 * ```
 */
export function envRefusal(
  env: Readonly<Record<string, string>>,
  sandbox: ResolvedSandbox,
  options: { readonly templates?: 'defer' | 'judge' } = {},
): EnvRefusal | undefined {
  const defer = options.templates === 'defer';
  for (const [name, value] of Object.entries(env)) {
    const why = gadgetReason(name);
    if (why !== undefined) {
      return {
        name,
        message: `Step env sets "${name}", which is refused: ${why}. Remove it from the step's env (an embedder can pass a variable through with sandbox.env).`,
      };
    }
    if (name === 'PATH' && typeof value === 'string' && !(defer && value.includes('{{'))) {
      const allowedDirectories = allowedBinaryDirectories(sandbox);
      const outside = value.split(path.delimiter).find((directory) => !allowedDirectories.has(directory));
      if (outside !== undefined) {
        const listed = [...allowedDirectories].map((directory) => `"${directory}"`).join(', ') || 'none';
        return {
          name,
          message: `Step env sets "PATH" with ${outside === '' ? 'an empty entry (the current directory)' : `"${outside}"`}, which holds no allowed binary; a script an allowed binary runs would pick programs from there. Use directories of allowed binaries only (${listed}), or drop PATH from the step's env.`,
        };
      }
    }
  }
  return undefined;
}

function gadgetReason(name: string): string | undefined {
  if (Object.hasOwn(ENV_GADGETS, name)) return ENV_GADGETS[name];
  for (const [prefix, why] of Object.entries(ENV_GADGET_PREFIXES)) {
    // npm reads its variables in any case (NPM_CONFIG_..., npm_config_...).
    const matches =
      prefix === 'npm_config_' ? name.toLowerCase().startsWith(prefix) : name.startsWith(prefix);
    if (matches) return why;
  }
  return undefined;
}

/** The directories allowed binaries were found in, and those of their canonical paths. */
function allowedBinaryDirectories(sandbox: ResolvedSandbox): Set<string> {
  const directories = new Set<string>();
  for (const binary of sandbox.allowed) {
    if (binary.path !== undefined) directories.add(path.dirname(binary.path));
    if (binary.realPath !== undefined) directories.add(path.dirname(binary.realPath));
  }
  return directories;
}
