import { createHash, type KeyObject } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { PullbenchError } from '../errors.js';
import { parseReference, type ImageReference } from '../oci/reference.js';
import { readPublicKey } from './keys.js';
import { trustFingerprint, type Trust } from './trust.js';
import type { VerificationCache } from './cache.js';
import { gatekeeperViolations, type ContainerField, type EnforcementAction, type GatekeeperRule, type PodContainer } from './gatekeeper.js';
import { globMatch, globSubject, VALID_GLOB } from './image-match.js';
import type { IdentityPolicy, VerifyOptions } from './verify.js';

/** One authority of a ClusterImagePolicy (sigstore policy-controller's shape). */
export interface Authority {
  name: string;
  key?: { data: string };
  keyless?: { identities: { issuer?: string; subject?: string; issuerRegExp?: string; subjectRegExp?: string }[] };
  static?: { action: 'pass' | 'fail' };
}

export interface ClusterImagePolicy {
  name: string;
  mode: 'enforce' | 'warn';
  images: { glob: string }[];
  authorities: Authority[];
}

/** gatekeeper-library constraints, decided as the library's Rego decides them (gatekeeper.ts). */
export type ImageRule = GatekeeperRule;

export type NoMatchPolicy = 'allow' | 'deny' | 'warn';

export interface PolicySet {
  imagePolicies: ClusterImagePolicy[];
  rules: ImageRule[];
  /** policy-controller's `no-match-policy` (ConfigMap config-policy-controller); default deny. */
  noMatchPolicy: NoMatchPolicy;
}

export function emptyPolicySet(): PolicySet {
  return { imagePolicies: [], rules: [], noMatchPolicy: 'deny' };
}

function bad(source: string, problems: string[]): never {
  throw new PullbenchError('POLICY_INVALID', `${source}: ${problems.join('; ')}`, { details: { source, problems } });
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strList = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function parseAuthority(a: unknown, where: string, problems: string[]): Authority | undefined {
  if (!isObj(a)) {
    problems.push(`${where}: must be an object`);
    return undefined;
  }
  const name = typeof a.name === 'string' ? a.name : where;
  const kinds = ['key', 'keyless', 'static'].filter((k) => a[k] !== undefined);
  if (kinds.length !== 1) {
    problems.push(`${where}: exactly one of key, keyless, static is required`);
    return undefined;
  }
  if (isObj(a.key)) {
    if (typeof a.key.data !== 'string') problems.push(`${where}.key: data (PEM public key) is required`);
    else {
      try {
        readPublicKey(a.key.data);
      } catch {
        problems.push(`${where}.key.data: not a PEM public key`);
      }
    }
    return { name, key: { data: String(a.key.data) } };
  }
  if (isObj(a.keyless)) {
    const ids = a.keyless.identities;
    if (!Array.isArray(ids) || ids.length === 0) problems.push(`${where}.keyless.identities: at least one identity is required`);
    const identities = (Array.isArray(ids) ? ids : []).map((id, i) => {
      const o = isObj(id) ? id : {};
      const pick = (k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
      const r = { issuer: pick('issuer'), subject: pick('subject'), issuerRegExp: pick('issuerRegExp'), subjectRegExp: pick('subjectRegExp') };
      if ((r.subject ?? r.subjectRegExp) === undefined || (r.issuer ?? r.issuerRegExp) === undefined) {
        problems.push(`${where}.keyless.identities[${i}]: subject[RegExp] and issuer[RegExp] are required`);
      }
      return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined));
    });
    return { name, keyless: { identities } };
  }
  if (isObj(a.static)) {
    if (a.static.action !== 'pass' && a.static.action !== 'fail') problems.push(`${where}.static.action: must be pass or fail`);
    return { name, static: { action: a.static.action === 'pass' ? 'pass' : 'fail' } };
  }
  problems.push(`${where}: ${kinds[0]} must be an object`);
  return undefined;
}

function action(spec: Obj): EnforcementAction {
  const a = spec.enforcementAction;
  return a === 'warn' || a === 'dryrun' ? a : 'deny';
}

function exempt(params: Obj, where: string, name: string, problems: string[]): string[] {
  if (params.exemptImages === undefined) return [];
  if (strList(params.exemptImages)) return params.exemptImages;
  problems.push(`${where} (${name}): spec.parameters.exemptImages must be a list of strings`);
  return [];
}

/** Parses policy YAML (multi-document) into `into`; collects every problem and throws once (POLICY_INVALID). */
export function parsePolicies(text: string, source: string, into: PolicySet = emptyPolicySet()): PolicySet {
  const problems: string[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) bad(source, doc.errors.map((e) => e.message));
    const d = doc.toJS() as unknown;
    if (d === null || d === undefined) continue;
    const where = `document ${i + 1}`;
    if (!isObj(d) || typeof d.kind !== 'string') {
      problems.push(`${where}: not a Kubernetes object (no kind)`);
      continue;
    }
    const name = isObj(d.metadata) && typeof d.metadata.name === 'string' ? d.metadata.name : `${d.kind}-${i + 1}`;
    const spec = isObj(d.spec) ? d.spec : {};
    const params = isObj(spec.parameters) ? spec.parameters : {};
    switch (d.kind) {
      case 'ClusterImagePolicy': {
        const images = Array.isArray(spec.images) ? spec.images : [];
        if (images.length === 0) problems.push(`${where} (${name}): spec.images needs at least one glob`);
        const globs = images.map((im, j) => {
          const glob = isObj(im) && typeof im.glob === 'string' ? im.glob : '';
          if (!VALID_GLOB.test(glob)) problems.push(`${where} (${name}): spec.images[${j}].glob ${JSON.stringify(glob)} is not a valid glob`);
          return { glob };
        });
        const auths = Array.isArray(spec.authorities) ? spec.authorities : [];
        if (auths.length === 0) problems.push(`${where} (${name}): spec.authorities needs at least one authority`);
        const authorities = auths
          .map((a, j) => parseAuthority(a, `${where} (${name}).spec.authorities[${j}]`, problems))
          .filter((a): a is Authority => a !== undefined);
        const mode = spec.mode === 'warn' ? 'warn' : 'enforce';
        if (spec.mode !== undefined && spec.mode !== 'warn' && spec.mode !== 'enforce') problems.push(`${where} (${name}): spec.mode must be enforce or warn`);
        into.imagePolicies.push({ name, mode, images: globs, authorities });
        break;
      }
      case 'K8sAllowedRepos':
      case 'K8sDisallowedRepos':
        if (!strList(params.repos) || params.repos.length === 0) problems.push(`${where} (${name}): spec.parameters.repos must list repository prefixes`);
        else into.rules.push({ kind: d.kind, name, action: action(spec), repos: params.repos });
        break;
      case 'K8sAllowedReposv2':
        if (!strList(params.allowedImages) || params.allowedImages.length === 0) problems.push(`${where} (${name}): spec.parameters.allowedImages must list images or prefixes ending in *`);
        else into.rules.push({ kind: 'K8sAllowedReposv2', name, action: action(spec), allowedImages: params.allowedImages });
        break;
      case 'K8sDisallowedTags':
        if (!strList(params.tags) || params.tags.length === 0) problems.push(`${where} (${name}): spec.parameters.tags must list tags`);
        else into.rules.push({ kind: 'K8sDisallowedTags', name, action: action(spec), tags: params.tags, exemptImages: exempt(params, where, name, problems) });
        break;
      case 'K8sImageDigests':
        into.rules.push({ kind: 'K8sImageDigests', name, action: action(spec), exemptImages: exempt(params, where, name, problems) });
        break;
      case 'ConfigMap': {
        const data = isObj(d.data) ? d.data : {};
        const nm = data['no-match-policy'];
        if (nm !== undefined) {
          if (nm !== 'allow' && nm !== 'deny' && nm !== 'warn') problems.push(`${where} (${name}): no-match-policy must be allow, deny or warn`);
          else into.noMatchPolicy = nm;
        }
        break;
      }
      default:
        problems.push(`${where}: unsupported kind ${d.kind}`);
    }
  }
  if (problems.length > 0) bad(source, problems);
  return into;
}

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
  return typeof input === 'string' ? { field: 'containers' satisfies ContainerField, name: input, image: input } : input;
}

export interface EvaluateOptions {
  cache: VerificationCache;
  /** Trust for keyless authorities (a TrustedRoot or CA roots). */
  trust?: Trust;
  /** Accept signatures without Rekor entries (private keys signed without a transparency log). */
  ignoreTlog?: boolean;
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

async function evaluateAuthority(a: Authority, image: string, opts: EvaluateOptions): Promise<{ ok: boolean; reason: string }> {
  if (a.static) return { ok: a.static.action === 'pass', reason: `static ${a.static.action}` };
  const reasons: string[] = [];
  for (const { options, key } of authorityOptions(a, opts)) {
    const v = await opts.cache.verify(image, key, trustKeyOf(opts), options);
    if (v.decision === 'verified') return { ok: true, reason: `signature verified (${v.verified[0]!.source})` };
    reasons.push(v.decision === 'no-signatures' ? 'no signatures' : v.rejected.map((r) => r.code).join(','));
  }
  return { ok: false, reason: reasons.join('; ') };
}

/** Evaluates one image against every rule and every matching image policy. */
export async function evaluateImage(input: ImageInput, policies: PolicySet, opts: EvaluateOptions): Promise<ImageDecisionRecord> {
  const container = containerOf(input);
  const image = container.image;
  let ref: ImageReference;
  try {
    ref = parseReference(image);
  } catch (err) {
    return { image, decision: 'deny', rules: [{ rule: 'reference', result: 'fail', reason: (err as Error).message }] };
  }
  const rules = policies.rules.map((r) => evaluateRule(r, container));
  let digest: string | undefined;
  if (policies.imagePolicies.length > 0) {
    try {
      digest = (await opts.cache.resolve(image)).digest;
    } catch (err) {
      rules.push({ rule: 'resolve', result: 'fail', reason: `cannot resolve: ${(err as Error).message}` });
    }
    if (digest) {
      const subject = globSubject(ref, digest);
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
