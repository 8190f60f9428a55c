// containerd CRI's image_pull_progress_timeout for the embedded runtime: a pull that makes no progress for that long
// is cancelled, and fails as containerd's does (`context canceled`).
import type { Readable } from 'node:stream';
import type { Clock } from '../../core/clock.js';
import { PullbenchError, isPullbenchError } from '../../errors.js';
import type { HttpResponse, HttpTransport } from '../../net/http-pool.js';

/**
 * image_pull_progress_timeout when the config sets none: `defaultImagePullProgressTimeoutDuration = 5 * time.Minute`
 * (pkg/cri/config/config.go in 1.7; internal/cri/config/config.go in 2.0 and 2.1). 0 turns the check off.
 */
export const DEFAULT_IMAGE_PULL_PROGRESS_TIMEOUT_MS = 5 * 60_000;

/** `defaultPullProgressReportInterval` (10 s): how often the reporter looks; timeout/2 when the timeout is shorter. */
const REPORT_INTERVAL_MS = 10_000;

/**
 * What counts as a request under way, per containerd release (see ContainerdProfile.progressTracking):
 * `requests`, every HTTP request of the pull from its send until its body is closed; `downloads`, a content fetch
 * (a manifest, config or layer by digest) from its first byte until its last.
 */
export type ProgressTracking = 'requests' | 'downloads';

/** The error of a pull the progress check cancelled: Go's context.Canceled, as containerd returns it. */
export function pullCanceled(): PullbenchError {
  return new PullbenchError('RUNTIME_CANCELED', 'context canceled');
}

export function isPullCanceled(err: unknown): boolean {
  return isPullbenchError(err, 'RUNTIME_CANCELED');
}

interface Entry {
  /** A content fetch (GET of a manifest or blob by digest): what the 2.1 transfer service reports progress of. */
  content: boolean;
  bytes: number;
  /** Bytes of a body a layer thread saves, read from its shared counter. */
  read?: (() => number) | undefined;
  done: boolean;
}

/**
 * One pull's progress, as containerd's CRI watches it. 1.7 and 2.0 (pkg/cri/server/image_pull.go in 1.7,
 * internal/cri/server/images/image_pull.go in 2.0; `pullProgressReporter.start`, `pullRequestReporterRoundTripper`,
 * `countingReadCloser`): every request the resolver's http.Client sends (tokens, resolve, content) is active from
 * RoundTrip until its body is closed, and every body byte read counts. 2.1 (`pullImageWithTransferService`,
 * `transferProgressReporter.handleProgress`): only the transfer service's progress events count, and a fetch is
 * active only once bytes of it arrived (`waiting` with no progress is ignored) and until all of them did. Every
 * report interval (10 s, or half the timeout when it is shorter): no request active, or more bytes than last time,
 * moves the mark; otherwise, when more than the timeout passed since the mark, the pull is cancelled ("cancel
 * pulling image %s because of no progress in %v").
 */
export class PullProgress {
  private readonly entries = new Set<Entry>();
  private finishedBytes = 0;
  private lastSeenBytes = 0;
  private lastSeenAt = 0;
  private timer: unknown;
  private stopped = false;
  private cancelled = false;
  private readonly onCancel: (() => void)[] = [];

  constructor(
    private readonly tracking: ProgressTracking,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
  ) {}

  /** True once the check cancelled the pull. */
  get canceled(): boolean {
    return this.cancelled;
  }

  /** Calls `fn` when the pull is cancelled (at once if it was). */
  whenCanceled(fn: () => void): void {
    if (this.cancelled) fn();
    else this.onCancel.push(fn);
  }

  /** Starts the checks (none with a timeout of 0, as containerd starts no reporter then). */
  start(): void {
    if (this.timeoutMs <= 0 || this.stopped) return;
    const interval = this.timeoutMs < REPORT_INTERVAL_MS ? this.timeoutMs / 2 : REPORT_INTERVAL_MS;
    this.lastSeenAt = this.clock.now();
    const tick = (): void => {
      this.check(this.clock.now());
      if (!this.stopped && !this.cancelled) this.timer = this.clock.setTimer(tick, interval);
    };
    this.timer = this.clock.setTimer(tick, interval);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
  }

  /** Requests under way and bytes read so far, as the release's reporter counts them. */
  status(): { active: number; bytes: number } {
    let active = 0;
    let bytes = this.finishedBytes;
    for (const e of this.entries) {
      const n = e.read ? e.read() : e.bytes;
      if (this.tracking === 'downloads' && !e.content) continue;
      bytes += n;
      if (this.tracking === 'requests' || n > 0) active++;
    }
    return { active, bytes };
  }

  /** One report interval's look (exported for tests through the timer). */
  check(now: number): void {
    if (this.cancelled) return;
    const { active, bytes } = this.status();
    if (active === 0 || bytes > this.lastSeenBytes) {
      this.lastSeenBytes = bytes;
      this.lastSeenAt = now;
      return;
    }
    if (now - this.lastSeenAt > this.timeoutMs) {
      this.cancelled = true;
      this.stop();
      for (const fn of this.onCancel.splice(0)) fn();
    }
  }

  /** The transport with every request and body counted; once cancelled, it sends nothing more. */
  wrap(transport: HttpTransport): HttpTransport {
    return {
      request: async (url, req) => {
        if (this.cancelled) throw pullCanceled();
        const entry: Entry = { content: req.method === 'GET' && CONTENT_PATH.test(new URL(url).pathname), bytes: 0, done: false };
        this.entries.add(entry);
        let res: HttpResponse;
        try {
          res = await transport.request(url, req);
        } catch (err) {
          this.finish(entry);
          throw err;
        }
        if (req.method === 'HEAD') this.finish(entry);
        else if (res.saved) {
          if (res.progress) entry.read = res.progress;
          res.saved.then(
            (n) => {
              entry.read = undefined;
              entry.bytes = n;
              this.finish(entry);
            },
            () => {
              if (entry.read) entry.bytes = entry.read();
              entry.read = undefined;
              this.finish(entry);
            },
          );
        } else this.count(res.body, entry);
        return res;
      },
    };
  }

  // Body bytes as they go by (a listener beside the reader's pipes, not a stream of its own), until the body ends or
  // is closed: the stream is paused again, so nothing goes by before its reader is there.
  private count(body: Readable, entry: Entry): void {
    const end = (): void => this.finish(entry);
    body.on('data', (chunk: Buffer) => (entry.bytes += chunk.length));
    body.once('end', end);
    body.once('close', end);
    body.once('error', end);
    body.pause();
  }

  private finish(entry: Entry): void {
    if (entry.done) return;
    entry.done = true;
    this.entries.delete(entry);
    if (this.tracking === 'requests' || entry.content) this.finishedBytes += entry.bytes;
  }
}

/** A manifest or blob fetched by digest (`/v2/<repo>/manifests/sha256:...`, `/blobs/sha256:...`). */
const CONTENT_PATH = /\/(manifests|blobs)\/[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
