import { z } from 'zod';

/** Any JSON value: step outputs and note outputs are JSON. */
export const JsonSchema = z.json();
export type Json = z.infer<typeof JsonSchema>;
