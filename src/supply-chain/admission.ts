/**
 * Admission decisions: one image (as written in a pod spec) against every
 * rule and policy of a PolicySet. Gatekeeper rules are pure string checks;
 * ClusterImagePolicy and Kyverno signatures go through the verification
 * cache; attestations (policy-controller authorities, Kyverno `attestations`,
 * vulnerability gates) come from an AttestationSource, reports from a ScanSource.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { parseReference } from '../oci/reference.js';
import type { VerificationCache } from './cache.js';
import { gatekeeperViolations, type PodContainer } from './gatekeeper.js';
import { globMatch, globSubject } from './image-match.js';
import { readPublicKey } from './keys.js';
import { evaluateConditions, kyvernoMatches, type KyvernoAttestor, type KyvernoImageRule } from './kyverno.js';
import type { Authority, ImageRule, PolicySet, VulnerabilityGate } from './policy.js';
import { trustFingerprint, type Trust } from './trust.js';
import type { IdentityPolicy, VerifyOptions } from './verify.js';
import { COSIGN_VULN_PREDICATE } from './statement.js';
import { evaluateScan, scanFromVulnPredicate, type VulnerabilityScan } from './vuln-gate.js';

export interface RuleResult {
  rule: string;
  result: 'pass' | 'fail' | 'warn' | 'skip';
  reason: string;
}

export interface ImageDecisionRecord {
  image: string;
  digest?: string;
  decision: 'allow' | 'deny' | 'warn';
  rules: RuleResult[];
}

function ruleResult(rule: ImageRule, ok: boolean, reason: string): RuleResult {
  const name = `${rule.kind}/${rule.name}`;
  if (ok) return { rule: name, result: 'pass', reason };
  return { rule: name, result: rule.action === 'deny' ? 'fail' : 'warn', reason: rule.action === 'dryrun' ? `${reason} (dryrun)` : reason };
}

function evaluateRule(rule: ImageRule, container: PodContainer): RuleResult {
  const violations = gatekeeperViolations(rule, container);
  return ruleResult(rule, violations.length === 0, violations.length === 0 ? `${container.image} passes` : violations.join('; '));
}

/** An image to decide, with the container it is written in (Gatekeeper's messages name it). */
export type ImageInput = string | PodContainer;

function containerOf(input: ImageInput): PodContainer {
  return typeof input === 'string' ? { field: 'containers', name: input, image: input } : input;
}

/** One verified in-toto statement of an image. */
export interface AttestedStatement {
  predicateType: string;
  predicate: unknown;
  /** Where it was found, e.g. `.att` or `referrer sha256:...`. */
  source: string;
}

/** Reads and verifies an image's attestations: the statements whose envelope verifies under `options`. */
export interface AttestationSource {
  statements(image: string, options: VerifyOptions, verifierKey: string): Promise<AttestedStatement[]>;
}

// The default source: the registry, through the verification cache (attest's reader and verifier).
function cacheSource(cache: VerificationCache): AttestationSource {
  return {
    statements: async (image, options, verifierKey) => {
      const [policyKey, trustKey] = verifierKey.split('||');
      return (await cache.attestations(image, policyKey!, trustKey ?? '', options)).verified.map((a) => ({ predicateType: a.predicateType, predicate: a.predicate, source: a.source }));
    },
  };
}

/** Vulnerability reports given to the run (Trivy JSON files), by image. */
export interface ScanSource {
  scanFor(image: string, digest: string | undefined): VulnerabilityScan | undefined;
}

export interface EvaluateOptions {
  cache: VerificationCache;
  /** Trust for keyless authorities (a TrustedRoot or CA roots). */
  trust?: Trust;
  /** Accept signatures without Rekor entries (private keys signed without a transparency log). */
  ignoreTlog?: boolean;
  /** Where attestations come from; default: the registry, through the cache. */
  attestations?: AttestationSource;
  /** Vulnerability reports given to the run. */
  scans?: ScanSource;
  /** Clock for scan ages and Kyverno's time_since. */
  now?: () => Date;
}

// Keys parsed and trust fingerprinted once per object: the hot path of cached decisions.
const KEY_MEMO = new WeakMap<Authority, { key: KeyObject; id: string }>();
const TRUST_MEMO = new WeakMap<Trust, string>();

function trustKeyOf(opts: EvaluateOptions): string {
  let fp = opts.trust ? TRUST_MEMO.get(opts.trust) : 'none';
  if (fp === undefined) {
    fp = trustFingerprint(opts.trust);
    TRUST_MEMO.set(opts.trust!, fp);
  }
  return `${fp}|tlog:${!opts.ignoreTlog}`;
}

function authorityOptions(a: Authority, opts: EvaluateOptions): { options: VerifyOptions; key: string }[] {
  const base = { ignoreTlog: opts.ignoreTlog === true, ...(opts.trust ? { trust: opts.trust } : {}) };
  if (a.key) {
    let memo = KEY_MEMO.get(a);
    if (!memo) {
      memo = { key: readPublicKey(a.key.data), id: `key:${createHash('sha256').update(a.key.data).digest('hex').slice(0, 16)}` };
      KEY_MEMO.set(a, memo);
    }
    return [{ options: { ...base, key: memo.key }, key: memo.id }];
  }
  return (a.keyless?.identities ?? []).map((id) => {
    const identity: IdentityPolicy = {
      ...(id.subject === undefined ? {} : { identity: id.subject }),
      ...(id.subjectRegExp === undefined ? {} : { identityRegexp: id.subjectRegExp }),
      ...(id.issuer === undefined ? {} : { issuer: id.issuer }),
      ...(id.issuerRegExp === undefined ? {} : { issuerRegexp: id.issuerRegExp }),
    };
    return { options: { ...base, identity }, key: `keyless:${JSON.stringify(identity)}` };
  });
}

// Every identity of a key or keyless authority, each with the cache key of its verifier.
async function signatureCheck(a: Authority, image: string, opts: EvaluateOptions): Promise<{ ok: boolean; reason: string }> {
  const reasons: string[] = [];
  for (const { options, key } of authorityOptions(a, opts)) {
    const v = await opts.cache.verify(image, key, trustKeyOf(opts), options);
    if (v.decision === 'verified') return { ok: true, reason: `signature verified (${v.verified[0]!.source})` };
    reasons.push(v.decision === 'no-signatures' ? 'no signatures' : v.rejected.map((r) => r.code).join(','));
  }
  return { ok: false, reason: reasons.join('; ') };
}

/** The statements of `predicateType` verified under any identity of `a`; a reason when none can be read. */
async function attestedBy(a: Authority, image: string, predicateType: string, opts: EvaluateOptions): Promise<{ statements: AttestedStatement[]; reason?: string }> {
  const source = opts.attestations ?? cacheSource(opts.cache);
  const found: AttestedStatement[] = [];
  for (const { options, key } of authorityOptions(a, opts)) {
    try {
      found.push(...(await source.statements(image, options, `${key}||${trustKeyOf(opts)}`)).filter((s) => s.predicateType === predicateType));
    } catch (err) {
      return { statements: [], reason: `cannot read attestations: ${(err as Error).message}` };
    }
  }
  return found.length > 0 ? { statements: found } : { statements: [], reason: `no verified attestation with type ${predicateType}` };
}

// policy-controller ValidatePolicy: static, else attestations (every wanted type needs a verified statement), else the signature.
async function evaluateAuthority(a: Authority, image: string, opts: EvaluateOptions): Promise<{ ok: boolean; reason: string }> {
  if (a.static) return { ok: a.static.action === 'pass', reason: `static ${a.static.action}` };
  if (!a.attestations) return signatureCheck(a, image, opts);
  for (const want of a.attestations) {
    const { reason } = await attestedBy(a, image, want.predicateType, opts);
    if (reason) return { ok: false, reason: `${want.name}: ${reason}` };
  }
  return { ok: true, reason: `attestations verified (${a.attestations.map((w) => w.name).join(', ')})` };
}

// Kyverno: every attestor set needs `count` verified entries.
async function attestorsPass(sets: KyvernoAttestor[], image: string, opts: EvaluateOptions): Promise<{ ok: boolean; reason: string }> {
  for (const set of sets) {
    let passed = 0;
    const reasons: string[] = [];
    for (const e of set.entries) {
      const r = await signatureCheck(e, image, opts);
      if (r.ok) passed++;
      else reasons.push(r.reason);
    }
    if (passed < set.count) return { ok: false, reason: `${passed} of ${set.count} attestors verified (${reasons.join('; ')})` };
  }
  return { ok: true, reason: 'signature verified' };
}

async function evaluateKyverno(rule: KyvernoImageRule, image: string, opts: EvaluateOptions): Promise<RuleResult> {
  const fail = (reason: string): RuleResult => ({ rule: `${rule.kind}/${rule.name}`, result: rule.action === 'enforce' ? 'fail' : 'warn', reason });
  const signed = await attestorsPass(rule.attestors, image, opts);
  if (!signed.ok) return fail(signed.reason);
  const now = (opts.now ?? (() => new Date()))();
  for (const att of rule.attestations) {
    const entries = (att.attestors.length > 0 ? att.attestors : rule.attestors).flatMap((s) => s.entries);
    const statements: AttestedStatement[] = [];
    let reason = entries.length === 0 ? 'the attestation has no attestors' : '';
    for (const e of entries) {
      const r = await attestedBy(e, image, att.predicateType, opts);
      statements.push(...r.statements);
      reason ||= r.reason ?? '';
    }
    if (statements.length === 0) return fail(`${att.predicateType}: ${reason}`);
    for (const st of statements) {
      const c = evaluateConditions(att.conditions, st.predicate, now);
      if (!c.ok) return fail(`${att.predicateType} (${st.source}): ${c.reason}`);
    }
  }
  return { rule: `${rule.kind}/${rule.name}`, result: 'pass', reason: rule.attestations.length > 0 ? 'signature and attestation conditions verified' : signed.reason };
}

// A verified predicate is immutable and cached with its attestation: read its scan once.
const SCANS = new WeakMap<object, VulnerabilityScan>();
function scanOf(st: AttestedStatement): VulnerabilityScan {
  const memoable = typeof st.predicate === 'object' && st.predicate !== null;
  let scan = memoable ? SCANS.get(st.predicate as object) : undefined;
  if (!scan) {
    scan = scanFromVulnPredicate(st.predicate, `vuln attestation ${st.source}`);
    if (memoable) SCANS.set(st.predicate as object, scan);
  }
  return scan;
}

async function evaluateGate(gate: VulnerabilityGate, image: string, digest: string | undefined, opts: EvaluateOptions): Promise<RuleResult> {
  const rule = `VulnerabilityGate/${gate.name}`;
  const failing = gate.mode === 'enforce' ? 'fail' : 'warn';
  const scans: VulnerabilityScan[] = [];
  const given = opts.scans?.scanFor(image, digest);
  if (given) scans.push(given);
  else {
    for (const a of gate.authorities) {
      const r = await attestedBy(a, image, COSIGN_VULN_PREDICATE, opts);
      for (const st of r.statements) {
        try {
          scans.push(scanOf(st));
        } catch (err) {
          return { rule, result: failing, reason: (err as Error).message };
        }
      }
    }
  }
  if (scans.length === 0) return { rule, result: failing, reason: `no vulnerability report or verified vuln attestation for ${image}` };
  const now = (opts.now ?? (() => new Date()))();
  // The newest scan decides, as a scanner re-run supersedes older results.
  const newest = scans.reduce((a, b) => ((b.scannedAt?.getTime() ?? 0) > (a.scannedAt?.getTime() ?? 0) ? b : a));
  const r = evaluateScan(newest, gate.requirement, now);
  return { rule, result: r.ok ? 'pass' : failing, reason: `${newest.source}: ${r.reason}` };
}

/** Evaluates one image against every rule and every matching image policy. */
async function evaluateImage(input: ImageInput, policies: PolicySet, opts: EvaluateOptions): Promise<ImageDecisionRecord> {
  const container = containerOf(input);
  const image = container.image;
  let ref: ReturnType<typeof parseReference>;
  try {
    ref = parseReference(image);
  } catch (err) {
    return { image, decision: 'deny', rules: [{ rule: 'reference', result: 'fail', reason: (err as Error).message }] };
  }
  const rules = policies.rules.map((r) => evaluateRule(r, container));
  let digest: string | undefined;
  if (policies.imagePolicies.length + policies.kyverno.length + policies.vulnerabilityGates.length > 0) {
    try {
      digest = (await opts.cache.resolve(image)).digest;
    } catch (err) {
      rules.push({ rule: 'resolve', result: 'fail', reason: `cannot resolve: ${(err as Error).message}` });
    }
  }
  if (digest) {
    const subject = globSubject(ref, digest);
    if (policies.imagePolicies.length > 0) {
      const matching = policies.imagePolicies.filter((p) => p.images.some((g) => globMatch(g.glob, subject)));
      if (matching.length === 0) {
        const r = policies.noMatchPolicy;
        rules.push({ rule: 'no-match-policy', result: r === 'allow' ? 'pass' : r === 'warn' ? 'warn' : 'fail', reason: `no ClusterImagePolicy matches ${subject}` });
      }
      for (const p of matching) {
        const results: string[] = [];
        let passed = false;
        for (const a of p.authorities) {
          const r = await evaluateAuthority(a, image, opts);
          results.push(`${a.name}: ${r.reason}`);
          if (r.ok) {
            passed = true;
            break;
          }
        }
        rules.push({
          rule: `ClusterImagePolicy/${p.name}`,
          result: passed ? 'pass' : p.mode === 'warn' ? 'warn' : 'fail',
          reason: passed ? results[results.length - 1]! : `no authority passed (${results.join(' | ')})`,
        });
      }
    }
    for (const k of policies.kyverno.filter((k) => kyvernoMatches(k, image))) rules.push(await evaluateKyverno(k, image, opts));
    for (const g of policies.vulnerabilityGates.filter((g) => g.images.some((x) => globMatch(x.glob, subject)))) rules.push(await evaluateGate(g, image, digest, opts));
  }
  const decision = rules.some((r) => r.result === 'fail') ? 'deny' : rules.some((r) => r.result === 'warn') ? 'warn' : 'allow';
  return { image, ...(digest ? { digest } : {}), decision, rules };
}

/**
 * The library entry for the scenario `verify` stage: a decision per image
 * (deduplicated; each verified at most once per cache TTL).
 */
export async function verifyImages(images: ImageInput[], policies: PolicySet, opts: EvaluateOptions): Promise<ImageDecisionRecord[]> {
  const decisions = new Map<string, ImageDecisionRecord>();
  const keyOf = (i: ImageInput): string => (typeof i === 'string' ? i : `${i.field}\0${i.name}\0${i.image}`);
  for (const image of images) {
    const key = keyOf(image);
    if (!decisions.has(key)) decisions.set(key, await evaluateImage(image, policies, opts));
  }
  return images.map((i) => decisions.get(keyOf(i))!);
}
