import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { parse as parseYaml } from 'yaml';
import { PullbenchError } from '../errors.js';
import type { BasicCredentials } from '../oci/credentials.js';
import { RegistryHttpError } from './http-error.js';

export type AuthMode = 'none' | 'basic' | 'token';

/** One scope of access, as in `repository:<name>:pull,push`. */
export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

interface TokenClaims {
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  access: AccessEntry[];
}

/** Who a request is from once its Authorization header has been checked. */
export interface Principal {
  username?: string | undefined;
  access?: AccessEntry[];
}

/** A user entry: a plain password (from flags/JSON/YAML) or a bcrypt hash (htpasswd). */
interface UserEntry {
  password?: string;
  bcryptHash?: string;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/**
 * Loads users from a file: a JSON or YAML list of `{username, password}`, or an
 * Apache htpasswd file with bcrypt hashes (`user:$2y$...`).
 */
export async function loadUsersFile(path: string): Promise<Array<BasicCredentials | { username: string; bcryptHash: string }>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PullbenchError('INVALID_USERS_FILE', `cannot read users file ${path}`, { cause: err, details: { path } });
  }
  const trimmed = text.trim();
  const lines = trimmed.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  if (lines.length > 0 && lines.every((l) => /^[^:\s]+:\$2[aby]\$\d\d\$/.test(l.trim()))) {
    return lines.map((l) => {
      const i = l.indexOf(':');
      return { username: l.slice(0, i), bcryptHash: l.slice(i + 1).trim() };
    });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new PullbenchError('INVALID_USERS_FILE', `${path}: not YAML, JSON or htpasswd (bcrypt)`, { cause: err, details: { path } });
  }
  if (!Array.isArray(data)) {
    throw new PullbenchError('INVALID_USERS_FILE', `${path}: expected a list of {username, password}`, { details: { path } });
  }
  return data.map((u: unknown, i) => {
    const entry = u as Partial<BasicCredentials> | null;
    if (!entry || typeof entry.username !== 'string' || !entry.username || typeof entry.password !== 'string') {
      throw new PullbenchError('INVALID_USERS_FILE', `${path}: entry ${i} needs string username and password`, {
        details: { path, index: i },
      });
    }
    return { username: entry.username, password: entry.password };
  });
}

export interface AuthOptions {
  mode: AuthMode;
  users: Array<BasicCredentials | { username: string; bcryptHash: string }>;
  /** Anonymous clients may pull (token mode: anonymous pull tokens). Default false. */
  anonymousPull?: boolean | undefined;
  service?: string;
  tokenTtlSeconds?: number | undefined;
  /** Clock (seconds since epoch), injectable for expiry tests. */
  now?: () => number;
}

/**
 * Basic and Docker Hub-style bearer-token auth. Authenticated users may pull
 * and push every repository; anonymous users may pull when `anonymousPull`.
 * Tokens are HMAC-SHA256-signed with a per-process key and carry per-repository
 * scopes, so a token for repository A never reads repository B.
 */
export class Authenticator {
  readonly mode: AuthMode;
  readonly service: string;
  private readonly users = new Map<string, UserEntry>();
  private readonly verified = new Set<string>();
  private readonly key = randomBytes(32);
  private readonly ttl: number;
  private readonly now: () => number;
  private readonly anonymousPull: boolean;

  constructor(opts: AuthOptions) {
    this.mode = opts.mode;
    this.service = opts.service ?? 'pullbench-registry';
    this.ttl = opts.tokenTtlSeconds ?? 300;
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.anonymousPull = opts.anonymousPull ?? false;
    for (const u of opts.users) {
      this.users.set(u.username, 'password' in u ? { password: u.password } : { bcryptHash: u.bcryptHash });
    }
  }

  /** Checks a username and password; bcrypt results are cached by a hash of both. */
  checkPassword(username: string, password: string): boolean {
    const user = this.users.get(username);
    if (!user) return false;
    if (user.password !== undefined) return safeEqual(user.password, password);
    const key = sha256(`${username}\0${password}`).toString('hex');
    if (this.verified.has(key)) return true;
    const ok = bcrypt.compareSync(password, user.bcryptHash!);
    if (ok) this.verified.add(key);
    return ok;
  }

  /** Parses `Authorization: Basic ...`; undefined when absent, 401 when wrong. */
  basicPrincipal(header: string | undefined): Principal | undefined {
    if (!header?.startsWith('Basic ')) return undefined;
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    const username = i < 0 ? decoded : decoded.slice(0, i);
    const password = i < 0 ? '' : decoded.slice(i + 1);
    if (!this.checkPassword(username, password)) {
      throw new RegistryHttpError('UNAUTHORIZED', 'invalid username or password');
    }
    return { username };
  }

  /** What a principal may do: requested actions it is entitled to. */
  grant(principal: Principal, requested: AccessEntry[]): AccessEntry[] {
    return requested
      .map((r) => {
        let allowed: string[];
        if (principal.username !== undefined) {
          allowed = r.type === 'registry' ? (r.name === 'catalog' ? ['*'] : []) : ['pull', 'push', 'delete', '*'];
        } else {
          allowed = this.anonymousPull && r.type === 'repository' ? ['pull'] : [];
        }
        return { ...r, actions: r.actions.filter((a) => allowed.includes(a)) };
      })
      .filter((r) => r.actions.length > 0);
  }

  issueToken(principal: Principal, requested: AccessEntry[]): { token: string; access_token: string; expires_in: number; issued_at: string } {
    const iat = this.now();
    const claims: TokenClaims = {
      sub: principal.username ?? '',
      aud: this.service,
      iat,
      exp: iat + this.ttl,
      access: this.grant(principal, requested),
    };
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const sig = createHmac('sha256', this.key).update(payload).digest('base64url');
    const token = `${payload}.${sig}`;
    return { token, access_token: token, expires_in: this.ttl, issued_at: new Date(iat * 1000).toISOString() };
  }

  /** Verifies a bearer token's signature, audience and expiry. */
  tokenPrincipal(header: string | undefined): Principal | undefined {
    if (!header?.startsWith('Bearer ')) return undefined;
    const token = header.slice(7).trim();
    const dot = token.indexOf('.');
    const invalid = new RegistryHttpError('UNAUTHORIZED', 'invalid or expired token');
    if (dot < 0) throw invalid;
    const payload = token.slice(0, dot);
    const expected = createHmac('sha256', this.key).update(payload).digest('base64url');
    if (!safeEqual(expected, token.slice(dot + 1))) throw invalid;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      throw invalid;
    }
    if (claims.aud !== this.service || claims.exp <= this.now()) throw invalid;
    return { username: claims.sub || undefined, access: claims.access };
  }

  /** True when the principal may perform `action` on the resource. */
  allowed(principal: Principal, type: AccessEntry['type'], name: string, action: string): boolean {
    if (this.mode === 'none') return true;
    if (this.mode === 'basic') return this.grant(principal, [{ type, name, actions: [action] }]).length > 0;
    return (principal.access ?? []).some(
      (a) => a.type === type && a.name === name && (a.actions.includes(action) || a.actions.includes('*')),
    );
  }

  /** The WWW-Authenticate challenge for a missing or insufficient credential. */
  challenge(realmBase: string, scope?: string): string {
    if (this.mode === 'basic') return 'Basic realm="pullbench-registry"';
    const scopePart = scope ? `,scope="${scope}"` : '';
    return `Bearer realm="${realmBase}/token",service="${this.service}"${scopePart}`;
  }
}

/** Parses `scope` values such as `repository:a/b:pull,push` (several may be given). */
export function parseScopes(values: string[]): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const value of values) {
    for (const scope of value.split(' ')) {
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first < 0 || last === first) continue;
      const type = scope.slice(0, first);
      if (type !== 'repository' && type !== 'registry') continue;
      out.push({ type, name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) });
    }
  }
  return out;
}
