/**
 * The store conformance suite: one spec per port, each run against a backend through its
 * initializer (as LangGraph's checkpoint-validation runs one spec against every saver).
 *
 * @example
 * ```ts
 * describeStoreConformance({ name: 'SqliteStore', open: async () => openSqliteStore(tempFile()) });
 * ```
 */
import { describeAuditLogSpec } from './audit-log.spec.js';
import { describeClaimSpec } from './claims.spec.js';
import { describeCommitSpec } from './commit.spec.js';
import { describeEventLogSpec } from './event-log.spec.js';
import type { StoreInit } from './fixtures.js';
import { describeInboxSpec } from './inbox.spec.js';
import { describeLeaseSpec } from './leases.spec.js';
import { describeRecordSpec } from './records.spec.js';
import { describeRetentionSpec } from './retention.spec.js';
import { describeRunSpec } from './runs.spec.js';

export type { StoreInit } from './fixtures.js';

export function describeStoreConformance(init: StoreInit): void {
  describeCommitSpec(init);
  describeRunSpec(init);
  describeLeaseSpec(init);
  describeEventLogSpec(init);
  describeInboxSpec(init);
  describeRecordSpec(init);
  describeAuditLogSpec(init);
  describeClaimSpec(init);
  describeRetentionSpec(init);
}
