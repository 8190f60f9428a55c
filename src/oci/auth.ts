import { PullbenchError } from '../errors.js';

/** A parsed `WWW-Authenticate` challenge: `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`. */
export interface AuthChallenge {
  scheme: string; // lower case: 'bearer', 'basic', ...
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header value (RFC 7235), which may hold several
 * challenges, each with comma-separated `key=value` or `key="quoted value"` params.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  let i = 0;
  const s = header;
  const skipSpace = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipSpace();
    while (s[i] === ',') {
      i++;
      skipSpace();
    }
    const scheme = token();
    if (!scheme) break;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skipSpace();
      const save = i;
      const key = token();
      skipSpace();
      if (!key || s[i] !== '=') {
        // Not a param: the start of the next challenge (or token68, which registries do not use).
        i = save;
        break;
      }
      i++;
      skipSpace();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',' && s[i] !== ' ') i++;
        value = s.slice(start, i);
      }
      challenge.params[key.toLowerCase()] = value;
      skipSpace();
      if (s[i] === ',') {
        i++;
        continue;
      }
      break;
    }
  }
  return challenges;
}

/** `repository:<repo>:pull` (or `pull,push`), the scope containerd asks for. */
export function repositoryScope(repo: string, actions: readonly string[]): string {
  return `repository:${repo}:${actions.join(',')}`;
}

/** Union of space-separated scopes, merging actions for the same resource, in a stable order. */
export function mergeScopes(...scopes: (string | undefined)[]): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes.flatMap((s) => (s ?? '').split(' ')).filter(Boolean)) {
    const cut = scope.lastIndexOf(':');
    const resource = cut === -1 ? scope : scope.slice(0, cut);
    const actions = cut === -1 ? [] : scope.slice(cut + 1).split(',');
    const set = byResource.get(resource) ?? new Set<string>();
    for (const a of actions) if (a) set.add(a);
    byResource.set(resource, set);
  }
  return [...byResource.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([resource, actions]) => (actions.size ? `${resource}:${[...actions].sort().join(',')}` : resource));
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** Reads `token` or `access_token` from a token endpoint's JSON answer. */
export function tokenFromResponse(body: unknown): string {
  if (body && typeof body === 'object') {
    const b = body as { token?: unknown; access_token?: unknown };
    const t = typeof b.token === 'string' && b.token ? b.token : b.access_token;
    if (typeof t === 'string' && t.length > 0) return t;
  }
  throw new PullbenchError('REGISTRY_ERROR', 'the token endpoint answered without a token or access_token');
}
