import { describe, it } from 'vitest';
import { findTool } from '../../src/util/tools.js';

/**
 * Interop tests need real tools (skopeo, containerd, docker-registry, dockerd, ...).
 * Where a tool is missing they skip and say why; with PULLBENCH_REQUIRE_INTEROP=1
 * (set by CI) a missing tool is a failure instead.
 */
export const requireInterop = process.env.PULLBENCH_REQUIRE_INTEROP === '1';

export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => findTool(t) === undefined);
}

/** `describe` that runs only where every tool exists (and fails under PULLBENCH_REQUIRE_INTEROP=1). */
export function describeWithTools(tools: string[], name: string, fn: () => void): void {
  const missing = missingTools(tools);
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const reason = `needs ${missing.join(', ')} on PATH (install: apt-get install -y ${missing.join(' ')})`;
  if (requireInterop) {
    describe(name, () => {
      it(`cannot run: ${reason}`, () => {
        throw new Error(`PULLBENCH_REQUIRE_INTEROP=1 and ${reason}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${reason})`, fn);
  }
}

/** Same as describeWithTools, for a condition other than a tool on PATH. */
export function describeIf(condition: boolean, reason: string, name: string, fn: () => void, required = requireInterop): void {
  if (condition) {
    describe(name, fn);
  } else if (required) {
    describe(name, () => {
      it(`cannot run: ${reason}`, () => {
        throw new Error(`PULLBENCH_REQUIRE_INTEROP=1 and ${reason}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: ${reason})`, fn);
  }
}
