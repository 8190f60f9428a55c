import { PullbenchError } from '../errors.js';
import { isDigest, parseDigest } from './digest.js';

/**
 * Image references, normalised the way Kubernetes (kubelet's
 * `parsers.ParseImageName`) and containerd (`docker.ParseDockerRef`) do it, on
 * top of the grammar of github.com/distribution/reference:
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *   domain    := host [":" port]     host := domain-name | "[" ipv6 "]"
 *   path-component := [a-z0-9]+ (separator [a-z0-9]+)*   separator := [_.] | "__" | "-"+
 *   tag       := [\w][\w.-]{0,127}
 */
export interface ImageReference {
  /** Registry host[:port], e.g. `docker.io`, `registry.k8s.io`, `127.0.0.1:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/nginx`. */
  path: string;
  /** `latest` when the input had neither tag nor digest. */
  tag?: string;
  digest?: string;
  /** `domain/path`, e.g. `docker.io/library/nginx`. */
  name: string;
  /** The normalised name with the tag (or the digest when untagged): `docker.io/library/nginx:latest`. */
  familiar: string;
  /** What a pull fetches: the digest when there is one (containerd drops the tag then), else the tag. */
  reference: string;
  /** Fully normalised, tag and/or digest: `docker.io/library/nginx:1.27@sha256:...`. */
  toString(): string;
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
/** distribution/reference NameTotalLengthMax. */
const NAME_TOTAL_LENGTH_MAX = 255;

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_NAME_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_NAME_COMPONENT}(?:\\.${DOMAIN_NAME_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN_RE = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_SYNTAX_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

function invalid(input: string, why: string): PullbenchError {
  const shown = JSON.stringify(input.length > 300 ? `${input.slice(0, 300)}...` : input);
  return new PullbenchError('INVALID_IMAGE_NAME', `invalid image name ${shown}: ${why}`, {
    details: { image: input.slice(0, 300), reason: why },
  });
}

/** Splits off the domain as distribution's `splitDockerDomain` does. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  let domain: string;
  let remainder: string;
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Parses and normalises an image reference (`nginx` -> `docker.io/library/nginx:latest`).
 * Anything the grammar rejects is INVALID_IMAGE_NAME (kubelet's `InvalidImageName`).
 */
export function parseReference(input: string): ImageReference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(String(input ?? ''), 'repository name must have at least one component');
  if (IDENTIFIER_RE.test(input)) throw invalid(input, 'cannot specify 64-byte hexadecimal strings');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_SYNTAX_RE.test(digest)) throw invalid(input, 'invalid reference format');
    if (!isDigest(digest)) throw invalid(input, 'unsupported digest algorithm or wrong digest length');
  }
  let tag: string | undefined;
  // A tag follows the last ':' only if no '/' comes after it (a ':' before a '/' is a port).
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && !rest.slice(colon).includes('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(input, 'invalid reference format');
  }
  if (rest.length === 0) throw invalid(input, 'repository name must have at least one component');

  const { domain, remainder } = splitDomain(rest);
  // distribution/reference's ParseNormalizedNamed text, which kubelet's InvalidImageName message carries.
  if (remainder.toLowerCase() !== remainder) throw invalid(input, `invalid reference format: repository name (${remainder}) must be lowercase`);
  if (!DOMAIN_RE.test(domain) || !PATH_RE.test(remainder)) throw invalid(input, 'invalid reference format');
  const name = `${domain}/${remainder}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) throw invalid(input, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);

  if (tag === undefined && digest === undefined) tag = 'latest';
  const full = `${name}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@${digest}`}`;
  return {
    domain,
    path: remainder,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    name,
    familiar: tag === undefined ? `${name}@${digest}` : `${name}:${tag}`,
    reference: digest ?? (tag as string),
    toString: () => full,
  };
}

/** A tag or a digest, as a manifest reference in a URL path; INVALID_ARGUMENT (or the digest's error) otherwise. */
export function checkReference(reference: string): void {
  if (isDigest(reference)) return;
  if (!/^[\w][\w.-]{0,127}$/.test(reference)) {
    if (reference.includes(':')) parseDigest(reference);
    throw new PullbenchError('INVALID_ARGUMENT', `invalid tag ${JSON.stringify(reference.slice(0, 200))}`);
  }
}
