import { parseAllDocuments } from 'yaml';
import { PullbenchError } from '../errors.js';
import { tryParseDuration } from '../util/units.js';
import { readPublicKey } from './keys.js';
import type { EnforcementAction, GatekeeperRule } from './gatekeeper.js';
import { VALID_GLOB } from './image-match.js';
import { parseKyvernoPolicy, type KyvernoImageRule } from './kyverno.js';
import { predicateTypeUri } from './statement.js';
import { SEVERITIES, type Severity, type VulnerabilityRequirement } from './vuln-gate.js';

/** One authority of a ClusterImagePolicy (sigstore policy-controller's shape). */
export interface Authority {
  name: string;
  key?: { data: string };
  keyless?: { identities: { issuer?: string; subject?: string; issuerRegExp?: string; subjectRegExp?: string }[] };
  static?: { action: 'pass' | 'fail' };
  /** policy-controller: with attestations the authority checks these, not the image signature. */
  attestations?: { name: string; predicateType: string }[];
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

/**
 * pullbench's own gate (kind VulnerabilityGate, apiVersion pullbench.dev/v1alpha1):
 * the images it covers need a scan (a Trivy report given to the run, or a cosign
 * vuln attestation verified by `authorities`) that meets the requirement.
 */
export interface VulnerabilityGate {
  name: string;
  mode: 'enforce' | 'warn';
  images: { glob: string }[];
  requirement: VulnerabilityRequirement;
  /** Who must have signed the vuln attestation; without, only given reports count. */
  authorities: Authority[];
}

export interface PolicySet {
  imagePolicies: ClusterImagePolicy[];
  rules: ImageRule[];
  /** Kyverno verifyImages entries. */
  kyverno: KyvernoImageRule[];
  vulnerabilityGates: VulnerabilityGate[];
  /** policy-controller's `no-match-policy` (ConfigMap config-policy-controller); default deny. */
  noMatchPolicy: NoMatchPolicy;
}

export function emptyPolicySet(): PolicySet {
  return { imagePolicies: [], rules: [], kyverno: [], vulnerabilityGates: [], noMatchPolicy: 'deny' };
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
  const attestations = parseAttestations(a.attestations, `${where}.attestations`, problems);
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
    return { name, key: { data: String(a.key.data) }, ...attestations };
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
    return { name, keyless: { identities }, ...attestations };
  }
  if (isObj(a.static)) {
    if (a.static.action !== 'pass' && a.static.action !== 'fail') problems.push(`${where}.static.action: must be pass or fail`);
    return { name, static: { action: a.static.action === 'pass' ? 'pass' : 'fail' } };
  }
  problems.push(`${where}: ${kinds[0]} must be an object`);
  return undefined;
}

// policy-controller's authority.attestations; a cue/rego `policy` would need its evaluator, so it is refused rather than skipped.
function parseAttestations(v: unknown, where: string, problems: string[]): { attestations?: { name: string; predicateType: string }[] } {
  if (v === undefined) return {};
  if (!Array.isArray(v) || v.length === 0) {
    problems.push(`${where}: must list attestations`);
    return {};
  }
  return {
    attestations: v.map((x, i) => {
      const o = isObj(x) ? x : {};
      let predicateType = '';
      try {
        // policy-controller takes cosign's predicate names (vuln, slsaprovenance, ...) or URIs.
        predicateType = predicateTypeUri(typeof o.predicateType === 'string' ? o.predicateType : '');
      } catch {
        problems.push(`${where}[${i}].predicateType: a cosign predicate name (vuln, slsaprovenance, spdxjson, cyclonedx, ...) or a URI is required`);
      }
      if (o.policy !== undefined) problems.push(`${where}[${i}].policy: cue and rego policies are not evaluated by pullbench; use a VulnerabilityGate or a Kyverno attestation with conditions`);
      return { name: typeof o.name === 'string' ? o.name : `${where}[${i}]`, predicateType };
    }),
  };
}

function parseGate(spec: Obj, name: string, where: string, problems: string[]): VulnerabilityGate {
  const severity = typeof spec.severity === 'string' ? spec.severity.toUpperCase() : 'HIGH';
  if (!(SEVERITIES as readonly string[]).includes(severity)) problems.push(`${where} (${name}): spec.severity must be one of ${SEVERITIES.join(', ')}`);
  if (spec.allow !== undefined && !strList(spec.allow)) problems.push(`${where} (${name}): spec.allow must list vulnerability IDs`);
  let maxAgeMs: number | undefined;
  if (spec.maxAge !== undefined) {
    maxAgeMs = typeof spec.maxAge === 'string' ? tryParseDuration(spec.maxAge) : undefined;
    if (maxAgeMs === undefined) problems.push(`${where} (${name}): spec.maxAge must be a duration such as 168h`);
  }
  const images = Array.isArray(spec.images) ? spec.images.map((im) => ({ glob: isObj(im) && typeof im.glob === 'string' ? im.glob : '' })) : [{ glob: '**' }];
  for (const g of images) if (!VALID_GLOB.test(g.glob)) problems.push(`${where} (${name}): spec.images glob ${JSON.stringify(g.glob)} is not a valid glob`);
  const authorities = (Array.isArray(spec.authorities) ? spec.authorities : [])
    .map((a, j) => parseAuthority(a, `${where} (${name}).spec.authorities[${j}]`, problems))
    .filter((a): a is Authority => a !== undefined);
  return {
    name,
    mode: spec.mode === 'warn' ? 'warn' : 'enforce',
    images,
    requirement: { severity: severity as Severity, allow: strList(spec.allow) ? spec.allow : [], ignoreUnfixed: spec.ignoreUnfixed === true, ...(maxAgeMs === undefined ? {} : { maxAgeMs }) },
    authorities,
  };
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
      case 'ClusterPolicy':
      case 'Policy':
        into.kyverno.push(...parseKyvernoPolicy(d, name, where, problems));
        break;
      case 'VulnerabilityGate':
        into.vulnerabilityGates.push(parseGate(spec, name, where, problems));
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

