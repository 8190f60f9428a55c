import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const devJs = fileURLToPath(new URL('../../bin/dev.js', import.meta.url));

describe('pullbench registry serve', () => {
  it('prints its URL as JSON, serves, and exits 130 with cleanup on Ctrl-C', async () => {
    const child = spawn(process.execPath, [devJs, 'registry', 'serve', '--port', '0', '--storage', 'memory', '--auth', 'basic', '--user', 'alice:pw-secret', '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      const deadline = Date.now() + 60_000;
      while (!stdout.includes('}') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const { url } = JSON.parse(stdout) as { url: string };
      expect(stderr).toContain(`serving ${url}`);
      expect((await fetch(`${url}/v2/`)).status).toBe(401);
      const ok = await fetch(`${url}/v2/`, { headers: { Authorization: `Basic ${Buffer.from('alice:pw-secret').toString('base64')}` } });
      expect(ok.status).toBe(200);
      child.kill('SIGINT');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(130);
      expect(stdout + stderr).not.toContain('pw-secret');
      await expect(fetch(`${url}/v2/`)).rejects.toThrow();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 90_000);

  it('rejects a malformed --rate-limit with exit code 2', async () => {
    const child = spawn(process.execPath, [devJs, 'registry', 'serve', '--port', '0', '--rate-limit', 'lots'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(2);
    expect(stderr).toContain('INVALID_ARGUMENT');
  }, 90_000);
});
