/**
 * A small schema builder: one definition gives the TypeScript type (by
 * inference), runtime validation that collects every problem with its path,
 * and a JSON Schema (draft 2020-12) for editors. Kept to what scenario files
 * need: objects (closed), strings, numbers, booleans, enums, arrays, unions,
 * and unit-bearing scalars (sizes, durations, bandwidths, percentages), whose
 * grammar is src/util/units.ts's.
 */
import {
  BANDWIDTH_PATTERN, DURATION_PATTERN, PERCENT_PATTERN, SIZE_PATTERN,
  tryParseBandwidth, tryParseDuration, tryParsePercent, tryParseSize, writeDuration, writePercent,
} from '../util/units.js';
import { closest } from '../util/did-you-mean.js';

export type Path = (string | number)[];

export interface Issue {
  path: Path;
  message: string;
  /** True when the problem is the key itself (an unknown key), not its value. */
  atKey?: boolean;
}

export interface CheckContext {
  issues: Issue[];
  /** Paths of values marked secret, for redaction of results. */
  secrets: Path[];
}

export type JsonSchema = Record<string, unknown>;

export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

export abstract class Schema<Out> {
  declare readonly _out: Out;
  protected description?: string;

  /** Returns the parsed value, or INVALID after recording issues. */
  abstract check(value: unknown, path: Path, ctx: CheckContext): Out | Invalid;
  protected abstract json(): JsonSchema;

  describe(text: string): this {
    this.description = text;
    return this;
  }

  optional(): OptionalSchema<Out> {
    return new OptionalSchema(this);
  }

  default(value: Out): DefaultSchema<Out> {
    return new DefaultSchema(this, value);
  }

  /** A parsed value as a scenario file writes it (`5m`, not 300000): how the JSON Schema publishes defaults. */
  written(value: Out): unknown { return value; }

  toJsonSchema(): JsonSchema {
    const out = this.json();
    return this.description ? { description: this.description, ...out } : out;
  }
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

export class OptionalSchema<Out> extends Schema<Out | undefined> {
  constructor(readonly inner: Schema<Out>) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Out | undefined | Invalid {
    return value === undefined ? undefined : this.inner.check(value, path, ctx);
  }
  override written(value: Out | undefined): unknown { return value === undefined ? value : this.inner.written(value); }
  protected json(): JsonSchema {
    return this.inner.toJsonSchema();
  }
}

export class DefaultSchema<Out> extends Schema<Out> {
  constructor(
    readonly inner: Schema<Out>,
    readonly defaultValue: Out,
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): Out | Invalid {
    return value === undefined ? structuredClone(this.defaultValue) : this.inner.check(value, path, ctx);
  }
  override written(value: Out): unknown { return this.inner.written(value); }
  protected json(): JsonSchema {
    return { ...this.inner.toJsonSchema(), default: this.inner.written(this.defaultValue) };
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

export class StringSchema extends Schema<string> {
  constructor(
    private readonly opts: { pattern?: RegExp; patternHint?: string; minLength?: number; secret?: boolean } = {},
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): string | Invalid {
    if (typeof value !== 'string') {
      ctx.issues.push({ path, message: `expected a string, got ${typeName(value)}` });
      return INVALID;
    }
    if (this.opts.minLength !== undefined && value.length < this.opts.minLength) {
      ctx.issues.push({ path, message: this.opts.minLength === 1 ? 'must not be empty' : `must be at least ${this.opts.minLength} characters` });
      return INVALID;
    }
    if (this.opts.pattern && !this.opts.pattern.test(value)) {
      // Never echo a secret's value.
      const shown = this.opts.secret ? '' : ` (got "${value}")`;
      ctx.issues.push({ path, message: `must be ${this.opts.patternHint ?? `a string matching ${this.opts.pattern.source}`}${shown}` });
      return INVALID;
    }
    if (this.opts.secret) ctx.secrets.push(path);
    return value;
  }
  protected json(): JsonSchema {
    return {
      type: 'string',
      ...(this.opts.minLength !== undefined ? { minLength: this.opts.minLength } : {}),
      ...(this.opts.pattern ? { pattern: this.opts.pattern.source } : {}),
      ...(this.opts.secret ? { writeOnly: true } : {}),
    };
  }
}

export class NumberSchema extends Schema<number> {
  constructor(private readonly opts: { int?: boolean; min?: number; max?: number } = {}) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): number | Invalid {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      ctx.issues.push({ path, message: `expected ${this.opts.int ? 'an integer' : 'a number'}, got ${typeName(value)}` });
      return INVALID;
    }
    if (this.opts.int && !Number.isInteger(value)) {
      ctx.issues.push({ path, message: `expected an integer, got ${value}` });
      return INVALID;
    }
    if (this.opts.min !== undefined && value < this.opts.min) {
      ctx.issues.push({ path, message: `must be at least ${this.opts.min} (got ${value})` });
      return INVALID;
    }
    if (this.opts.max !== undefined && value > this.opts.max) {
      ctx.issues.push({ path, message: `must be at most ${this.opts.max} (got ${value})` });
      return INVALID;
    }
    return value;
  }
  protected json(): JsonSchema {
    return {
      type: this.opts.int ? 'integer' : 'number',
      ...(this.opts.min !== undefined ? { minimum: this.opts.min } : {}),
      ...(this.opts.max !== undefined ? { maximum: this.opts.max } : {}),
    };
  }
}

export class BooleanSchema extends Schema<boolean> {
  check(value: unknown, path: Path, ctx: CheckContext): boolean | Invalid {
    if (typeof value !== 'boolean') {
      ctx.issues.push({ path, message: `expected true or false, got ${typeName(value)}` });
      return INVALID;
    }
    return value;
  }
  protected json(): JsonSchema {
    return { type: 'boolean' };
  }
}

export class EnumSchema<T extends string | number> extends Schema<T> {
  constructor(readonly values: readonly T[]) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): T | Invalid {
    if (!this.values.includes(value as T)) {
      const got = typeof value === 'string' || typeof value === 'number' ? `"${value}"` : typeName(value);
      ctx.issues.push({ path, message: `must be one of ${this.values.join(', ')} (got ${got})` });
      return INVALID;
    }
    return value as T;
  }
  protected json(): JsonSchema {
    return this.values.length === 1 ? { const: this.values[0] } : { enum: [...this.values] };
  }
}

export class ArraySchema<T> extends Schema<T[]> {
  constructor(
    readonly item: Schema<T>,
    private readonly opts: { min?: number; max?: number; unique?: boolean } = {},
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): T[] | Invalid {
    if (!Array.isArray(value)) {
      ctx.issues.push({ path, message: `expected a list, got ${typeName(value)}` });
      return INVALID;
    }
    let ok = true;
    if (this.opts.min !== undefined && value.length < this.opts.min) {
      ctx.issues.push({ path, message: this.opts.min === 1 ? 'must list at least one entry' : `must list at least ${this.opts.min} entries` });
      ok = false;
    }
    if (this.opts.max !== undefined && value.length > this.opts.max) {
      ctx.issues.push({ path, message: `must list at most ${this.opts.max} entries` });
      ok = false;
    }
    const out: T[] = [];
    value.forEach((v, i) => {
      const r = this.item.check(v, [...path, i], ctx);
      if (r === INVALID) ok = false;
      else out.push(r);
    });
    if (ok && this.opts.unique) {
      const seen = new Set<string>();
      out.forEach((v, i) => {
        const key = JSON.stringify(v);
        if (seen.has(key)) {
          ctx.issues.push({ path: [...path, i], message: 'duplicate entry' });
          ok = false;
        }
        seen.add(key);
      });
    }
    return ok ? out : INVALID;
  }
  override written(value: T[]): unknown { return value.map((v) => this.item.written(v)); }
  protected json(): JsonSchema {
    return {
      type: 'array',
      items: this.item.toJsonSchema(),
      ...(this.opts.min !== undefined ? { minItems: this.opts.min } : {}),
      ...(this.opts.max !== undefined ? { maxItems: this.opts.max } : {}),
      ...(this.opts.unique ? { uniqueItems: true } : {}),
    };
  }
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalSchema<unknown> ? K : never }[keyof S];
type Prettify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOut<S extends Shape> = Prettify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }
>;

export type Refinement<T> = (value: T, report: (path: Path, message: string) => void) => void;

export class ObjectSchema<S extends Shape> extends Schema<ObjectOut<S>> {
  private refinements: Refinement<ObjectOut<S>>[] = [];
  constructor(readonly shape: S) {
    super();
  }

  /** Cross-field checks, run only when every field is valid; paths are relative to this object. */
  refine(fn: Refinement<ObjectOut<S>>): this {
    this.refinements.push(fn);
    return this;
  }

  check(value: unknown, path: Path, ctx: CheckContext): ObjectOut<S> | Invalid {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.issues.push({ path, message: `expected a mapping, got ${typeName(value)}` });
      return INVALID;
    }
    const input = value as Record<string, unknown>;
    let ok = true;
    for (const key of Object.keys(input)) {
      if (!(key in this.shape)) {
        const known = Object.keys(this.shape);
        const hint = closest(key, known);
        ctx.issues.push({
          path: [...path, key],
          atKey: true,
          message: `unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; allowed: ${known.join(', ')}`,
        });
        ok = false;
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, schema] of Object.entries(this.shape)) {
      const v = input[key];
      if (v === undefined && !(schema instanceof OptionalSchema) && !(schema instanceof DefaultSchema)) {
        ctx.issues.push({ path, message: `missing required key "${key}"` });
        ok = false;
        continue;
      }
      const r = schema.check(v, [...path, key], ctx);
      if (r === INVALID) ok = false;
      else if (r !== undefined) out[key] = r;
    }
    if (!ok) return INVALID;
    const typed = out as ObjectOut<S>;
    let refined = true;
    for (const fn of this.refinements) {
      fn(typed, (p, message) => {
        ctx.issues.push({ path: [...path, ...p], message });
        refined = false;
      });
    }
    return refined ? typed : INVALID;
  }

  override written(value: ObjectOut<S>): unknown {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.shape[k] ? this.shape[k].written(v) : v]));
  }
  protected json(): JsonSchema {
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const [key, schema] of Object.entries(this.shape)) {
      properties[key] = schema.toJsonSchema();
      if (!(schema instanceof OptionalSchema) && !(schema instanceof DefaultSchema)) required.push(key);
    }
    return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
  }
}

export class UnionSchema<T> extends Schema<T> {
  constructor(
    readonly options: Schema<T>[],
    private readonly hint: string,
  ) {
    super();
  }
  check(value: unknown, path: Path, ctx: CheckContext): T | Invalid {
    let best: CheckContext | undefined;
    for (const option of this.options) {
      const trial: CheckContext = { issues: [], secrets: [] };
      const r = option.check(value, path, trial);
      if (r !== INVALID) {
        ctx.secrets.push(...trial.secrets);
        return r;
      }
      if (!best || trial.issues.length < best.issues.length) best = trial;
    }
    // A mapping that failed deep inside is best explained by its own issues; a scalar by the hint.
    const deep = best?.issues.some((i) => i.path.length > path.length);
    if (deep && best) ctx.issues.push(...best.issues);
    else ctx.issues.push({ path, message: `must be ${this.hint}` });
    return INVALID;
  }
  // The first option that reads its own written form back wrote it.
  override written(value: T): unknown {
    const reads = (o: Schema<T>, w: unknown) => o.check(w, [], { issues: [], secrets: [] }) !== INVALID;
    return this.options.map((o) => o.written(value)).find((w, i) => reads(this.options[i]!, w)) ?? value;
  }
  protected json(): JsonSchema {
    return { anyOf: this.options.map((o) => o.toJsonSchema()) };
  }
}

/** A scalar with a unit, parsed to a number in a base unit (bytes, ms, bit/s, fraction). */
export class UnitSchema extends Schema<number> {
  constructor(
    private readonly kind: string,
    private readonly pattern: RegExp,
    private readonly parse: (text: string) => number | undefined,
    private readonly example: string,
    private readonly allowBareNumber: boolean,
    private readonly write: (n: number) => number | string = (n) => n,
  ) {
    super();
  }
  override written(value: number): unknown { return this.write(value); }
  check(value: unknown, path: Path, ctx: CheckContext): number | Invalid {
    if (typeof value === 'number' && this.allowBareNumber && value >= 0) return value;
    const parsed = typeof value === 'string' ? this.parse(value.trim()) : undefined;
    if (parsed === undefined) {
      const got = typeof value === 'string' ? `"${value}"` : typeName(value);
      ctx.issues.push({ path, message: `must be a ${this.kind} like ${this.example} (got ${got})` });
      return INVALID;
    }
    return parsed;
  }
  protected json(): JsonSchema {
    const str = { type: 'string', pattern: this.pattern.source, examples: [this.example] };
    return this.allowBareNumber ? { anyOf: [str, { type: 'number', minimum: 0 }] } : str;
  }
}

/** Kubernetes IntOrString for maxSurge/maxUnavailable: a count (`2`) or a percentage (`25%`). */
export type IntOrPercent = number | `${number}%`;

export class IntOrPercentSchema extends Schema<IntOrPercent> {
  check(value: unknown, path: Path, ctx: CheckContext): IntOrPercent | Invalid {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
    if (typeof value === 'string' && /^\d+%$/.test(value)) return value as IntOrPercent;
    const got = typeof value === 'string' || typeof value === 'number' ? `"${value}"` : typeName(value);
    ctx.issues.push({ path, message: `must be a count like 1 or a percentage like 25% (got ${got})` });
    return INVALID;
  }
  protected json(): JsonSchema {
    return { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\d+%$' }] };
  }
}

/** The builder. */
export const s = {
  string: (opts?: { pattern?: RegExp; patternHint?: string; minLength?: number }) => new StringSchema(opts),
  /** A string whose value is a secret: never echoed in errors, redacted in results. */
  secret: () => new StringSchema({ secret: true, minLength: 1 }),
  number: (opts?: { min?: number; max?: number }) => new NumberSchema(opts),
  int: (opts?: { min?: number; max?: number }) => new NumberSchema({ ...opts, int: true }),
  boolean: () => new BooleanSchema(),
  enum: <const T extends string | number>(values: readonly T[]) => new EnumSchema<T>(values),
  literal: <const T extends string>(value: T) => new EnumSchema<T>([value]),
  array: <T>(item: Schema<T>, opts?: { min?: number; max?: number; unique?: boolean }) => new ArraySchema(item, opts),
  object: <S extends Shape>(shape: S) => new ObjectSchema(shape),
  union: <A, B>(a: Schema<A>, b: Schema<B>, hint: string) => new UnionSchema<A | B>([a as Schema<A | B>, b as Schema<A | B>], hint),
  /** Bytes: `40MB`, `40MiB`, or a bare number of bytes. */
  size: () => new UnitSchema('size', SIZE_PATTERN, tryParseSize, '40MB', true),
  /** Milliseconds: `40ms`, `1.5s`, `1m30s`, `6h`. */
  duration: () => new UnitSchema('duration', DURATION_PATTERN, tryParseDuration, '40ms', false, writeDuration),
  /** Bits per second: `200Mbit`, `1Gbit`, `25MBps`. */
  bandwidth: () => new UnitSchema('bandwidth', BANDWIDTH_PATTERN, tryParseBandwidth, '200Mbit', false, (bits) => `${bits}bit`),
  /** A fraction in [0, 1]: `25%`. */
  percent: () => new UnitSchema('percentage', PERCENT_PATTERN, tryParsePercent, '25%', false, writePercent),
  intOrPercent: () => new IntOrPercentSchema(),
};


