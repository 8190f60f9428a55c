import { describe, expect, it } from 'vitest';
import { pullCause } from '../../src/measure/pull-cause.js';
import { recoveryMs } from '../../src/measure/recovery.js';
import { buildTimelines, type PodTimeline } from '../../src/measure/timeline.js';

const img = '127.0.0.1:40135/demo/app:v1';
const failed = (err: string) => `Failed to pull image "${img}": rpc error: code = Unknown desc = failed to pull and unpack image "${img}": ${err}`;

describe('the cause of a failed pull, from the kubelet message (containerd and the embedded runtime alike)', () => {
  it.each([
    // containerd 1.7 / 2.x (core/remotes/docker), Go's net errors, kubelet's own
    [`failed to resolve reference "${img}": unexpected status from HEAD request to http://127.0.0.1:40135/v2/demo/app/manifests/v1: 503 Service Unavailable`, 'serverError'],
    [`failed to copy: httpReadSeeker: failed open: unexpected status code http://127.0.0.1:40135/v2/demo/app/blobs/sha256:5035: 500 Internal Server Error`, 'serverError'],
    [`failed to resolve reference "${img}": unexpected status from HEAD request to http://127.0.0.1:5000/v2/demo/app/manifests/v1: 429 Too Many Requests`, 'rateLimited'],
    ['pull QPS exceeded', 'rateLimited'],
    [`failed to resolve reference "${img}": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`, 'auth'],
    [`failed to resolve reference "${img}": failed to authorize: failed to fetch oauth token: unexpected status from GET request to http://127.0.0.1:5000/token: 401 Unauthorized`, 'auth'],
    [`failed to resolve reference "${img}": ${img}: not found`, 'notFound'],
    [`failed to resolve reference "${img}": failed to do request: Head "http://127.0.0.1:5000/v2/demo/app/manifests/v1": dial tcp 127.0.0.1:5000: connect: connection refused`, 'resetOrRefused'],
    ['failed to copy: read tcp 127.0.0.1:51234->127.0.0.1:5000: read: connection reset by peer', 'resetOrRefused'],
    ['failed to copy: unexpected EOF', 'resetOrRefused'],
    [`failed to resolve reference "${img}": failed to do request: Head "http://r/v2/": dial tcp 10.0.0.1:443: i/o timeout`, 'timeout'],
    ['failed to copy: context deadline exceeded', 'timeout'],
    ['failed commit on ref "layer-sha256:ab": unexpected commit digest sha256:cd, expected sha256:ab: failed precondition', 'digestMismatch'],
    // the embedded runtime
    ['manifest demo/app:v1: HTTP 503', 'serverError'],
    ['manifest demo/app:v1: the token endpoint refused (401); check the credentials', 'auth'],
    ['manifest demo/app:v1: cannot reach http://127.0.0.1:39507 (read ECONNRESET)', 'resetOrRefused'],
    ['blob sha256:ab: content has digest sha256:cd, expected sha256:ab', 'digestMismatch'],
    ['something nobody wrote before', 'other'],
  ])('%s -> %s', (err, cause) => {
    expect(pullCause(failed(err))).toBe(cause);
  });

  it("reads containerd's cancel of a pull with no progress (image_pull_progress_timeout) as a timeout", () => {
    const msg = `Failed to pull image "${img}": rpc error: code = Canceled desc = failed to pull and unpack image "${img}": context canceled`;
    expect(pullCause(msg)).toBe('timeout');
  });

  it('does not read a status in an address or a digest', () => {
    expect(pullCause(failed('dial tcp 127.0.0.1:40401: something odd sha256:503429'))).toBe('other');
    expect(pullCause('Failed to pull image "127.0.0.1:50300/x:v1": odd')).toBe('other');
  });
});

describe('the per-pod attempts and failures the parser reads', () => {
  it('lists every Pulling and every Failed with its cause, in time order', () => {
    const pod = { uid: 'u', name: 'p', rollout: 'app', image: img, createdAt: 0 };
    const ev = (t: number, reason: string, message: string, count?: number) => ({
      involvedObject: { kind: 'Pod', uid: 'u', name: 'p', namespace: 'n' }, reason, message, timestamp: t, type: 'Normal', ...(count ? { count } : {}),
    });
    const [t] = buildTimelines(
      [
        ev(1000, 'Pulling', `Pulling image "${img}"`),
        ev(1100, 'Failed', failed('HTTP 503')),
        ev(11_200, 'Pulling', `Pulling image "${img}"`),
        ev(11_300, 'Failed', failed('dial tcp 127.0.0.1:5000: connect: connection refused'), 2),
        ev(31_400, 'Pulling', `Pulling image "${img}"`),
        ev(32_000, 'Pulled', `Successfully pulled image "${img}" in 600ms (600ms including waiting). Image size: 10 bytes.`),
        ev(32_100, 'Started', 'Started container app'),
      ] as never,
      [{ ...pod, readyAt: 32_100 }] as never,
    );
    expect(t!.pullAttempts).toEqual([1000, 11_200, 31_400]);
    expect(t!.pullFailures).toEqual([{ at: 1100, cause: 'serverError' }, { at: 11_300, cause: 'resetOrRefused', count: 2 }]);
    expect(t!.pullErrors).toBe(3);
  });
});

describe('recovery', () => {
  const pod = (readyAt: number | undefined, expectFailure = false): PodTimeline =>
    ({ uid: String(readyAt), name: 'p', rollout: 'r', image: 'i', createdAt: 0, alreadyPresent: false, pullErrors: 0, outcome: readyAt ? 'ready' : 'failed', expectFailure, ...(readyAt ? { readyAt } : {}) }) as PodTimeline;
  it('is the time from the last fault end to the last pod Ready', () => {
    expect(recoveryMs([pod(5_000), pod(72_000), pod(undefined, true)], [10_000, 60_000])).toBe(12_000);
  });
  it('is 0 when every pod was Ready before the fault ended, undefined when one never was or there was no fault', () => {
    expect(recoveryMs([pod(5_000)], [60_000])).toBe(0);
    expect(recoveryMs([pod(5_000), pod(undefined)], [60_000])).toBeUndefined();
    expect(recoveryMs([pod(5_000)], [])).toBeUndefined();
  });
});
