import type { ServerResponse } from 'node:http';
import type { Link } from './shaper.js';

/** As the shaped proxy's: a response counts as ready while less than a TCP send buffer's worth waits in it. */
const SINK_BUFFER = 256 * 1024;

/**
 * Sends `body` as a response's body through `link`'s down direction: a server shaping its own writes, so what it
 * serves shares the link as through a shaped proxy in front of it, without the proxy's second TCP connection (every
 * byte written and read once more on loopback). `sent` counts the bytes as the link delivers them. Resolves when
 * the body is written, or the response closed before that.
 */
export function sendShaped(link: Link, res: ServerResponse, body: Buffer, sent: (bytes: number) => void): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      res.off('drain', resume);
      resolve();
    };
    const flow = link.openFlow('down', {
      deliver: (chunk) => {
        if (done) return;
        sent(chunk.length);
        res.write(chunk);
      },
      end: () => {
        res.end();
        finish();
      },
      writable: () => res.writableLength < SINK_BUFFER,
    });
    const resume = (): void => flow.resume();
    res.on('drain', resume);
    res.once('close', () => {
      if (done) return;
      flow.abort();
      finish();
    });
    flow.write(body);
    flow.end();
  });
}
