/**
 * What every backend's errors share: a `STORE_*` TaskvisorError says in `details.transient`
 * whether waiting can cure it (busy, full, unavailable) or not (corrupt).
 */
import { TaskvisorError } from '../errors.js';

/** Whether waiting may cure `error` (a STORE_* error marked transient). */
export function isTransientStoreError(error: unknown): boolean {
  return error instanceof TaskvisorError && error.details.transient === true;
}
