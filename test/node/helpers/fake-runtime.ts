import { PullbenchError } from '../../../src/errors.js';
import type { Clock } from '../../../src/core/clock.js';
import type { ImageInfo, PullAuth, Runtime, RuntimeStats } from '../../../src/node/runtime.js';

/** An in-memory Runtime for kubelet unit tests: pulls take `pullMs` on the given clock. */
export class FakeRuntime implements Runtime {
  readonly name = 'fake';
  readonly calls: { op: 'pull' | 'status'; image: string; auth?: PullAuth }[] = [];
  readonly images = new Map<string, ImageInfo>();
  /** Images that need these credentials. */
  readonly privateImages = new Map<string, PullAuth>();
  /** Images whose pulls fail with this message. */
  readonly failing = new Map<string, string>();
  /** When set, ImageStatus fails with this message (a runtime that cannot be asked). */
  statusError: string | undefined;
  private active = 0;
  maxActive = 0;

  constructor(
    private readonly clock: Clock,
    private readonly pullMs = 1000,
    private readonly size = 1234,
  ) {}

  async pullImage(image: string, auth?: PullAuth): Promise<string> {
    this.calls.push({ op: 'pull', image, ...(auth ? { auth } : {}) });
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await this.clock.sleep(this.pullMs);
      const fail = this.failing.get(image);
      if (fail) throw new PullbenchError('RUNTIME_ERROR', fail);
      const needs = this.privateImages.get(image);
      if (needs && (auth?.username !== needs.username || auth?.password !== needs.password)) {
        throw new PullbenchError('RUNTIME_ERROR', `failed to authorize: 401 Unauthorized`);
      }
      const id = `sha256:${Buffer.from(image).toString('hex').padEnd(64, '0').slice(0, 64)}`;
      this.images.set(image, { id, size: this.size, repoTags: [image], repoDigests: [] });
      return id;
    } finally {
      this.active--;
    }
  }

  async imageStatus(image: string): Promise<ImageInfo | undefined> {
    this.calls.push({ op: 'status', image });
    if (this.statusError) throw new PullbenchError('RUNTIME_ERROR', this.statusError);
    return this.images.get(image) ?? [...this.images.values()].find((i) => i.id === image);
  }

  async removeImage(image: string): Promise<void> {
    this.images.delete(image);
  }

  async listImages(): Promise<ImageInfo[]> {
    return [...this.images.values()];
  }

  stats(): RuntimeStats {
    return { pulls: this.calls.filter((c) => c.op === 'pull').length, failedPulls: 0 };
  }

  async [Symbol.asyncDispose](): Promise<void> {}
}
