import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const depcruise = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/** Runs the project's dependency rule as `npm run lint` does, on `dir`'s src/: the exit code and the report. */
async function cruise(dir: string): Promise<{ code: number; output: string }> {
  const args = [depcruise, '--config', join(root, '.dependency-cruiser.mjs'), 'src'];
  try {
    const { stdout } = await run(process.execPath, args, { cwd: dir, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    return { code: 0, output: stdout };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, output: e.stdout ?? '' };
  }
}

describe('the dependency rule', () => {
  let copy: string;
  beforeAll(async () => {
    copy = await mkdtemp(join(tmpdir(), 'pullbench-depcruise-'));
    await cp(join(root, 'src'), join(copy, 'src'), { recursive: true });
    await cp(join(root, 'tsconfig.json'), join(copy, 'tsconfig.json'));
  });
  afterAll(async () => {
    await rm(copy, { recursive: true, force: true });
  });

  it('passes on the tree as it is', async () => {
    const { code, output } = await cruise(root);
    expect(output).toContain('no dependency violations found');
    expect(code).toBe(0);
  }, 120_000);

  describe('when a file imports upward or a command, or two modules import each other', () => {
    beforeAll(async () => {
      // node/ sits below cluster/: the import that issue 24 removed (node/ reading cluster/'s event types).
      const kubelet = join(copy, 'src/node/kubelet.ts');
      await writeFile(kubelet, `import type { Cluster } from './../cluster/cluster.js';\nexport type Upward = Cluster;\n${await readFile(kubelet, 'utf8')}`);
      const results = join(copy, 'src/results/index.ts');
      await writeFile(results, `${await readFile(results, 'utf8')}export type { default as RunCommand } from '../commands/run.js';\n`);
      // Two modules of one folder that need each other at run time.
      await writeFile(join(copy, 'src/util/cycle-a.ts'), "import { b } from './cycle-b.js';\nexport const a = (): unknown => b;\n");
      await writeFile(join(copy, 'src/util/cycle-b.ts'), "import { a } from './cycle-a.js';\nexport const b = (): unknown => a;\n");
    });

    it('fails, naming the rule and the import', async () => {
      const { code, output } = await cruise(copy);
      expect(code).toBeGreaterThan(0); // depcruise exits with the number of errors
      expect(output).toContain('error layer-node: src/node/kubelet.ts → src/cluster/cluster.ts');
      expect(output).toContain('error no-commands-import: src/results/index.ts → src/commands/run.ts');
      expect(output).toMatch(/error no-circular: src\/util\/cycle-[ab]\.ts → \n\s+src\/util\/cycle-[ab]\.ts →/);
    }, 120_000);
  });
});
