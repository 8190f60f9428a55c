import type { Rejection, VerifiedSignature, VerifyOptions } from './verify.js';

/** What the checklist needs of a verification of signatures or attestations. */
export interface ChecklistInput {
  image: string;
  decision: string;
  verified: Pick<VerifiedSignature, 'checks'>[];
  rejected: Rejection[];
}

/** cosign's stderr checklist for a verification, plus the reason for each rejected signature. */
export function checklist(result: ChecklistInput, opts: VerifyOptions): string {
  const lines = [`\nVerification for ${result.image} --`];
  if (result.decision === 'verified') {
    const v = result.verified[0]!;
    lines.push('The following checks were performed on each of these signatures:');
    lines.push('  - The cosign claims were validated');
    if (v.checks.tlog === 'verified') lines.push('  - Existence of the claims in the transparency log was verified offline');
    else lines.push('  - WARNING: the transparency log was not checked (--insecure-ignore-tlog)');
    if (opts.key) lines.push('  - The signatures were verified against the specified public key');
    else lines.push('  - The code-signing certificate was verified using trusted certificate authority certificates');
    if (opts.annotations && Object.keys(opts.annotations).length > 0) lines.push('  - The specified annotations were verified.');
    if (opts.repository) lines.push('  - The payload names this repository');
  }
  for (const r of result.rejected) lines.push(`  x ${r.source}: ${r.code}: ${r.message}`);
  return lines.join('\n');
}
