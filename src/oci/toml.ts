import { PullbenchError } from '../errors.js';

/**
 * A TOML reader for the subset containerd's hosts.toml uses: comments, bare and
 * quoted keys, dotted keys, `[table."quoted key".sub]` headers, basic and
 * literal strings, integers, floats, booleans, (nested, multi-line) arrays and
 * inline tables. Anything else is INVALID_HOSTS_TOML with the line number.
 */
export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

class Reader {
  pos = 0;
  line = 1;
  constructor(
    private readonly text: string,
    private readonly source: string,
  ) {}

  fail(why: string): never {
    throw new PullbenchError('INVALID_HOSTS_TOML', `${this.source}:${this.line}: ${why}`, {
      details: { source: this.source, line: this.line, reason: why },
    });
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  next(): string {
    const c = this.text[this.pos++] ?? '';
    if (c === '\n') this.line++;
    return c;
  }

  eof(): boolean {
    return this.pos >= this.text.length;
  }

  /** Spaces and tabs only. */
  skipInline(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  /** Whitespace, newlines and comments (inside arrays). */
  skipAll(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') this.next();
      else if (c === '#') this.skipComment();
      else return;
    }
  }

  skipComment(): void {
    while (!this.eof() && this.peek() !== '\n') this.pos++;
  }

  endOfLine(): void {
    this.skipInline();
    if (this.peek() === '#') this.skipComment();
    if (this.peek() === '\r') this.pos++;
    if (this.eof()) return;
    if (this.peek() !== '\n') this.fail(`unexpected ${JSON.stringify(this.peek())} after value`);
    this.next();
  }

  key(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipInline();
      const c = this.peek();
      if (c === '"') parts.push(this.basicString());
      else if (c === "'") parts.push(this.literalString());
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(this.text.slice(this.pos));
        if (m === null) this.fail(c === '' ? 'expected a key' : `unexpected ${JSON.stringify(c)} in key`);
        parts.push(m[0]);
        this.pos += m[0].length;
      }
      this.skipInline();
      if (this.peek() !== '.') return parts;
      this.pos++;
    }
  }

  basicString(): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.next();
      if (c === '' || c === '\n') this.fail('unterminated string');
      if (c === '"') return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = this.next();
      const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
      if (simple[e] !== undefined) out += simple[e];
      else if (e === 'u' || e === 'U') {
        const len = e === 'u' ? 4 : 8;
        const hex = this.text.slice(this.pos, this.pos + len);
        if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) this.fail('invalid unicode escape');
        out += String.fromCodePoint(parseInt(hex, 16));
        this.pos += len;
      } else this.fail(`invalid escape \\${e}`);
    }
  }

  literalString(): string {
    this.pos++;
    const end = this.text.indexOf("'", this.pos);
    const nl = this.text.indexOf('\n', this.pos);
    if (end === -1 || (nl !== -1 && nl < end)) this.fail('unterminated string');
    const s = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }

  value(): TomlValue {
    this.skipInline();
    const c = this.peek();
    if (c === '"') {
      if (this.text.startsWith('"""', this.pos)) this.fail('multi-line strings are not supported in hosts.toml');
      return this.basicString();
    }
    if (c === "'") return this.literalString();
    if (c === '[') return this.array();
    if (c === '{') return this.inlineTable();
    const m = /^[A-Za-z0-9_+.:-]+/.exec(this.text.slice(this.pos));
    if (m === null) this.fail(c === '' || c === '\n' ? 'expected a value' : `unexpected ${JSON.stringify(c)}`);
    this.pos += m[0].length;
    const word = m[0];
    if (word === 'true') return true;
    if (word === 'false') return false;
    if (/^[+-]?(0|[1-9](_?\d)*)$/.test(word)) return Number(word.replace(/_/g, ''));
    if (/^[+-]?(0|[1-9](_?\d)*)(\.\d(_?\d)*)?([eE][+-]?\d+)?$/.test(word)) return Number(word.replace(/_/g, ''));
    return this.fail(`invalid value ${JSON.stringify(word)} (strings need quotes)`);
  }

  array(): TomlValue[] {
    this.pos++;
    const out: TomlValue[] = [];
    for (;;) {
      this.skipAll();
      if (this.peek() === ']') {
        this.pos++;
        return out;
      }
      out.push(this.value());
      this.skipAll();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== ']') this.fail('expected "," or "]" in array');
    }
  }

  inlineTable(): TomlTable {
    this.pos++;
    const out: TomlTable = {};
    this.skipInline();
    if (this.peek() === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      const key = this.key();
      if (this.next() !== '=') this.fail('expected "=" after key');
      setKey(out, key, this.value(), this);
      this.skipInline();
      const c = this.next();
      if (c === '}') return out;
      if (c !== ',') this.fail('expected "," or "}" in inline table');
    }
  }
}

function isTable(v: TomlValue | undefined): v is TomlTable {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v);
}

function descend(root: TomlTable, path: string[], r: Reader): TomlTable {
  let t = root;
  for (const part of path) {
    const existing = t[part];
    if (existing === undefined) t[part] = {};
    else if (!isTable(existing)) r.fail(`key ${JSON.stringify(part)} is already a value, not a table`);
    t = t[part] as TomlTable;
  }
  return t;
}

function setKey(table: TomlTable, key: string[], value: TomlValue, r: Reader): void {
  const parent = descend(table, key.slice(0, -1), r);
  const last = key[key.length - 1] as string;
  if (parent[last] !== undefined) r.fail(`duplicate key ${JSON.stringify(key.join('.'))}`);
  parent[last] = value;
}

/** Parses TOML text (the hosts.toml subset) into plain objects. */
export function parseToml(text: string, source = 'hosts.toml'): TomlTable {
  const r = new Reader(text, source);
  const root: TomlTable = {};
  const defined = new Set<string>();
  let current = root;
  for (;;) {
    r.skipAll();
    if (r.eof()) return root;
    if (r.peek() === '[') {
      r.pos++;
      if (r.peek() === '[') r.fail('arrays of tables are not supported in hosts.toml');
      const path = r.key();
      if (r.peek() !== ']') r.fail('expected "]" after table name');
      r.pos++;
      const id = JSON.stringify(path);
      if (defined.has(id)) r.fail(`table ${path.join('.')} defined twice`);
      defined.add(id);
      current = descend(root, path, r);
      r.endOfLine();
      continue;
    }
    const key = r.key();
    if (r.peek() !== '=') r.fail('expected "=" after key');
    r.pos++;
    setKey(current, key, r.value(), r);
    r.endOfLine();
  }
}
