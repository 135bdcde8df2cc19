import { z } from 'zod';

/**
 * How much a step can touch the world. `confirmTiers` (default destructive and external)
 * make steps of those tiers wait for a human before they run.
 */
export const TierSchema = z.enum(['read', 'write', 'execute', 'destructive', 'external']);
export type Tier = z.infer<typeof TierSchema>;

export const DEFAULT_CONFIRM_TIERS: readonly Tier[] = ['destructive', 'external'];
