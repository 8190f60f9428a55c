import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadResult } from '../../src/load/index.js';
import { startRegistryServer } from '../../src/registry/server.js';
import { seedImage } from './helpers.js';

const run = promisify(execFile);
const bin = new URL('../../bin/dev.js', import.meta.url).pathname;
const USER = { username: 'cli', password: 'Cli-secret-pw-42' };

// Each test starts the CLI from TypeScript sources (bin/dev.js), which takes seconds on a busy machine.
describe('pullbench load (command)', { timeout: 90_000 }, () => {
  let registry: Awaited<ReturnType<typeof startRegistryServer>>;
  beforeAll(async () => {
    registry = await startRegistryServer({ storage: 'memory', auth: 'token', users: [USER] });
    await seedImage(registry.url, 'app', 'v1', [2048], USER);
  });
  afterAll(async () => {
    await registry?.close();
  });

  it('--json prints the versioned result; the password (from the environment) appears nowhere', async () => {
    const { stdout, stderr } = await run(
      bin,
      ['load', '--registry', registry.url, '--image', 'app:v1', '--profile', 'mix', '--connections', '4', '--amount', '200', '--registry-user', USER.username, '--registry-password-env', 'LOAD_PW', '--json'],
      { env: { ...process.env, LOAD_PW: USER.password, CI: '1' } },
    );
    const result = JSON.parse(stdout) as LoadResult;
    expect(result.schema).toBe('pullbench.load/v1');
    expect(result.auth).toBe('bearer');
    expect(result.requests.total).toBe(200);
    expect(result.errors).toBe(0);
    expect(stdout + stderr).not.toContain(USER.password);
    expect(stdout).not.toMatch(/Bearer [A-Za-z0-9_-]+\./);
  });

  it('prints a summary table without --json (the old --user/--password-env names still work, with a warning)', async () => {
    const { stdout, stderr } = await run(
      bin,
      ['load', '--registry', registry.url, '--image', 'app:v1', '--profile', 'token', '--connections', '2', '--duration', '1s', '--user', USER.username, '--password-env', 'LOAD_PW'],
      { env: { ...process.env, LOAD_PW: USER.password, CI: '1' } },
    );
    expect(stdout).toMatch(/latency\s+p50\s+p90\s+p99\s+max/);
    expect(stdout).toMatch(/token\s+\d+/);
    expect(stdout).not.toContain(USER.password);
    expect(stderr).toMatch(/--user.*deprecated.*--registry-user/s);
  });

  it('bad input exits 2 with the error code, no stack trace', async () => {
    const err = (await run(bin, ['load', '--registry', registry.url, '--image', 'app:v1', '--profile', 'mix', '--duration', 'forever', '--json']).catch((e: unknown) => e)) as {
      code: number;
      stdout: string;
    };
    expect(err.code).toBe(2);
    expect(JSON.parse(err.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  });

  it('--registry-user without the password in the environment is refused (passwords never go in flags)', async () => {
    const err = (await run(bin, ['load', '--registry', registry.url, '--image', 'app:v1', '--profile', 'mix', '--registry-user', 'cli', '--json']).catch((e: unknown) => e)) as { code: number; stdout: string };
    expect(err.code).toBe(2);
    expect(JSON.parse(err.stdout)).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });
  });
});
