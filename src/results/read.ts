import { readFile } from 'node:fs/promises';
import { PullbenchError } from '../errors.js';
import { RESULTS_SCHEMA_VERSION, type RunResults } from './model.js';

/**
 * Reads a results file written by `pullbench run`. Not JSON or not a results
 * file: INVALID_ARGUMENT (another schemaVersion is left to compareResults,
 * which says the runs are not comparable).
 */
export async function readResults(file: string): Promise<RunResults> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_STRING_TOO_LONG') {
      // V8 caps one string at ~512 MB (buffer.constants.MAX_STRING_LENGTH): a results file that large
      // comes from a modelled run of more than ~50,000 nodes (docs/model.md).
      throw new PullbenchError('INVALID_ARGUMENT', `results file ${file} is larger than Node.js can read as one string (~512 MB); compare or report smaller runs, or fewer repetitions of this one`, { cause: err, details: { file } });
    }
    throw new PullbenchError('INVALID_ARGUMENT', `cannot read results file ${file}: ${code ?? String(err)}`, { cause: err, details: { file } });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new PullbenchError('INVALID_ARGUMENT', `${file} is not JSON: ${(err as Error).message}`, { cause: err, details: { file } });
  }
  const problems: string[] = [];
  const o = data as Partial<RunResults> | null;
  if (!o || typeof o !== 'object') problems.push('not an object');
  else {
    if (o.kind !== 'pullbench.results') problems.push(`kind is ${JSON.stringify(o.kind)}, expected "pullbench.results"`);
    if (typeof o.schemaVersion !== 'number') problems.push('schemaVersion missing');
    // Shape checks only for the schema this build writes; an older or newer one is "not comparable", not malformed.
    if (o.schemaVersion === RESULTS_SCHEMA_VERSION) {
      if (!Array.isArray(o.arms)) problems.push('arms is not an array');
      if (typeof o.scenario?.name !== 'string') problems.push('scenario.name missing');
      if (!o.environment || typeof o.environment !== 'object') problems.push('environment missing');
    }
  }
  if (problems.length > 0) throw new PullbenchError('INVALID_ARGUMENT', `${file} is not a pullbench results file: ${problems.join('; ')}`, { details: { file, problems } });
  return data as RunResults;
}
