/**
 * The version of the machines' persisted snapshots. Bump it when a snapshot's shape
 * changes, with a migration of the stored snapshots, so that a database written by an
 * earlier version (test/golden/) keeps resuming.
 */
export const MACHINE_VERSION = 1;
