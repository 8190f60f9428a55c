/**
 * gatekeeper-library's image constraints, decided as their Rego decides them:
 * on the image string exactly as written in the pod spec (no normalisation),
 * over containers, initContainers and ephemeralContainers, with the library's
 * own violation messages. Sources (open-policy-agent/gatekeeper-library,
 * library/general/<template>/template.yaml):
 *   allowedrepos 1.0.2     `not strings.any_prefix_match(container.image, input.parameters.repos)`
 *   disallowedrepos 1.0.0  `startswith(image, input.parameters.repos[_])`
 *   allowedreposv2 1.0.0   `image_matches`: exact, or `startswith` the prefix before a trailing `*`
 *   disallowedtags         `strings.any_suffix_match(image, [":" + tag])`, and a tag must be written
 *   imagedigests           `regex.match("@[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", image)`
 * `exemptImages` follows lib.exempt_container (exact, or prefix before a trailing `*`).
 */

export type ContainerField = 'containers' | 'initContainers' | 'ephemeralContainers';

/** One container of a pod spec, as admission sees it. */
export interface PodContainer {
  field: ContainerField;
  name: string;
  image: string;
}

export type EnforcementAction = 'deny' | 'warn' | 'dryrun';

export type GatekeeperRule =
  | { kind: 'K8sAllowedRepos'; name: string; action: EnforcementAction; repos: string[] }
  | { kind: 'K8sDisallowedRepos'; name: string; action: EnforcementAction; repos: string[] }
  | { kind: 'K8sAllowedReposv2'; name: string; action: EnforcementAction; allowedImages: string[] }
  | { kind: 'K8sDisallowedTags'; name: string; action: EnforcementAction; tags: string[]; exemptImages: string[] }
  | { kind: 'K8sImageDigests'; name: string; action: EnforcementAction; exemptImages: string[] };

// The Rego messages name the container kind in the singular.
const NOUN: Record<ContainerField, string> = { containers: 'container', initContainers: 'initContainer', ephemeralContainers: 'ephemeralContainer' };

// OPA's sprintf("%v") of an array of strings.
const list = (xs: string[]): string => `[${xs.map((x) => JSON.stringify(x)).join(', ')}]`;

/** lib.exempt_container `_matches_exemption`, also allowedreposv2's `image_matches`: exact, or a prefix before a trailing `*`. */
function starPrefixMatch(image: string, pattern: string): boolean {
  return pattern.endsWith('*') ? image.startsWith(pattern.slice(0, -1)) : image === pattern;
}

const DIGEST_RE = /@[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+/;

/** The violation messages one container raises under one rule (empty: it passes). */
export function gatekeeperViolations(rule: GatekeeperRule, c: PodContainer): string[] {
  const who = `${NOUN[c.field]} <${c.name}>`;
  switch (rule.kind) {
    case 'K8sAllowedRepos':
      return rule.repos.some((r) => c.image.startsWith(r)) ? [] : [`${who} has an invalid image repo <${c.image}>, allowed repos are ${list(rule.repos)}`];
    case 'K8sDisallowedRepos':
      // Every matching prefix yields the same message, and violations are a set: one.
      return rule.repos.some((r) => c.image.startsWith(r)) ? [`${who} has an invalid image repo <${c.image}>, disallowed repos are ${list(rule.repos)}`] : [];
    case 'K8sAllowedReposv2':
      return rule.allowedImages.some((p) => starPrefixMatch(c.image, p)) ? [] : [`${who} has an invalid image <${c.image}>, allowed images are ${list(rule.allowedImages)}`];
    case 'K8sDisallowedTags': {
      if (rule.exemptImages.some((p) => starPrefixMatch(c.image, p))) return [];
      const out: string[] = [];
      // input_containers is a set and the messages say "container" whatever the field.
      if (rule.tags.some((t) => c.image.endsWith(`:${t}`))) out.push(`container <${c.name}> uses a disallowed tag <${c.image}>; disallowed tags are ${list(rule.tags)}`);
      const parts = c.image.split('/');
      if (!parts[parts.length - 1]!.includes(':')) out.push(`container <${c.name}> didn't specify an image tag <${c.image}>`);
      return out;
    }
    case 'K8sImageDigests':
      if (rule.exemptImages.some((p) => starPrefixMatch(c.image, p))) return [];
      return DIGEST_RE.test(c.image) ? [] : [`${who} uses an image without a digest <${c.image}>`];
  }
}

/** A pod's violations under one rule: a set of messages, as Rego's `violation[{"msg": msg}]` is. */
export function podViolations(rule: GatekeeperRule, containers: PodContainer[]): string[] {
  return [...new Set(containers.flatMap((c) => gatekeeperViolations(rule, c)))];
}
