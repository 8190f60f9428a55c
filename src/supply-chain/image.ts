import type { RegistryClient } from '../oci/client.js';
import { parseReference } from '../oci/reference.js';
import { clientFor, findSignatures, resolveImage, type RegistryAccess } from './registry.js';
import { COSIGN_SIGN_PREDICATE, verifyCandidates, type Rejection, type VerifiedSignature, type VerifyOptions } from './verify.js';

/** The decision for one image, in cosign's terms. */
export type ImageDecision = 'verified' | 'no-signatures' | 'no-matching-signature';

/** At least one verified signature suffices; no candidates at all is its own outcome. */
export function decisionOf(candidates: number, verified: number): ImageDecision {
  return candidates === 0 ? 'no-signatures' : verified > 0 ? 'verified' : 'no-matching-signature';
}

export interface ImageVerification {
  image: string;
  digest: string;
  decision: ImageDecision;
  verified: VerifiedSignature[];
  rejected: Rejection[];
}

export interface VerifyImageOptions extends VerifyOptions {
  access?: RegistryAccess;
  /** Use this client instead of one made for the reference's registry. */
  client?: RegistryClient;
}

/**
 * Resolves `image`, finds its signatures (referrer bundles, then the `.sig`
 * tag) and verifies each: at least one must pass. Registry errors (a tag that
 * does not exist is MANIFEST_UNKNOWN) are thrown; signature problems are in the
 * result, one reason per rejected candidate.
 */
export async function verifyImage(image: string, opts: VerifyImageOptions): Promise<ImageVerification> {
  const ref = parseReference(image);
  const client = opts.client ?? clientFor(ref, opts.access);
  const resolved = await resolveImage(client, ref);
  const candidates = await findSignatures(client, ref.path, resolved.digest);
  const outcome = verifyCandidates(candidates, resolved.digest, resolved.manifestBytes, {
    predicateTypes: [COSIGN_SIGN_PREDICATE],
    ...opts,
    ...(opts.repository === undefined ? {} : { repository: opts.repository }),
  });
  const decision = decisionOf(candidates.length, outcome.verified.length);
  return { image: `${ref.name}@${resolved.digest}`, digest: resolved.digest, decision, ...outcome };
}
