import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/**
 * Writes `JSON.stringify(value, null, indent)` to a file without ever holding it as one
 * string. V8 caps a string at 2^29 - 24 characters (~512 MB, Node's
 * buffer.constants.MAX_STRING_LENGTH); a modelled 50,000-node run's results.json is
 * ~475 MB, so a larger one would fail after the whole run, and the string alone would
 * double the peak memory. The output is byte-identical to JSON.stringify's (the same
 * escaping, number formatting, toJSON, and skipping of undefined, functions and symbols),
 * so determinism checks that compare files keep holding.
 */
export async function writeJsonFile(file: string, value: unknown, indent = 2): Promise<void> {
  const out = createWriteStream(file);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  const write = async (chunk: string): Promise<void> => {
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  };
  try {
    for (const chunk of jsonChunks(value, indent)) await write(chunk);
    await write('\n');
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
  } catch (err) {
    out.destroy();
    throw err;
  }
}

/** Subtrees whose JSON is at most about this long are stringified whole: fewer, larger chunks. */
const CHUNK = 1 << 16;

/**
 * `JSON.stringify(value, null, indent)` in pieces of roughly CHUNK characters (a subtree
 * larger than that is split at its members). Nothing when the value has no JSON form
 * (where JSON.stringify returns undefined).
 */
export function* jsonChunks(value: unknown, indent = 2): Generator<string> {
  let buffer = '';
  const top = prepare(value, '');
  if (skipped(top)) return;
  for (const piece of pieces(top, ' '.repeat(Math.min(10, Math.max(0, Math.floor(indent)))), '')) {
    buffer += piece;
    if (buffer.length >= CHUNK) {
      yield buffer;
      buffer = '';
    }
  }
  if (buffer) yield buffer;
}

// What JSON.stringify does to a value before writing it: toJSON, and boxed primitives unboxed.
function prepare(value: unknown, key: string): unknown {
  let v = value;
  if (v !== null && (typeof v === 'object' || typeof v === 'bigint') && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
    v = (v as { toJSON(k: string): unknown }).toJSON(key);
  }
  if (v instanceof Number || v instanceof String || v instanceof Boolean) v = v.valueOf();
  return v;
}

const skipped = (v: unknown): boolean => v === undefined || typeof v === 'function' || typeof v === 'symbol';

// `value` has been through prepare() and is not skipped.
function* pieces(value: unknown, step: string, pad: string): Generator<string> {
  if (value === null || typeof value !== 'object') {
    // Primitives (and bigint, which JSON.stringify rejects with its own TypeError).
    yield JSON.stringify(value) ?? 'null';
    return;
  }
  // A small subtree: JSON.stringify's own output, re-indented to where it sits.
  const whole = small(value, step);
  if (whole !== undefined) {
    yield pad ? whole.replaceAll('\n', `\n${pad}`) : whole;
    return;
  }
  const inner = pad + step;
  // Without indentation JSON.stringify writes no newlines and no space after the colon.
  const [open, sep, close, colon] = step ? [`\n${inner}`, `,\n${inner}`, `\n${pad}`, ': '] : ['', ',', '', ':'];
  if (Array.isArray(value)) {
    if (value.length === 0) {
      yield '[]';
      return;
    }
    yield `[${open}`;
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield sep;
      const item = prepare(value[i], String(i));
      if (skipped(item)) yield 'null';
      else yield* pieces(item, step, inner);
    }
    yield `${close}]`;
    return;
  }
  const members = Object.keys(value).flatMap((k): Array<[string, unknown]> => {
    const v = prepare((value as Record<string, unknown>)[k], k);
    return skipped(v) ? [] : [[k, v]];
  });
  if (members.length === 0) {
    yield '{}';
    return;
  }
  yield `{${open}`;
  let first = true;
  for (const [k, v] of members) {
    if (!first) yield sep;
    first = false;
    yield `${JSON.stringify(k)}${colon}`;
    yield* pieces(v, step, inner);
  }
  yield `${close}}`;
}

/** Members (at every depth) a subtree may have for small() to try stringifying it whole. */
const SMALL_MEMBERS = 4096;

// JSON.stringify of a subtree when it is small: arrays of numbers and leaf objects are the bulk of a results file.
function small(value: object, step: string): string | undefined {
  // A cheap guard first: a subtree with many members in all is split without trying. Counting only the top level let
  // a few-keyed object over 100,000 pods be stringified whole, once per level above the pods (seconds, and a string
  // of the whole file).
  if (membersWithin(value, SMALL_MEMBERS) < 0) return undefined;
  const text = JSON.stringify(value, null, step);
  return text.length <= CHUNK ? text : undefined;
}

// `budget` less the members of the subtree at every depth, counting no further than below zero (then negative).
function membersWithin(value: object, budget: number): number {
  const children: unknown[] = Array.isArray(value) ? value : Object.values(value);
  let left = budget - children.length;
  for (const child of children) {
    if (left < 0) break;
    if (child !== null && typeof child === 'object') left = membersWithin(child, left);
  }
  return left;
}
