import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'pb-report-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = fileURLToPath(new URL('../compare/fixtures/quickstart-small.results.json', import.meta.url));

async function pullbench(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('./bin/dev.js', args, { env: { ...process.env, CI: '1' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('pullbench report', { timeout: 60_000 }, () => {
  it('writes the HTML file, with the baseline beside it, and says where', async () => {
    const out = join(dir, 'report.html');
    const r = await pullbench('report', fixture, '--baseline', fixture, '-o', out, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ file: out });
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<h2>Against the baseline: unchanged</h2>');
  });

  it('writes beside its input when no -o is given', async () => {
    const copy = join(dir, 'run-1', 'results.json');
    mkdirSync(join(dir, 'run-1'));
    copyFileSync(fixture, copy);
    const r = await pullbench('report', copy, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ file: join(dir, 'run-1', 'report.html') });
    expect(existsSync(join(dir, 'run-1', 'report.html'))).toBe(true);
  });

  it('exits 2 for a file that is not a results file, without a stack trace', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ kind: 'something else' }));
    const r = await pullbench('report', bad, '-o', join(dir, 'x.html'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Error \[INVALID_ARGUMENT\]: .*bad\.json is not a pullbench results file: kind is "something else"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
