/**
 * Whether the jail tests run here. They always run in CI (`CI=true`, where .ci/run installs
 * bubblewrap), so there a missing jail fails them; elsewhere they run when the jail can be had
 * and are left out, with the reason printed, when it cannot.
 */
import { findBwrap, probeJail } from '../../src/sandbox/jail-probe.js';

export const jailSupport = await probeJail({ bwrap: findBwrap(process.env.PATH ?? ''), network: false });

/** Run the jail tests (in CI always: a missing jail must fail there, not skip). */
export const JAIL = process.env.CI === 'true' || jailSupport.available;

/** What `isolation: 'auto'` gives on this machine. */
export const AUTO_ISOLATION: 'jail' | 'none' = jailSupport.available ? 'jail' : 'none';

/** The isolations a test should be run under here: always the policy alone, and the jail when it runs. */
export const ISOLATIONS: ReadonlyArray<'none' | 'jail'> = JAIL ? ['none', 'jail'] : ['none'];

/** Prints why the jail tests of `what` are left out (once per file that asks). */
export function reportJailSkip(what: string): void {
  if (!JAIL && !jailSupport.available) {
    console.log(
      `${what}: the jail tests are left out here (set CI=true to require them): ${jailSupport.reason}`,
    );
  }
}
