import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PullbenchError } from '../errors.js';
import { emptyPolicySet, parsePolicies, type PolicySet } from './policy.js';

/** Loads policy files, or every .yaml/.yml file in a directory, into one PolicySet. */
export async function loadPolicyFiles(paths: string[]): Promise<PolicySet> {
  const set = emptyPolicySet();
  for (const path of paths) {
    const info = await stat(path).catch((cause: unknown) => {
      throw new PullbenchError('POLICY_INVALID', `cannot read policy ${path}`, { cause });
    });
    const files = info.isDirectory()
      ? (await readdir(path)).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(path, f))
      : [path];
    for (const file of files) parsePolicies(await readFile(file, 'utf8'), file, set);
  }
  return set;
}
