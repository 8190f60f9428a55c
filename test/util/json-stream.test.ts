import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonChunks, writeJsonFile } from '../../src/util/json-stream.js';

const dir = mkdtempSync(join(tmpdir(), 'pullbench-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A results-shaped value: many small pods, large arrays of numbers, nesting, and what JSON.stringify drops or rewrites.
function sample(pods: number): unknown {
  return {
    kind: 'pullbench.results',
    startedAt: new Date(Date.UTC(2026, 0, 1)),
    empty: { list: [], map: {} },
    odd: { nan: Number.NaN, inf: -Infinity, undef: undefined, fn: () => 1, sym: Symbol('x'), boxed: new Number(3), text: 'quote " backslash \\ newline \n tab \t é 🚀 \u0001' },
    custom: { toJSON: (key: string) => ({ key, made: 'by toJSON' }) },
    arms: [
      {
        name: 'IfNotPresent/direct/cold',
        samples: Array.from({ length: 5000 }, (_, i) => i / 7),
        pods: Array.from({ length: pods }, (_, i) => ({ uid: `pod-${i}`, pullMs: i % 3 === 0 ? undefined : i * 1.5, attempts: [{ at: i, fn: () => 0 }, undefined, null], node: { name: `node-${i % 50}`, labels: {} } })),
      },
    ],
  };
}

describe('writing JSON without one big string', () => {
  it('gives exactly what JSON.stringify gives, split into bounded chunks, at indents 2, 4 and 0', () => {
    const v = sample(3000);
    for (const indent of [2, 4, 0]) {
      const chunks = [...jsonChunks(v, indent)];
      expect(chunks.join('')).toBe(JSON.stringify(v, null, indent));
      expect(chunks.length).toBeGreaterThan(3);
      // Each chunk is a little over the 64 KiB target at most (the pieces that crossed it).
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(3 * 65536);
    }
  });

  it('matches JSON.stringify on primitives, empty containers and values with no JSON form', () => {
    for (const v of [0, -0, 1e21, 'x', true, null, [], {}, [undefined], { a: undefined }, new Date(0), [[[]]]]) expect([...jsonChunks(v)].join('')).toBe(JSON.stringify(v, null, 2));
    expect([...jsonChunks(undefined)]).toEqual([]);
    expect([...jsonChunks(() => 1)]).toEqual([]);
  });

  it('writes the file with a final newline, as results.json always had', async () => {
    const v = sample(20_000);
    const f = join(dir, 'results.json');
    await writeJsonFile(f, v);
    expect(readFileSync(f, 'utf8')).toBe(`${JSON.stringify(v, null, 2)}\n`);
  });

  it('fails with the file system error when the file cannot be written, and leaves no stream open', async () => {
    await expect(writeJsonFile(join(dir, 'missing', 'results.json'), sample(10))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
