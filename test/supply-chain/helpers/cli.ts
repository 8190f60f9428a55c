import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = new URL('../../../bin/dev.js', import.meta.url).pathname;

/** Runs the pullbench CLI (bin/dev.js) with an empty COSIGN_PASSWORD; its exit code and output. */
export async function exitOf(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(bin, args, { env: { ...process.env, COSIGN_PASSWORD: '' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
