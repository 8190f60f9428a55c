import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parse as parseYaml, parseDocument, type Document, type Node } from 'yaml';
import { PullbenchError } from '../errors.js';
import { expandArms, armMatches } from './matrix.js';
import { INVALID, type Issue, type Path } from './schema-builder.js';
import { scenarioSchema, type Scenario } from './schema.js';

/** One problem in a scenario file, located for humans and editors. */
export interface ScenarioProblem {
  file: string;
  /** 1-based; 0 when the problem comes from a `--set` override. */
  line: number;
  column: number;
  /** `rollouts[0].deployment.replicas` */
  path: string;
  message: string;
  /** The `--set` argument the problem comes from, if any. */
  set?: string;
}

export interface LoadOptions {
  /** `path=value` overrides, e.g. `cluster.nodes=3`, `matrix.pullPolicy=[Always]`. */
  set?: string[];
  /** Environment for `${env:NAME}`; defaults to process.env. */
  env?: Record<string, string | undefined>;
}

export interface LoadedScenario {
  scenario: Scenario;
  file: string;
  /** Directory of the file, for relative paths (image import). */
  dir: string;
  /** Paths of secret fields (passwords), redacted in results. */
  secretPaths: Path[];
  /** Values that came from `${env:...}`, also redacted wherever they appear. */
  secretValues: string[];
}

const ENV_RE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Reads, interpolates, overrides and validates a scenario file; throws once with every problem. */
export async function loadScenario(file: string, options: LoadOptions = {}): Promise<LoadedScenario> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new PullbenchError('SCENARIO_NOT_FOUND', `cannot read scenario file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, {
      cause: err,
      details: { file },
    });
  }
  return parseScenario(decodeText(bytes, file), file, options);
}

/** Most problems listed in an error; the rest are counted, so that a wrong file gives a page, not megabytes. */
const MAX_PROBLEMS_SHOWN = 20;
/** Keys that would reach an object's prototype when a scenario is turned into objects. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

// A scenario is YAML text: a binary or non-UTF-8 file is refused in one line rather than parsed into pages of errors.
function decodeText(bytes: Buffer, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw notText(file, 'it is not UTF-8 text');
  }
}

function notText(file: string, why: string): PullbenchError {
  const problem = { file, line: 1, column: 1, path: '', message: `${why}; a scenario is a YAML file` };
  return new PullbenchError('SCENARIO_INVALID', `${file}: not a scenario file: ${problem.message}`, {
    details: { file, problems: [problem], problemCount: 1 },
  });
}

/** Same as loadScenario, from text already in memory. */
export function parseScenario(text: string, file: string, options: LoadOptions = {}): LoadedScenario {
  // NUL and other C0 controls (YAML allows tab, LF, CR) mean a binary file.
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u0008\u000E-\u001F]/.test(text)) throw notText(file, 'it holds binary data');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return { file, line: pos.line, column: pos.col, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` };
    });
    throw invalid(file, problems);
  }

  const overrides = applyOverrides(doc, file, options.set ?? []);
  const locate = (issue: Pick<Issue, 'path' | 'atKey'>, message: string): ScenarioProblem => {
    const pathText = formatPath(issue.path);
    // The last flag that set the path, or that created the key the problem is about, is the one to blame.
    const override = overrides.findLast((o) => startsWith(issue.path, o.path) || (o.created !== undefined && startsWith(issue.path, o.created)));
    if (override) return { file, line: 0, column: 0, path: pathText, message, set: override.arg };
    const offset = offsetOf(doc, issue.path, issue.atKey ?? false);
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col, path: pathText, message };
  };

  const raw: unknown = doc.toJS();
  if (raw === null || raw === undefined) throw invalid(file, [{ file, line: 1, column: 1, path: '', message: 'the file is empty' }]);

  const env = options.env ?? process.env;
  const missing: ScenarioProblem[] = [];
  const secretValues: string[] = [];
  const interpolated = interpolate(raw, [], (name, path) => {
    const value = env[name];
    if (value === undefined) {
      missing.push(locate({ path }, `environment variable ${name} is not set`));
      return '';
    }
    if (value.length > 0) secretValues.push(value);
    return value;
  });
  if (missing.length > 0) {
    throw new PullbenchError('SCENARIO_ENV_MISSING', problemText(file, missing), {
      details: { file, problems: missing, variables: [...new Set(missing.map((m) => /variable (\S+)/.exec(m.message)?.[1]))] },
    });
  }

  const ctx = { issues: [...forbiddenKeys(interpolated, []), ...mixedForms(interpolated)], secrets: [] as Path[] };
  const result = scenarioSchema.check(interpolated, [], ctx);
  if (result !== INVALID) {
    const arms = expandArms(result).map((a) => a.name);
    result.thresholds.forEach((t, i) => {
      if (!arms.some((a) => armMatches(t.arm, a))) {
        ctx.issues.push({ path: ['thresholds', i, 'arm'], message: `"${t.arm}" selects no arm; arms are ${arms.join(', ')}` });
      }
    });
  }
  if (ctx.issues.length > 0 || result === INVALID) {
    throw invalid(file, ctx.issues.map((i) => locate(i, i.message)));
  }
  return { scenario: result, file, dir: dirname(resolve(file)), secretPaths: ctx.secrets, secretValues };
}

/** The scenario with every secret replaced by `***`, fit for results files. */
export function redactScenario(loaded: LoadedScenario): unknown {
  const copy = structuredClone(loaded.scenario) as unknown as Record<string, unknown>;
  for (const path of loaded.secretPaths) {
    let node: unknown = copy;
    for (const seg of path.slice(0, -1)) node = (node as Record<string | number, unknown>)?.[seg];
    const last = path[path.length - 1];
    if (node && typeof node === 'object' && last !== undefined) (node as Record<string | number, unknown>)[last] = '***';
  }
  return redactValues(copy, loaded.secretValues);
}

/**
 * Shorter secrets are redacted in their own fields only: searched for in free text, a password `y` turned every
 * arm `Always` into `Alwa***s`.
 */
const MIN_REDACTED_IN_TEXT = 4;

/** Replaces every occurrence of the given secret strings inside string leaves. */
export function redactValues<T>(value: T, secrets: string[]): T {
  const live = secrets.filter((v) => v.length >= MIN_REDACTED_IN_TEXT);
  if (live.length === 0) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return live.reduce((acc, sec) => acc.split(sec).join('***'), v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

function invalid(file: string, problems: ScenarioProblem[]): PullbenchError {
  return new PullbenchError('SCENARIO_INVALID', problemText(file, problems), {
    details: { file, problems: problems.slice(0, MAX_PROBLEMS_SHOWN), problemCount: problems.length },
  });
}

function problemText(file: string, problems: ScenarioProblem[]): string {
  const lines = problems.slice(0, MAX_PROBLEMS_SHOWN).map((p) => {
    const where = p.set ? `--set ${p.set}` : `${p.file}:${p.line}:${p.column}`;
    return `  ${where}: ${p.path ? `${p.path}: ` : ''}${clip(p.message)}`;
  });
  const rest = problems.length - lines.length;
  if (rest > 0) lines.push(`  ... and ${rest} more problem${rest === 1 ? '' : 's'} (fix these first)`);
  return `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${lines.join('\n')}`;
}

function clip(message: string): string {
  return message.length > 200 ? `${message.slice(0, 197)}...` : message;
}

// The one-registry and one-pool forms are shorthands: written beside the list form, one of them would be ignored.
function mixedForms(value: unknown): Issue[] {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return [];
  const doc = value as Record<string, unknown>;
  const issues: Issue[] = [];
  if (doc.registries !== undefined) {
    for (const key of ['registry', 'mirror', 'links']) {
      if (doc[key] !== undefined) issues.push({ path: [key], atKey: true, message: `${key} is the one-registry form; with registries, give each registry its own ${key === 'registry' ? 'entry' : key}` });
    }
  }
  const cluster = doc.cluster;
  if (cluster && typeof cluster === 'object' && (cluster as Record<string, unknown>).pools !== undefined && (cluster as Record<string, unknown>).nodes !== undefined) {
    issues.push({ path: ['cluster', 'nodes'], atKey: true, message: 'nodes is the one-pool form; with pools, give each pool its nodes' });
  }
  return issues;
}

function forbiddenKeys(value: unknown, path: Path): Issue[] {
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const here = [...path, Array.isArray(value) ? Number(k) : k];
    if (!Array.isArray(value) && FORBIDDEN_KEYS.has(k)) return [{ path: here, message: `the key ${k} is not allowed`, atKey: true }];
    return forbiddenKeys(v, here);
  });
}

/** `rollouts[0].deployment.replicas` */
function formatPath(path: Path): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
}

/** Parses `a.b[0].c` into a path. */
function parsePath(text: string): Path | undefined {
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\[\d+\])*$/.test(text)) return undefined;
  const out: Path = [];
  for (const m of text.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)) out.push(m[1] ?? Number(m[2]));
  return out;
}

interface Override {
  path: Path;
  arg: string;
  /** The shortest prefix of `path` the file did not have: problems about it are this flag's. */
  created?: Path | undefined;
}

function applyOverrides(doc: Document, file: string, sets: string[]): Override[] {
  const applied: Override[] = [];
  const problems: ScenarioProblem[] = [];
  for (const arg of sets) {
    const eq = arg.indexOf('=');
    const path = eq > 0 ? parsePath(arg.slice(0, eq)) : undefined;
    if (!path) {
      problems.push({ file, line: 0, column: 0, path: '', message: 'expected path=value, e.g. cluster.nodes=3', set: arg });
      continue;
    }
    const bad = path.find((seg) => typeof seg === 'string' && FORBIDDEN_KEYS.has(seg));
    if (bad !== undefined) {
      problems.push({ file, line: 0, column: 0, path: formatPath(path), message: `the key ${bad} is not allowed`, set: arg });
      continue;
    }
    const range = indexOutOfRange(doc, path);
    if (range) {
      problems.push({ file, line: 0, column: 0, path: formatPath(path), message: range, set: arg });
      continue;
    }
    const k = path.findIndex((_, i) => !doc.hasIn(path.slice(0, i + 1)));
    const created = k < 0 ? undefined : path.slice(0, k + 1);
    let value: unknown;
    try {
      value = parseYaml(arg.slice(eq + 1));
    } catch {
      problems.push({ file, line: 0, column: 0, path: formatPath(path), message: 'the value is not valid YAML', set: arg });
      continue;
    }
    try {
      doc.setIn(path, doc.createNode(value));
      applied.push({ path, arg, created });
    } catch {
      problems.push({ file, line: 0, column: 0, path: formatPath(path), message: 'this path cannot be set (it goes through a scalar)', set: arg });
    }
  }
  if (problems.length > 0) throw invalid(file, problems);
  return applied;
}

// A list index may replace an item or append one; a gap would leave holes the schema reads as missing mappings.
function indexOutOfRange(doc: Document, path: Path): string | undefined {
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (typeof seg !== 'number') continue;
    const list = i === 0 ? doc.contents : doc.getIn(path.slice(0, i), true);
    if (!isSeq(list)) continue;
    if (seg > list.items.length) {
      const n = list.items.length;
      return `index ${seg} is out of range: ${formatPath(path.slice(0, i))} has ${n} item${n === 1 ? '' : 's'} (use ${n} to add one)`;
    }
  }
  return undefined;
}

function interpolate(value: unknown, path: Path, lookup: (name: string, path: Path) => string): unknown {
  if (typeof value === 'string') return value.replace(ENV_RE, (_, name: string) => lookup(name, path));
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], lookup));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, [...path, k], lookup)]));
  }
  return value;
}

/** Offset of the deepest node on the path that exists (the key itself for unknown keys). */
function offsetOf(doc: Document, path: Path, atKey: boolean): number {
  let node: Node | null | undefined = doc.contents as Node | null;
  let offset = node?.range?.[0] ?? 0;
  for (let i = 0; i < path.length && node; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) break;
      const last = i === path.length - 1;
      if (last && atKey && isScalar(pair.key)) return pair.key.range?.[0] ?? offset;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg] as Node | undefined;
    } else {
      break;
    }
    if (node?.range) offset = node.range[0];
  }
  return offset;
}

function startsWith(path: Path, prefix: Path): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => p === path[i]);
}
