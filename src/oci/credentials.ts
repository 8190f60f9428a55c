import { PullbenchError } from '../errors.js';
import { parseReference } from './reference.js';

/**
 * kubelet's credential keyring, reproduced from kubernetes/kubernetes
 * pkg/credentialprovider/keyring.go (BasicDockerKeyring.Add/Lookup, urlsMatch,
 * isDefaultRegistryMatch), pkg/credentialprovider/config.go (DockerConfigEntry
 * decoding), pkg/credentialprovider/secrets/secrets.go (MakeDockerKeyring) and
 * pkg/kubelet/kuberuntime/kuberuntime_image.go (PullImage: one pull per
 * credential, errors aggregated, anonymous only when nothing matched).
 */

/** A username and password: for the registry client, the keyring, and the embedded registry's users. */
export interface BasicCredentials {
  username: string;
  password: string;
}

/** One entry of a docker config: `auth` (base64 `user:pass`) wins over `username`/`password`, as in kubelet. */
export interface DockerConfigEntry {
  username?: string;
  password?: string;
  auth?: string;
  email?: string;
}

/** Registry key (`https://index.docker.io/v1/`, `*.example.com`, `quay.io/org`) -> entry. */
export type DockerConfig = Record<string, DockerConfigEntry>;

/** The parts of a Kubernetes Secret the keyring reads. `data` values are base64 as in the API; `stringData` is plain. */
export interface PullSecret {
  metadata?: { name?: string };
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export const SECRET_TYPE_DOCKER_CONFIG_JSON = 'kubernetes.io/dockerconfigjson';
const SECRET_TYPE_DOCKERCFG = 'kubernetes.io/dockercfg';
const DOCKER_CONFIG_JSON_KEY = '.dockerconfigjson';
const DOCKERCFG_KEY = '.dockercfg';
/** keyring.go defaultRegistryHost: the key `https://index.docker.io/v1/` is stored under. */
const DEFAULT_REGISTRY_HOST = 'index.docker.io';

interface IndexedKey {
  key: string;
  hostLabels: string[];
  port: string;
  path: string;
}

function badFile(source: string, why: string): PullbenchError {
  // Never include the file's content: it holds secrets.
  return new PullbenchError('INVALID_CREDENTIALS_FILE', `${source}: ${why}`, { details: { source, reason: why } });
}

/** config.go decodeDockerConfigFieldAuth: padded -> StdEncoding, unpadded -> RawStdEncoding; then split on the first ':'. */
function decodeAuthField(field: string, source: string, key: string): BasicCredentials {
  const trimmed = field.trim();
  const body = trimmed.replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(body) || body.length % 4 === 1) {
    throw badFile(source, `the auth field of ${JSON.stringify(key)} is not valid base64`);
  }
  const decoded = Buffer.from(body, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) {
    throw badFile(source, `the auth field of ${JSON.stringify(key)} must be formatted as base64(username:password)`);
  }
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function parseEntry(value: unknown, source: string, key: string): BasicCredentials {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw badFile(source, `the entry for ${JSON.stringify(key)} must be an object`);
  }
  const entry = value as Record<string, unknown>;
  for (const field of ['username', 'password', 'auth', 'email'] as const) {
    if (entry[field] !== undefined && typeof entry[field] !== 'string') {
      throw badFile(source, `the ${field} field of ${JSON.stringify(key)} must be a string`);
    }
  }
  const auth = entry.auth as string | undefined;
  if (auth !== undefined && auth.length > 0) return decodeAuthField(auth, source, key);
  return { username: (entry.username as string | undefined) ?? '', password: (entry.password as string | undefined) ?? '' };
}

function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse messages quote the input; say only where it failed.
    throw badFile(source, 'is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw badFile(source, 'must be a JSON object');
  return parsed as Record<string, unknown>;
}

function parseEntries(obj: Record<string, unknown>, source: string): Map<string, BasicCredentials> {
  const out = new Map<string, BasicCredentials>();
  for (const [key, value] of Object.entries(obj)) out.set(key, parseEntry(value, source, key));
  return out;
}

/** Parses `.dockerconfigjson` / node `config.json` text: `{"auths": {...}}`. */
export function parseDockerConfigJson(text: string, source = 'config.json'): Map<string, BasicCredentials> {
  const obj = parseJsonObject(text, source);
  const auths = obj.auths;
  if (auths === undefined) return new Map();
  if (auths === null || typeof auths !== 'object' || Array.isArray(auths)) throw badFile(source, '"auths" must be an object');
  return parseEntries(auths as Record<string, unknown>, source);
}

/** Parses legacy `.dockercfg` text: the entries without the `auths` wrapper. */
function parseDockercfg(text: string, source = '.dockercfg'): Map<string, BasicCredentials> {
  return parseEntries(parseJsonObject(text, source), source);
}

/** Go's url.Parse("https://" + value) reduced to what the keyring reads: the authority (case kept) and the unescaped path. */
function splitLocation(value: string): { host: string; port: string; path: string } | undefined {
  const rest = value.replace(/^https?:\/\//, '');
  const end = rest.search(/[/?#]/);
  let authority = end === -1 ? rest : rest.slice(0, end);
  const pathEnd = rest.slice(end === -1 ? rest.length : end).search(/[?#]/);
  const rawPath = end === -1 ? '' : pathEnd === -1 ? rest.slice(end) : rest.slice(end, end + pathEnd);
  if (authority.includes('@')) authority = authority.slice(authority.lastIndexOf('@') + 1);
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  // keyring.go splitURL: net.SplitHostPort, or the whole host with no port when that fails.
  const m = /^(\[[^\]]*\]|[^:[\]]*):(\d*)$/.exec(authority);
  if (m === null) return { host: authority, port: '', path };
  return { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: m[2] as string, path };
}

/** Normalises a config key as BasicDockerKeyring.Add: strip the scheme, treat `/v1/` and `/v2/` as the bare host. */
export function normaliseKey(location: string): string | undefined {
  const withScheme = /^https?:\/\//.test(location) ? location : `https://${location}`;
  const parts = splitLocation(withScheme);
  if (parts === undefined) return undefined; // kubelet logs "Entry ... in dockercfg invalid" and ignores it
  const rest = withScheme.replace(/^https?:\/\//, '');
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  let path = parts.path;
  if (path.startsWith('/v2/') || path.startsWith('/v1/')) path = path.slice(3);
  return path.length > 0 && path !== '/' ? authority + path : authority;
}

/**
 * One label of a hostname against one label of a glob, with Go's filepath.Match
 * syntax (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes). A malformed pattern matches nothing.
 */
export function matchLabel(pattern: string, name: string): boolean {
  const memo = new Map<string, boolean>();
  const go = (p: number, n: number): boolean => {
    const k = `${p},${n}`;
    const hit = memo.get(k);
    if (hit !== undefined) return hit;
    let result: boolean;
    if (p === pattern.length) result = n === name.length;
    else {
      const c = pattern[p];
      if (c === '*') result = go(p + 1, n) || (n < name.length && name[n] !== '/' && go(p, n + 1));
      else if (n === name.length) result = false;
      else if (c === '?') result = name[n] !== '/' && go(p + 1, n + 1);
      else if (c === '[') {
        const cls = matchClass(pattern, p, name[n] as string);
        result = cls !== undefined && cls.matched && go(cls.end, n + 1);
      } else if (c === '\\') result = p + 1 < pattern.length && pattern[p + 1] === name[n] && go(p + 2, n + 1);
      else result = c === name[n] && go(p + 1, n + 1);
    }
    memo.set(k, result);
    return result;
  };
  return go(0, 0);
}

function matchClass(pattern: string, start: number, ch: string): { matched: boolean; end: number } | undefined {
  let i = start + 1;
  const negate = pattern[i] === '^';
  if (negate) i++;
  let matched = false;
  let first = true;
  while (i < pattern.length && (first || pattern[i] !== ']')) {
    first = false;
    let lo = pattern[i] as string;
    if (lo === '\\') lo = pattern[++i] ?? '';
    if (lo === '') return undefined;
    i++;
    let hi = lo;
    if (pattern[i] === '-' && pattern[i + 1] !== undefined && pattern[i + 1] !== ']') {
      hi = pattern[i + 1] as string;
      i += 2;
      if (hi === '\\') hi = pattern[i++] ?? '';
      if (hi === '') return undefined;
    }
    if (lo <= ch && ch <= hi) matched = true;
  }
  if (pattern[i] !== ']') return undefined;
  return { matched: matched !== negate, end: i + 1 };
}

function indexKey(key: string): IndexedKey | undefined {
  const parts = splitLocation(key);
  if (parts === undefined) return undefined;
  return { key, hostLabels: parts.host.split('.'), port: parts.port, path: parts.path };
}

/** keyring.go urlsMatch: same port, same number of labels, each label a glob match, and the key's path a string prefix of the image's path. */
function keyMatches(glob: IndexedKey, target: IndexedKey): boolean {
  if (glob.port !== target.port) return false;
  if (glob.hostLabels.length !== target.hostLabels.length) return false;
  // kubelet uses strings.HasPrefix, so `quay.io/org` also matches `quay.io/organisation/x`.
  if (!target.path.startsWith(glob.path)) return false;
  return glob.hostLabels.every((label, i) => matchLabel(label, target.hostLabels[i] as string));
}

/** keyring.go isDefaultRegistryMatch, applied to the normalised repository name. */
function isDefaultRegistryMatch(repo: string): boolean {
  const slash = repo.indexOf('/');
  const first = slash === -1 ? repo : repo.slice(0, slash);
  if (first.length === 0) return false;
  if (slash === -1) return true;
  if (first === 'docker.io' || first === 'index.docker.io') return true;
  return !/[.:]/.test(first);
}

/** Image -> the repository name kubelet looks up (parsers.ParseImageName: `nginx` -> `docker.io/library/nginx`). */
function repositoryOf(image: string): string {
  return parseReference(image).name;
}

/** Where a keyring's credentials came from, for logs (never the secret itself). */
export interface CredentialSource {
  source: string;
}

/**
 * A kubelet keyring: an ordered union of basic keyrings (pod pull secrets first,
 * then the node's config.json), each with kubelet's matching rules.
 */
export class Keyring {
  private constructor(private readonly parts: BasicKeyring[]) {}

  /** One basic keyring from docker configs (already decoded), as `BasicDockerKeyring.Add` for each. */
  static fromDockerConfigs(...configs: DockerConfig[]): Keyring {
    const basic = new BasicKeyring();
    configs.forEach((config, i) => {
      const source = `docker config #${i + 1}`;
      basic.add(parseEntries(config as Record<string, unknown>, source));
    });
    return new Keyring([basic]);
  }

  /** The node's keyring from a `config.json` text (`auths`), as kubelet reads /var/lib/kubelet/config.json. */
  static fromNodeConfigJson(text: string, source = 'config.json'): Keyring {
    const basic = new BasicKeyring();
    basic.add(parseDockerConfigJson(text, source));
    return new Keyring([basic]);
  }

  /** A keyring with no credentials (every lookup is anonymous). */
  static empty(): Keyring {
    return new Keyring([]);
  }

  /**
   * secrets.go MakeDockerKeyring: the pod's pull secrets (dockerconfigjson and
   * legacy dockercfg; other types and empty data ignored) in one basic keyring,
   * unioned before the node keyring. Service-account pull secrets reach the pod
   * through the ServiceAccount admission plugin, which copies them only when the
   * pod names none (plugin/pkg/admission/serviceaccount/admission.go); pass them
   * as `serviceAccountSecrets` and this applies that rule.
   */
  static forPod(opts: { secrets?: PullSecret[]; serviceAccountSecrets?: PullSecret[]; node?: Keyring }): Keyring {
    const podSecrets = opts.secrets ?? [];
    const secrets = podSecrets.length > 0 ? podSecrets : (opts.serviceAccountSecrets ?? []);
    const configs: Map<string, BasicCredentials>[] = [];
    for (const secret of secrets) {
      const parsed = parseSecret(secret);
      if (parsed !== undefined) configs.push(parsed);
    }
    const node = opts.node?.parts ?? [];
    if (configs.length === 0) return new Keyring([...node]);
    const basic = new BasicKeyring();
    for (const config of configs) basic.add(config);
    return new Keyring([basic, ...node]);
  }

  /**
   * Credentials for an image, in the order kubelet tries them: per keyring (pod
   * secrets, then node), the most specific key first. Empty means pull anonymously.
   */
  lookup(image: string): BasicCredentials[] {
    const repo = repositoryOf(image);
    return this.parts.flatMap((part) => part.lookup(repo));
  }
}

function secretValue(secret: PullSecret, key: string, source: string): string | undefined {
  const plain = secret.stringData?.[key];
  if (plain !== undefined) return plain;
  const encoded = secret.data?.[key];
  if (encoded === undefined) return undefined;
  if (typeof encoded !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded.trim())) {
    throw badFile(source, `data[${JSON.stringify(key)}] is not base64`);
  }
  return Buffer.from(encoded.trim(), 'base64').toString('utf8');
}

function parseSecret(secret: PullSecret): Map<string, BasicCredentials> | undefined {
  const source = `secret ${JSON.stringify(secret.metadata?.name ?? '(unnamed)')}`;
  if (secret.type === SECRET_TYPE_DOCKER_CONFIG_JSON) {
    const text = secretValue(secret, DOCKER_CONFIG_JSON_KEY, source);
    return text === undefined || text.length === 0 ? undefined : parseDockerConfigJson(text, source);
  }
  if (secret.type === SECRET_TYPE_DOCKERCFG) {
    const text = secretValue(secret, DOCKERCFG_KEY, source);
    return text === undefined || text.length === 0 ? undefined : parseDockercfg(text, source);
  }
  return undefined;
}

class BasicKeyring {
  private readonly creds = new Map<string, BasicCredentials[]>();
  private index: IndexedKey[] = [];

  add(entries: Map<string, BasicCredentials>): void {
    for (const [location, credentials] of entries) {
      const key = normaliseKey(location);
      if (key === undefined) continue;
      const list = this.creds.get(key) ?? [];
      list.push(credentials);
      this.creds.set(key, list);
    }
    // keyring.go: dedupe and reverse-sort the keys so `quay.io/coreos` comes before `quay.io`.
    const keys = [...this.creds.keys()].sort().reverse();
    this.index = keys.map(indexKey).filter((k): k is IndexedKey => k !== undefined);
  }

  lookup(repo: string): BasicCredentials[] {
    const target = indexKey(repo);
    const out: BasicCredentials[] = [];
    if (target !== undefined) {
      for (const key of this.index) if (keyMatches(key, target)) out.push(...(this.creds.get(key.key) ?? []));
    }
    if (out.length > 0) return out;
    const fallback = this.creds.get(DEFAULT_REGISTRY_HOST);
    if (fallback !== undefined && isDefaultRegistryMatch(repo)) return [...fallback];
    return [];
  }
}

/** One pull attempt's failure, kept with the username tried (never the password). */
export interface CredentialAttemptError {
  username: string | undefined;
  error: unknown;
}

/**
 * kuberuntime_image.go PullImage: with no credentials, one anonymous pull; else
 * one whole pull per credential in order, the first success wins, and when all
 * fail the errors are aggregated — never an anonymous retry.
 */
export async function pullWithCredentials<T>(
  credentials: BasicCredentials[],
  attempt: (credentials: BasicCredentials | undefined) => Promise<T>,
): Promise<T> {
  if (credentials.length === 0) return attempt(undefined);
  const failures: CredentialAttemptError[] = [];
  for (const creds of credentials) {
    try {
      return await attempt(creds);
    } catch (error) {
      failures.push({ username: creds.username, error });
    }
  }
  if (failures.length === 1) throw failures[0]?.error;
  const messages = failures.map((f) => (f.error instanceof Error ? f.error.message : String(f.error)));
  // utilerrors.NewAggregate formats several errors as "[e1, e2]".
  const first = failures[0]?.error;
  const code = first instanceof PullbenchError ? first.code : 'REGISTRY_ERROR';
  throw new PullbenchError(code, `[${messages.join(', ')}]`, {
    cause: new AggregateError(failures.map((f) => f.error)),
    details: { attempts: failures.length, usernames: failures.map((f) => f.username) },
  });
}
