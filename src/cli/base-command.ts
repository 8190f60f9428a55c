import { Command } from '@oclif/core';
import { isPullbenchError, type PullbenchErrorCode } from '../errors.js';
import { runAllCleanups } from '../util/cleanup.js';
import { exitCodeFor, ExitCode } from './exit-codes.js';

/**
 * Every pullbench command extends this: library errors become a one-line
 * message (no stack trace for bad input) and the documented exit code; with
 * --json the error is printed as JSON on stdout. Everything registered for
 * cleanup is released before exit. The exit code always comes from the table in
 * exit-codes.ts: from a thrown error's code, or from the verdict a command
 * records with failWith() when its output must still be printed.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  private verdict: PullbenchErrorCode | undefined;

  /** True when progress should be drawn: stderr is a TTY and CI is unset. */
  protected get interactive(): boolean {
    return Boolean(process.stderr.isTTY) && !process.env.CI;
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    await runAllCleanups();
    if (isPullbenchError(err)) {
      const exit = this.exitCodeForError(err.code);
      if (this.jsonEnabled()) {
        this.logJson({ error: err.toJSON() });
      } else {
        this.logToStderr(`Error [${err.code}]: ${err.message}`);
      }
      this.exit(exit);
    }
    return super.catch(err);
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await runAllCleanups();
    if (!err && this.verdict) process.exitCode = this.exitCodeForError(this.verdict);
    return super.finally(err);
  }

  /** The command worked, but its verdict fails the run (a threshold, a regression): its output is printed, then it exits with the code's exit code. */
  protected failWith(code: PullbenchErrorCode): void {
    this.verdict = code;
  }

  /** Commands with their own exit-code conventions (verify) override this. */
  protected exitCodeForError(code: Parameters<typeof exitCodeFor>[0]): number {
    return exitCodeFor(code);
  }
}

export { ExitCode };
