/**
 * Kyverno `verifyImages` rules (kyverno.io/v1 ClusterPolicy and Policy):
 * `imageReferences`, `attestors` (keys and keyless entries) and
 * `attestations` with `conditions`, evaluated as Kyverno evaluates them:
 * - the attestation's predicate is the JMESPath context (imageverifier.go
 *   evaluateConditions adds the predicate to the context), `{{ expr }}` in
 *   keys and values is substituted (a key that is one `{{ }}` keeps its type);
 * - condition blocks (AnyAllConditions): every block must hold; in a block,
 *   every `all` condition and, when there are any, one `any` condition;
 * - operators from pkg/engine/variables/operator: Equals/NotEquals (strings
 *   by wildcard, numbers numerically, durations as durations), GreaterThan,
 *   GreaterThanOrEquals, LessThan, LessThanOrEquals (numbers, numeric
 *   strings, durations), In/AnyIn/AllIn/NotIn/AnyNotIn/AllNotIn (wildcards);
 *   resource quantities and semver comparisons are not supported;
 * - every verified statement of the attestation's type must satisfy the
 *   conditions, and there must be one.
 * JMESPath is @jmespath-community/jmespath (Kyverno's go-jmespath is a fork of
 * the same community implementation), with Kyverno's `time_since` added.
 */
import { compile, registerFunction, TreeInterpreter, TYPE_STRING, type JSONValue } from '@jmespath-community/jmespath';
import { PullbenchError } from '../errors.js';
import { tryParseDuration } from '../util/units.js';
import { kyvernoSubject, kyvernoWildcard } from './image-match.js';
import type { Authority } from './policy.js';

export interface KyvernoAttestor {
  /** How many entries must verify (Kyverno's `count`; default all). */
  count: number;
  entries: Authority[];
}

export interface KyvernoCondition {
  key: unknown;
  operator: string;
  value: unknown;
  message?: string;
}

export interface KyvernoConditionBlock {
  all: KyvernoCondition[];
  any: KyvernoCondition[];
}

export interface KyvernoAttestation {
  predicateType: string;
  attestors: KyvernoAttestor[];
  conditions: KyvernoConditionBlock[];
}

/** One `verifyImages` entry of one rule. */
export interface KyvernoImageRule {
  kind: 'ClusterPolicy' | 'Policy';
  /** `policy/rule`. */
  name: string;
  /** validationFailureAction / failureAction: Enforce denies, Audit (Kyverno's default) reports. */
  action: 'enforce' | 'audit';
  imageReferences: string[];
  attestors: KyvernoAttestor[];
  attestations: KyvernoAttestation[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const OPERATORS = ['Equals', 'NotEquals', 'GreaterThan', 'GreaterThanOrEquals', 'LessThan', 'LessThanOrEquals', 'In', 'AnyIn', 'AllIn', 'NotIn', 'AnyNotIn', 'AllNotIn'] as const;

function parseAttestors(v: unknown, where: string, problems: string[]): KyvernoAttestor[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push(`${where}: must be a list`);
    return [];
  }
  return v.map((set, i) => {
    const entries = isObj(set) && Array.isArray(set.entries) ? set.entries : [];
    if (entries.length === 0) problems.push(`${where}[${i}].entries: at least one entry is required`);
    const parsed = entries.flatMap((e, j): Authority[] => {
      const at = `${where}[${i}].entries[${j}]`;
      if (isObj(e) && isObj(e.keys) && typeof e.keys.publicKeys === 'string') return [{ name: at, key: { data: e.keys.publicKeys } }];
      if (isObj(e) && isObj(e.keyless)) {
        const k = e.keyless;
        // Kyverno matches keyless subject and issuer as wildcards: as anchored regexps here.
        const pick = (x: 'subject' | 'issuer'): Obj => {
          const v = k[x];
          if (typeof v !== 'string') return typeof k[`${x}RegExp`] === 'string' ? { [`${x}RegExp`]: k[`${x}RegExp`] } : {};
          return /[*?]/.test(v) ? { [`${x}RegExp`]: `^${[...v].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$` } : { [x]: v };
        };
        const id = { ...pick('subject'), ...pick('issuer') };
        if (Object.keys(id).length === 0) problems.push(`${at}.keyless: subject or issuer is required`);
        return [{ name: at, keyless: { identities: [id] } }];
      }
      problems.push(`${at}: only keys.publicKeys and keyless entries are supported`);
      return [];
    });
    const count = isObj(set) && typeof set.count === 'number' ? set.count : parsed.length;
    return { count, entries: parsed };
  });
}

function parseConditions(v: unknown, where: string, problems: string[]): KyvernoConditionBlock[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push(`${where}: must be a list of {all, any} blocks`);
    return [];
  }
  return v.map((block, i) => {
    const list = (k: 'all' | 'any'): KyvernoCondition[] => {
      const raw = isObj(block) && Array.isArray(block[k]) ? block[k] : [];
      return raw.map((c, j) => {
        const o = isObj(c) ? c : {};
        const operator = typeof o.operator === 'string' ? o.operator : '';
        if (!(OPERATORS as readonly string[]).includes(operator)) problems.push(`${where}[${i}].${k}[${j}].operator: ${JSON.stringify(operator)} is not one of ${OPERATORS.join(', ')}`);
        return { key: o.key, operator, value: o.value, ...(typeof o.message === 'string' ? { message: o.message } : {}) };
      });
    };
    return { all: list('all'), any: list('any') };
  });
}

/** The verifyImages entries of a ClusterPolicy/Policy document; problems are collected, not thrown. */
export function parseKyvernoPolicy(d: Obj, name: string, where: string, problems: string[]): KyvernoImageRule[] {
  const spec = isObj(d.spec) ? d.spec : {};
  const failure = (v: unknown): 'enforce' | 'audit' | undefined => (typeof v === 'string' ? (v.toLowerCase() === 'enforce' ? 'enforce' : 'audit') : undefined);
  const out: KyvernoImageRule[] = [];
  const rules = Array.isArray(spec.rules) ? spec.rules : [];
  rules.forEach((r, i) => {
    const rule = isObj(r) && typeof r.name === 'string' ? r.name : `rule-${i}`;
    if (!isObj(r) || !Array.isArray(r.verifyImages)) return void problems.push(`${where} (${name}): rule ${rule}: only verifyImages rules are evaluated`);
    r.verifyImages.forEach((vi, j) => {
      const at = `${where} (${name}).spec.rules[${i}].verifyImages[${j}]`;
      if (!isObj(vi)) return void problems.push(`${at}: must be an object`);
      const refs = Array.isArray(vi.imageReferences) ? vi.imageReferences.filter((x): x is string => typeof x === 'string') : [];
      if (refs.length === 0) problems.push(`${at}.imageReferences: at least one pattern is required`);
      const attestations = (Array.isArray(vi.attestations) ? vi.attestations : []).map((a, k): KyvernoAttestation => {
        const o = isObj(a) ? a : {};
        const type = typeof o.type === 'string' ? o.type : typeof o.predicateType === 'string' ? o.predicateType : '';
        if (type === '') problems.push(`${at}.attestations[${k}]: type (the predicate type) is required`);
        return { predicateType: type, attestors: parseAttestors(o.attestors, `${at}.attestations[${k}].attestors`, problems), conditions: parseConditions(o.conditions, `${at}.attestations[${k}].conditions`, problems) };
      });
      out.push({
        kind: d.kind === 'Policy' ? 'Policy' : 'ClusterPolicy',
        name: `${name}/${rule}`,
        action: failure(vi.failureAction) ?? failure(spec.validationFailureAction) ?? 'audit',
        imageReferences: refs,
        attestors: parseAttestors(vi.attestors, `${at}.attestors`, problems),
        attestations,
      });
    });
  });
  return out;
}

/** Whether a verifyImages entry applies to an image as written in the pod spec. */
export function kyvernoMatches(rule: KyvernoImageRule, image: string): boolean {
  const subject = kyvernoSubject(image);
  return rule.imageReferences.some((p) => kyvernoWildcard(p, subject));
}

// Go's time.Duration.String() for a positive number of milliseconds.
function goDuration(ms: number): string {
  const neg = ms < 0 ? '-' : '';
  let s = Math.abs(ms) / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const sec = `${Number(s.toFixed(3))}s`;
  return h > 0 ? `${neg}${h}h${m}m${sec}` : m > 0 ? `${neg}${m}m${sec}` : `${neg}${sec}`;
}

let clock: () => Date = () => new Date();
// Kyverno's time_since(layout, ts1, ts2): ts2 - ts1 as a Go duration; an empty ts2 is now, an empty layout RFC 3339.
registerFunction(
  'time_since',
  ([, from, to]) => {
    const a = new Date(String(from));
    const b = to === '' ? clock() : new Date(String(to));
    if (Number.isNaN(a.getTime()) || Number.isNaN(b.getTime())) throw new PullbenchError('POLICY_INVALID', `time_since: cannot parse ${JSON.stringify(from)} or ${JSON.stringify(to)}`);
    return goDuration(b.getTime() - a.getTime());
  },
  [{ types: [TYPE_STRING] }, { types: [TYPE_STRING] }, { types: [TYPE_STRING] }],
);

// Expressions compiled once: parsing dominated cached decisions.
const COMPILED = new Map<string, ReturnType<typeof compile>>();
function search(data: JSONValue, expression: string): JSONValue {
  let node = COMPILED.get(expression);
  if (!node) {
    node = compile(expression);
    COMPILED.set(expression, node);
  }
  return TreeInterpreter.search(node, data);
}

const WHOLE = /^\s*\{\{(?:(?!\{\{|\}\}).)*\}\}\s*$/s;
const INNER = /\{\{((?:(?!\{\{|\}\}).)*)\}\}/s;

/** Substitutes `{{ jmespath }}` against `data`, innermost first; a string that is one expression keeps its result's type. */
export function substitute(value: unknown, data: JSONValue): unknown {
  if (Array.isArray(value)) return value.map((v) => substitute(v, data));
  if (isObj(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, data)]));
  if (typeof value !== 'string') return value;
  let text = value;
  for (;;) {
    const m = INNER.exec(text);
    if (!m) return text;
    const result = search(data, m[1]!.trim());
    if (WHOLE.test(text)) return result;
    text = text.slice(0, m.index) + (typeof result === 'string' ? result : JSON.stringify(result)) + text.slice(m.index + m[0].length);
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);

function durations(key: unknown, value: unknown): [number, number] | undefined {
  const k = typeof key === 'string' ? tryParseDuration(key) : undefined;
  const v = typeof value === 'string' ? tryParseDuration(value) : undefined;
  if (k === undefined && v === undefined) return undefined;
  const kk = k ?? (typeof key === 'number' ? key * 1000 : undefined);
  const vv = v ?? (typeof value === 'number' ? value * 1000 : undefined);
  return kk === undefined || vv === undefined ? undefined : [kk, vv];
}

function equals(key: unknown, value: unknown): boolean {
  const d = durations(key, value);
  if (d) return d[0] === d[1];
  if (typeof key === 'string') return typeof value === 'string' && kyvernoWildcard(value, key);
  if (typeof key === 'number') return num(value) === key;
  return JSON.stringify(key) === JSON.stringify(value);
}

function compare(key: unknown, value: unknown): number | undefined {
  const d = durations(key, value);
  if (d) return d[0] - d[1];
  const k = num(key);
  const v = num(value);
  return k === undefined || v === undefined ? undefined : k - v;
}

const member = (x: unknown, set: unknown): boolean => (Array.isArray(set) ? set.some((s) => equals(x, s)) : typeof set === 'string' && typeof x === 'string' && kyvernoWildcard(set, x));
const asList = (x: unknown): unknown[] => (Array.isArray(x) ? x : [x]);

export function evaluateOperator(operator: string, key: unknown, value: unknown): boolean {
  switch (operator) {
    case 'Equals':
      return equals(key, value);
    case 'NotEquals':
      return !equals(key, value);
    case 'GreaterThan':
    case 'GreaterThanOrEquals':
    case 'LessThan':
    case 'LessThanOrEquals': {
      const c = compare(key, value);
      if (c === undefined) return false;
      return operator === 'GreaterThan' ? c > 0 : operator === 'GreaterThanOrEquals' ? c >= 0 : operator === 'LessThan' ? c < 0 : c <= 0;
    }
    case 'In':
    case 'AllIn':
      return asList(key).every((k) => member(k, value));
    case 'AnyIn':
      return asList(key).some((k) => member(k, value));
    case 'NotIn':
    case 'AllNotIn':
      return asList(key).every((k) => !member(k, value));
    case 'AnyNotIn':
      return asList(key).some((k) => !member(k, value));
    default:
      return false;
  }
}

/** Evaluates condition blocks against a predicate at `now`; the reason names the first condition that failed. */
export function evaluateConditions(blocks: KyvernoConditionBlock[], predicate: unknown, now: Date = new Date()): { ok: boolean; reason: string } {
  const saved = clock;
  clock = () => now;
  try {
    const data = (predicate ?? {}) as JSONValue;
    const check = (c: KyvernoCondition): { ok: boolean; text: string } => {
      const key = substitute(c.key, data);
      const value = substitute(c.value, data);
      return { ok: evaluateOperator(c.operator, key, value), text: c.message ?? `${JSON.stringify(c.key)} (${JSON.stringify(key)}) ${c.operator} ${JSON.stringify(value)}` };
    };
    for (const b of blocks) {
      for (const c of b.all) {
        const r = check(c);
        if (!r.ok) return { ok: false, reason: `condition failed: ${r.text}` };
      }
      if (b.any.length > 0) {
        const results = b.any.map(check);
        if (!results.some((r) => r.ok)) return { ok: false, reason: `no "any" condition held: ${results.map((r) => r.text).join('; ')}` };
      }
    }
    return { ok: true, reason: blocks.length === 0 ? 'no conditions' : 'conditions hold' };
  } catch (err) {
    return { ok: false, reason: `condition error: ${(err as Error).message}` };
  } finally {
    clock = saved;
  }
}
