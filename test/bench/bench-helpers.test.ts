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
