import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { HttpResponse, HttpTransport } from '../../src/net/http-pool.js';
import { PullProgress } from '../../src/node/runtimes/pull-progress.js';

const BLOB = 'http://r.test/v2/team/app/blobs/sha256:aaaa';
const TAG = 'http://r.test/v2/team/app/manifests/v1';

// A transport whose answers the test gives by hand: `answer(body)` ends the oldest request waiting.
function handTransport(): HttpTransport & { answer(body: Readable): void; waiting(): number } {
  const queue: ((res: HttpResponse) => void)[] = [];
  return {
    request: () => new Promise<HttpResponse>((resolve) => queue.push(resolve)),
    answer: (body) => queue.shift()!({ status: 200, headers: { get: () => null }, body }),
    waiting: () => queue.length,
  };
}

// Lets the wrapped request see its answer (a few turns of microtasks).
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("containerd's image_pull_progress_timeout", () => {
  describe('1.7 and 2.0: every request counts from its send', () => {
    it('cancels a pull whose request gets no answer for longer than the timeout', async () => {
      const clock = new ManualClock();
      const progress = new PullProgress('requests', 1000, clock);
      let cancelled = 0;
      progress.whenCanceled(() => cancelled++);
      const t = handTransport();
      void progress.wrap(t).request(TAG, { method: 'HEAD', headers: {} });
      progress.start();
      // Checks every 500 ms (half the timeout); the mark is the start, and more than 1 s must pass since it.
      await clock.advance(1000);
      expect(progress.canceled).toBe(false);
      await clock.advance(500);
      expect(progress.canceled).toBe(true);
      expect(cancelled).toBe(1);
      await expect(progress.wrap(t).request(BLOB, { method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'RUNTIME_CANCELED', message: 'context canceled' });
    });

    it('keeps a pull whose body keeps arriving, however long it takes', async () => {
      const clock = new ManualClock();
      const progress = new PullProgress('requests', 1000, clock);
      const t = handTransport();
      const pending = progress.wrap(t).request(BLOB, { method: 'GET', headers: {} });
      const body = new PassThrough();
      t.answer(body);
      const res = await pending;
      res.body.resume();
      progress.start();
      for (let i = 0; i < 10; i++) {
        body.write(Buffer.alloc(10));
        await settle();
        await clock.advance(500);
      }
      expect(progress.canceled).toBe(false);
      // Then the body stops: cancelled once more than the timeout passed without a byte.
      await clock.advance(1500);
      expect(progress.canceled).toBe(true);
    });

    it('never cancels while no request is under way (an apply, a commit), however long', async () => {
      const clock = new ManualClock();
      const progress = new PullProgress('requests', 1000, clock);
      const t = handTransport();
      const pending = progress.wrap(t).request(BLOB, { method: 'GET', headers: {} });
      t.answer(Readable.from([Buffer.alloc(5)]));
      (await pending).body.resume();
      await settle();
      progress.start();
      await clock.advance(60_000);
      expect(progress.status()).toEqual({ active: 0, bytes: 5 });
      expect(progress.canceled).toBe(false);
    });

    it('starts no check with a timeout of 0', async () => {
      const clock = new ManualClock();
      const progress = new PullProgress('requests', 0, clock);
      void progress.wrap(handTransport()).request(TAG, { method: 'HEAD', headers: {} });
      progress.start();
      await clock.advance(3_600_000);
      expect(progress.canceled).toBe(false);
    });
  });

  describe('2.1: the transfer service reports fetches that have received bytes', () => {
    it('does not cancel a request held before its answer (a resolve, a blob not started)', async () => {
      const clock = new ManualClock();
      const progress = new PullProgress('downloads', 1000, clock);
      const t = handTransport();
      void progress.wrap(t).request(TAG, { method: 'HEAD', headers: {} });
      void progress.wrap(t).request(BLOB, { method: 'GET', headers: {} });
      progress.start();
      await clock.advance(10_000);
      expect(progress.status()).toEqual({ active: 0, bytes: 0 });
      expect(progress.canceled).toBe(false);
    });

    it('cancels a blob download that stalls after its first bytes', async () => {
      const clock = new ManualClock();
      const progress = new PullProgress('downloads', 1000, clock);
      const t = handTransport();
      const pending = progress.wrap(t).request(BLOB, { method: 'GET', headers: {} });
      const body = new PassThrough();
      t.answer(body);
      (await pending).body.resume();
      body.write(Buffer.alloc(100));
      await settle();
      progress.start();
      expect(progress.status()).toEqual({ active: 1, bytes: 100 });
      await clock.advance(2000);
      expect(progress.canceled).toBe(true);
    });

    it("counts a layer thread's saved body from its shared counter", async () => {
      const clock = new ManualClock();
      const progress = new PullProgress('downloads', 1000, clock);
      let received = 0;
      let done!: (n: number) => void;
      const saved = new Promise<number>((resolve) => (done = resolve));
      const inner: HttpTransport = { request: async () => ({ status: 200, headers: { get: () => null }, body: Readable.from([]), saved, progress: () => received }) };
      await progress.wrap(inner).request(BLOB, { method: 'GET', headers: {} });
      progress.start();
      expect(progress.status()).toEqual({ active: 0, bytes: 0 });
      received = 4096;
      expect(progress.status()).toEqual({ active: 1, bytes: 4096 });
      done(8192);
      await settle();
      expect(progress.status()).toEqual({ active: 0, bytes: 8192 });
      await clock.advance(10_000);
      expect(progress.canceled).toBe(false);
    });
  });
});
