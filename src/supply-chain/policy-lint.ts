/**
 * Lint for image policies: entries whose matching, as the admission controller
 * really does it, lets through images the author meant to stop (a bypass), or
 * stops images the author meant to let through (strict). Every finding names
 * an image that shows it; the decision functions in gatekeeper.ts and
 * image-match.ts agree with each example (test/supply-chain/policy-lint.test.ts).
 */
import { kyvernoSubject, kyvernoWildcard } from './image-match.js';
import type { PolicySet } from './policy.js';

export type LintCode =
  | 'LOOKALIKE_PREFIX'
  | 'DOCKER_HUB_SHORT_NAME'
  | 'DOCKER_HUB_QUALIFIED_NAME'
  | 'REGISTRY_PORT'
  | 'GLOB_DOCKER_IO'
  | 'GLOB_NEVER_MATCHES'
  | 'GLOB_ONE_SEGMENT'
  | 'PATTERN_NEVER_MATCHES';

export interface LintFinding {
  /** `Kind/name` of the policy. */
  policy: string;
  /** The prefix, glob or pattern at fault. */
  entry: string;
  code: LintCode;
  /** bypass: admits an image meant to be stopped; strict: denies one meant to pass. */
  severity: 'bypass' | 'strict';
  /** An image, written as in a pod spec, that shows the finding. */
  image: string;
  message: string;
}

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

// distribution/reference's rule: the first segment is a registry host when it has '.' or ':', is localhost, or has upper case.
function hostOf(prefix: string): string | undefined {
  const slash = prefix.indexOf('/');
  const head = slash >= 0 ? prefix.slice(0, slash) : prefix;
  return /[.:]/.test(head) || head === 'localhost' || head !== head.toLowerCase() ? head : undefined;
}

/** An image that starts with `prefix` but lives elsewhere. */
function lookalike(prefix: string): string {
  if (!prefix.includes('/')) {
    if (/:\d+$/.test(prefix)) return `${prefix}1/x`;
    return hostOf(prefix) ? `${prefix}.evil.io/x` : `${prefix}-evil/x`;
  }
  return `${prefix}-evil/x`;
}

/** The short Docker Hub spelling of an image under a `docker.io/...` prefix (`docker.io/library` -> `nginx:1.27`). */
function dockerHubShort(prefix: string): string {
  const rest = prefix.slice(prefix.indexOf('/') + 1).replace(/\/+$/, '');
  if (rest === '' || rest === 'library' || rest.startsWith('library/')) {
    const name = rest.startsWith('library/') ? rest.slice('library/'.length) : 'nginx';
    return `${name}:1.27`;
  }
  return `${rest.includes('/') ? rest : `${rest}/app`}:1.0`;
}

/** The fully qualified spelling of an image under a host-less prefix (`nginx` -> `docker.io/library/nginx:1.27`). */
function dockerHubQualified(prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p.includes('/') || prefix.endsWith('/') ? `docker.io/${p}${p.includes('/') ? '' : '/app'}:1.0` : `docker.io/library/${p}:1.27`;
}

function allowedPrefix(policy: string, prefix: string, out: LintFinding[]): void {
  const host = hostOf(prefix);
  if (!/[/:@]$/.test(prefix)) {
    const image = lookalike(prefix);
    out.push({ policy, entry: prefix, code: 'LOOKALIKE_PREFIX', severity: 'bypass', image, message: `"${prefix}" has no trailing "/": Gatekeeper's startswith admits ${image}; write "${prefix}/"` });
  }
  if (host && DOCKER_HUB_HOSTS.has(host)) {
    const image = dockerHubShort(prefix);
    out.push({ policy, entry: prefix, code: 'DOCKER_HUB_SHORT_NAME', severity: 'strict', image, message: `Gatekeeper compares the image as written: ${image} pulls from Docker Hub but does not start with "${prefix}", so it is denied; list the short form too, or require fully qualified names` });
  } else if (!host && prefix.includes('/')) {
    const image = dockerHubQualified(prefix);
    out.push({ policy, entry: prefix, code: 'DOCKER_HUB_QUALIFIED_NAME', severity: 'strict', image, message: `${image} is the same Docker Hub image but does not start with "${prefix}", so it is denied` });
  }
}

function disallowedPrefix(policy: string, prefix: string, out: LintFinding[]): void {
  const host = hostOf(prefix);
  if (host && DOCKER_HUB_HOSTS.has(host)) {
    const image = dockerHubShort(prefix);
    out.push({ policy, entry: prefix, code: 'DOCKER_HUB_SHORT_NAME', severity: 'bypass', image, message: `${image} pulls from Docker Hub but does not start with "${prefix}": Gatekeeper admits it` });
  } else if (!host) {
    const image = dockerHubQualified(prefix);
    out.push({ policy, entry: prefix, code: 'DOCKER_HUB_QUALIFIED_NAME', severity: 'bypass', image, message: `${image} is the same Docker Hub image but does not start with "${prefix}": Gatekeeper admits it` });
  } else if (!host.includes(':')) {
    const image = `${host}:443${prefix.slice(host.length)}${prefix.endsWith('/') || prefix === host ? '' : '/'}${prefix === host ? '/' : ''}x`;
    out.push({ policy, entry: prefix, code: 'REGISTRY_PORT', severity: 'bypass', image, message: `${image} pulls from the same registry (port 443 written out) but does not start with "${prefix}": Gatekeeper admits it` });
  }
}

/** An image, written the short Docker Hub way, that a pattern without a registry (or naming index.docker.io) seems to mean. */
function kyvernoExample(pattern: string): string | undefined {
  const head = pattern.split(/[*?]/)[0]!;
  const host = hostOf(head);
  if (head === '' || (host && host !== 'index.docker.io' && host !== 'registry-1.docker.io')) return undefined;
  const rest = host ? head.slice(host.length + 1) : head;
  if (rest === '') return 'nginx:1.27';
  if (!/[*?]/.test(pattern)) return host ? rest : pattern;
  return rest.endsWith('/') ? `${rest}app:1.0` : rest.endsWith(':') ? `${rest}1.0` : `${rest}:1.0`;
}

/** Lints every rule and policy of a set; findings in policy order. */
export function lintPolicies(set: PolicySet): LintFinding[] {
  const out: LintFinding[] = [];
  for (const rule of set.rules) {
    const policy = `${rule.kind}/${rule.name}`;
    if (rule.kind === 'K8sAllowedRepos') for (const p of rule.repos) allowedPrefix(policy, p, out);
    if (rule.kind === 'K8sAllowedReposv2') for (const p of rule.allowedImages.filter((x) => x.endsWith('*'))) allowedPrefix(policy, p.slice(0, -1), out);
    if (rule.kind === 'K8sDisallowedRepos') for (const p of rule.repos) disallowedPrefix(policy, p, out);
  }
  const uncovered = set.noMatchPolicy === 'deny' ? 'strict' : 'bypass';
  const fallsTo = `falls to no-match-policy (${set.noMatchPolicy})`;
  for (const p of set.imagePolicies) {
    const policy = `ClusterImagePolicy/${p.name}`;
    for (const { glob } of p.images) {
      if (/^docker\.io\//.test(glob)) {
        const image = `${dockerHubShort(glob.replace(/\*+.*$/, ''))}`;
        out.push({ policy, entry: glob, code: 'GLOB_DOCKER_IO', severity: uncovered, image, message: `policy-controller names Docker Hub images index.docker.io/...: "${glob}" never matches, so ${image} ${fallsTo}; write "index.${glob}"` });
      } else if (!glob.includes('*')) {
        const image = `${glob.includes(':') ? glob.slice(0, glob.lastIndexOf(':')) : glob}@sha256:${'0'.repeat(64)}`;
        out.push({ policy, entry: glob, code: 'GLOB_NEVER_MATCHES', severity: uncovered, image, message: `the webhook matches the digest-resolved name (repo@sha256:...), which "${glob}" (no wildcard) never equals: ${image} ${fallsTo}; end it with ":**" or "@**"` });
      } else if (/\/\*$/.test(glob)) {
        const image = `${glob.slice(0, -1)}team/app:1.0`;
        out.push({ policy, entry: glob, code: 'GLOB_ONE_SEGMENT', severity: uncovered, image, message: `"*" does not cross "/": ${image} is not covered and ${fallsTo}; use "**" for nested repositories` });
      }
    }
  }
  for (const k of set.kyverno) {
    for (const pattern of k.imageReferences) {
      const example = kyvernoExample(pattern);
      if (example && !kyvernoWildcard(pattern, kyvernoSubject(example))) {
        out.push({ policy: `${k.kind}/${k.name}`, entry: pattern, code: 'PATTERN_NEVER_MATCHES', severity: 'bypass', image: example, message: `Kyverno matches ${example} as ${kyvernoSubject(example)}, which "${pattern}" does not match: it is not verified; qualify the pattern (docker.io/...)` });
      }
    }
  }
  return out;
}

/** One finding as a line: severity, policy, entry, code and why (with the example image). */
export function renderFinding(f: LintFinding): string {
  return `${f.severity.toUpperCase().padEnd(6)} ${f.policy} "${f.entry}" ${f.code}: ${f.message}`;
}
