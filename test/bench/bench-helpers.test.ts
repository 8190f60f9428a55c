import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pullbench-bench-helpers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Runs a probe script as the benches run: an ES module (.mts: the temp dir has no package.json) under tsx.
async function probe(name: string, source: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string }> {
  const file = join(dir, `${name}.mts`);
  await writeFile(file, source);
  const childEnv = { ...process.env, ...env };
  if (env.UV_THREADPOOL_SIZE === undefined) delete childEnv.UV_THREADPOOL_SIZE;
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { cwd: root, env: childEnv, timeout: 20_000 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; killed?: boolean };
    if (e.killed || typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '' };
  }
}

describe('bench/threadpool', () => {
  const source = `import { withThreadpool } from ${JSON.stringify(join(root, 'bench/threadpool.ts'))};
console.log('before', process.pid);
await withThreadpool();
console.log('pool', process.env.UV_THREADPOOL_SIZE);
process.exit(3);
`;

  it('runs the script again with 16 threads, and exits with that run\'s status', async () => {
    const { code, stdout } = await probe('rerun', source);
    expect(code).toBe(3);
    const lines = stdout.trim().split('\n');
    // The first run stops at withThreadpool; the second gets past it.
    expect(lines.filter((l) => l.startsWith('before'))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('pool'))).toEqual(['pool 16']);
  });

  it('runs the script again with the variables given, keeping the pool size the caller set', async () => {
    const withEnv = source.replace('await withThreadpool();', "await withThreadpool({ OPENSSL_ia32cap: ':~0x20000000' });\nconsole.log('cap', process.env.OPENSSL_ia32cap);");
    const { code, stdout } = await probe('env', withEnv, { UV_THREADPOOL_SIZE: '5' });
    expect(code).toBe(3);
    const lines = stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('before'))).toHaveLength(2);
    expect(lines.filter((l) => !l.startsWith('before'))).toEqual(['cap :~0x20000000', 'pool 5']);
  });

  it('leaves a pool size the caller set alone', async () => {
    const { code, stdout } = await probe('set', source, { UV_THREADPOOL_SIZE: '5' });
    expect(code).toBe(3);
    expect(stdout.trim().split('\n')).toEqual([expect.stringMatching(/^before \d+$/), 'pool 5']);
  });
});

describe('bench/fidelity/settle', () => {
  it('runs every sync in one helper that neither holds the bench open nor outlives it', async () => {
    const source = `import { syncAll } from ${JSON.stringify(join(root, 'bench/fidelity/settle.ts'))};
import { readFileSync, readdirSync } from 'node:fs';
// This process's children that are shells (tsx has a child of its own, esbuild).
const children = () => readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).filter((p) => {
  try {
    return readFileSync('/proc/' + p + '/stat', 'utf8').split(') ')[1].split(' ')[1] === String(process.pid) &&
      readFileSync('/proc/' + p + '/cmdline', 'utf8').split('\\0')[0] === 'sh';
  } catch { return false; }
});
await syncAll();
const first = children();
await syncAll();
await syncAll();
console.log(JSON.stringify({ first, after: children() }));
`;
    const { code, stdout } = await probe('settle', source);
    expect(code).toBe(0);
    const { first, after } = JSON.parse(stdout) as { first: string[]; after: string[] };
    // One helper, the same one for every sync.
    expect(first).toHaveLength(1);
    expect(after).toEqual(first);
    // The probe exited by itself (run() would have timed out otherwise), and its helper went with it.
    await expect.poll(() => run('kill', ['-0', first[0]!]).then(() => 'alive', () => 'gone'), { timeout: 5_000 }).toBe('gone');
  });
});

describe('bench/fidelity/hashing', () => {
  // Build info as Go 1.18 and later write it: "\xff Go buildinf:", pointer size, flags (2: strings inline), padding
  // to 32 bytes, then the version and the module info, each a uvarint length and the bytes.
  const buildinfo = (version: string, flags = 2): Buffer => {
    const header = Buffer.alloc(32);
    header.write('\xff Go buildinf:', 'latin1');
    header[14] = 8;
    header[15] = flags;
    const v = Buffer.from(version, 'latin1');
    return Buffer.concat([header, Buffer.from([v.length]), v, Buffer.from([3]), Buffer.from('mod')]);
  };
  // Put at a 16-byte boundary after other bytes, one of which is the magic at an odd offset.
  const binary = (info: Buffer): Buffer => {
    const decoy = Buffer.concat([Buffer.alloc(3), Buffer.from('\xff Go buildinf:', 'latin1')]);
    return Buffer.concat([decoy, Buffer.alloc(64 - decoy.length), info, Buffer.alloc(100)]);
  };

  it('reads the Go version from a binary\'s build info', async () => {
    const { goVersionOf } = await import('../../bench/fidelity/hashing.js');
    expect(goVersionOf(binary(buildinfo('go1.19.8')))).toBe('go1.19.8');
    expect(goVersionOf(binary(buildinfo('go1.22.12 X:boringcrypto')))).toBe('go1.22.12 X:boringcrypto');
    expect(goVersionOf(binary(buildinfo('not a version')))).toBeUndefined();
    expect(goVersionOf(binary(buildinfo('go1.23.4')))).toBe('go1.23.4');
    // A pre-1.18 header (pointers, no inline strings), no header at all, a header cut short.
    expect(goVersionOf(binary(buildinfo('go1.17.1', 0)))).toBeUndefined();
    expect(goVersionOf(Buffer.from('not a go binary'))).toBeUndefined();
    expect(goVersionOf(binary(buildinfo('go1.19.8')).subarray(0, 64 + 20))).toBeUndefined();
  });

  it('tells which Go versions hash with the SHA extensions', async () => {
    const { goUsesShaExt } = await import('../../bench/fidelity/hashing.js');
    expect(['go1.19.8', 'go1.20.14', 'go1.21.0', 'go1.24.1', 'devel'].map(goUsesShaExt)).toEqual([false, false, true, true, false]);
  });

  it('masks the SHA extensions from OpenSSL in a process started with NO_SHA_EXT', async () => {
    const source = `import { sha256MBps } from ${JSON.stringify(join(root, 'bench/fidelity/hashing.ts'))};
console.log(sha256MBps());
`;
    const { NO_SHA_EXT, cpuHasShaExt } = await import('../../bench/fidelity/hashing.js');
    const plain = Number((await probe('sha', source)).stdout);
    const masked = Number((await probe('sha-masked', source, { OPENSSL_ia32cap: NO_SHA_EXT })).stdout);
    expect(plain).toBeGreaterThan(0);
    expect(masked).toBeGreaterThan(0);
    // Only a CPU with the extensions hashes faster with them (on the bench's machine, about four times).
    if (await cpuHasShaExt()) expect(plain / masked).toBeGreaterThan(2);
    else expect(plain / masked).toBeLessThan(1.5);
  });
});

describe('bench/fidelity/stats', () => {
  it('takes the median of odd and even counts, unsorted', async () => {
    const { median } = await import('../../bench/fidelity/stats.js');
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow('median of no values');
  });

  it('gives binomial(n, 1/2) tail sums', async () => {
    const { binomialHalfCdf } = await import('../../bench/fidelity/stats.js');
    expect(binomialHalfCdf(4, -1)).toBe(0);
    expect(binomialHalfCdf(4, 0)).toBe(1 / 16);
    expect(binomialHalfCdf(4, 2)).toBe(11 / 16);
    expect(binomialHalfCdf(4, 4)).toBe(1);
    // 15 rounds: P(X <= 3) = (1 + 15 + 105 + 455) / 2^15.
    expect(binomialHalfCdf(15, 3)).toBe(576 / 32768);
    expect(() => binomialHalfCdf(1001, 3)).toThrow('more than 1000');
  });

  it('puts the 95% interval of a median at the order statistics of the usual tables', async () => {
    const { medianInterval } = await import('../../bench/fidelity/stats.js');
    const ranks = (n: number) => Array.from({ length: n }, (_, i) => n - i); // n..1: the function sorts
    // Too few rounds for 95% at all: 5 rounds give at most 1 - 2/32 = 93.75%.
    expect(medianInterval(ranks(5))).toBeUndefined();
    expect(medianInterval(ranks(6))).toEqual({ low: 1, high: 6, coverage: 1 - 2 / 64 });
    expect(medianInterval(ranks(9))).toMatchObject({ low: 2, high: 8 });
    expect(medianInterval(ranks(15))).toEqual({ low: 4, high: 12, coverage: 1 - (2 * 576) / 32768 });
    expect(medianInterval(ranks(21))).toMatchObject({ low: 6, high: 16 });
    // A lower level narrows it; every coverage given is at least the level asked for.
    expect(medianInterval(ranks(15), 0.8)).toMatchObject({ low: 5, high: 11 }); // 1 - 2 P(X <= 4) = 0.88; k = 6 would give 0.70
    for (const n of [6, 7, 10, 15, 30]) expect(medianInterval(ranks(n))!.coverage).toBeGreaterThanOrEqual(0.95);
  });
});
