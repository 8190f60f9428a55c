// A blob body that goes on after its connection ends early, as containerd's fetcher reads one.
import { Readable } from 'node:stream';

/** containerd's httpReadSeeker maxRetry: cuts in a row with no byte between them before a fetch gives up. */
export const MAX_RESUMES_WITHOUT_PROGRESS = 3;

/** What a reopen gives: the rest of the body, and how many of its first bytes to drop (a registry that ignored Range). */
export interface Reopened {
  body: Readable;
  skip: number;
}

/** Whether a body failed because its connection ended (cleanly) before the body's length: io.ErrUnexpectedEOF. */
export function isUnexpectedEof(err: unknown): boolean {
  return (err as { unexpectedEof?: boolean } | null)?.unexpectedEof === true;
}

/**
 * containerd's httpReadSeeker (remotes/docker/httpreadseeker.go in 1.7, core/remotes/docker/ in 2.0 and 2.1,
 * Read): a body cut short (io.ErrUnexpectedEOF) is opened again at the offset received so far (`reopen`: the
 * fetcher's open with `Range: bytes=<offset>-`), and the read goes on; a cut with nothing received since the last
 * one counts against maxRetry (3), and the fourth such cut in a row fails the body. A reset, or a reopen that
 * fails, fails it at once. The bytes come out as one body, so a digest check after it sees the whole blob.
 */
export function resumingBody(first: Readable, length: number, reopen: (offset: number) => Promise<Reopened>): Readable {
  let source = first;
  let received = 0;
  let skip = 0;
  let cutsWithoutProgress = 0;
  let receivedAtCut = 0;
  const out = new Readable({
    highWaterMark: first.readableHighWaterMark,
    read: () => source.resume(),
    destroy: (err, cb) => {
      source.destroy();
      cb(err);
    },
  });
  const failed = (err: unknown): void => {
    if (out.destroyed) return;
    if (!isUnexpectedEof(err) || received >= length) {
      out.destroy(err as Error);
      return;
    }
    cutsWithoutProgress = received > receivedAtCut ? 1 : cutsWithoutProgress + 1;
    receivedAtCut = received;
    if (cutsWithoutProgress > MAX_RESUMES_WITHOUT_PROGRESS) {
      out.destroy(err as Error);
      return;
    }
    reopen(received).then(
      (next) => {
        if (out.destroyed) {
          next.body.destroy();
          return;
        }
        skip = next.skip;
        attach(next.body);
      },
      (reopenError: unknown) => out.destroy(reopenError as Error),
    );
  };
  const attach = (body: Readable): void => {
    source = body;
    // A body that failed before it got here (a reopened one cut at once) has already said so.
    if (body.errored) {
      failed(body.errored);
      return;
    }
    body.on('data', (chunk: Buffer) => {
      let view = chunk;
      if (skip > 0) {
        const n = Math.min(skip, view.length);
        skip -= n;
        view = view.subarray(n);
        if (view.length === 0) return;
      }
      received += view.length;
      if (!out.push(view)) body.pause();
    });
    body.once('end', () => {
      if (skip > 0) out.destroy(new Error('unable to discard to offset'));
      else out.push(null);
    });
    body.once('error', failed);
    // Whoever paused it before (a progress count), it flows now, held back only by what `out` can take.
    body.resume();
  };
  attach(first);
  return out;
}
