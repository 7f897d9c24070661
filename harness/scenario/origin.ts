/**
 * A problem located where a scenario object was written: its file, line, column and path, or a
 * field below that path.
 */
import type { Problem } from '../errors.js';
import type { Origin } from './types.js';

export function problemAt(origin: Origin, message: string, field?: string): Problem {
  return {
    file: origin.file,
    line: origin.line,
    column: origin.column,
    path: field ? `${origin.path}.${field}` : origin.path,
    message,
  };
}
