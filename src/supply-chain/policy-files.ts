import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PullbenchError } from '../errors.js';
import type { ScanSource } from './admission.js';
import { emptyPolicySet, parsePolicies, type PolicySet } from './policy.js';
import { scanFromTrivy, scanNames, type VulnerabilityScan } from './vuln-gate.js';

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

/**
 * Trivy JSON reports as a ScanSource. An entry with `image` is that image's
 * report (matched as written); without, the report names its image itself
 * (ArtifactName, or the digest among Metadata.RepoDigests).
 */
export async function loadReports(entries: { file: string; image?: string }[]): Promise<ScanSource> {
  const loaded: { scan: VulnerabilityScan; image?: string }[] = [];
  for (const e of entries) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(e.file, 'utf8'));
    } catch (cause) {
      throw new PullbenchError('INVALID_ARGUMENT', `cannot read the vulnerability report ${e.file} as JSON`, { cause });
    }
    loaded.push({ scan: scanFromTrivy(json, e.file), ...(e.image ? { image: e.image } : {}) });
  }
  return {
    scanFor: (image, digest) => loaded.find((l) => (l.image !== undefined ? l.image === image : scanNames(l.scan, image, digest)))?.scan,
  };
}
