import { quote, TaskvisorError } from '../errors.js';

/**
 * The `INVALID_OPTION` error of a sandbox option: "Expected <field> to be <expected>, got
 * <value> (<type>). <fix>".
 */
export function invalidOption(field: string, value: unknown, expected: string, fix = ''): TaskvisorError {
  const got =
    value === undefined ? 'undefined' : `${quote(value)} (${Array.isArray(value) ? 'array' : typeof value})`;
  return new TaskvisorError(
    'INVALID_OPTION',
    `Expected ${field} to be ${expected}, got ${got}.${fix ? ` ${fix}` : ''}`,
    { field, value },
  );
}
