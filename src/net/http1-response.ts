/**
 * One HTTP/1.1 response read from a connection's bytes, for raw-http.ts: the
 * head, then the body as its framing says (Content-Length, chunked, or the
 * connection's close), handed to a consumer as views of the connection's read
 * buffer, with pause and resume.
 */
import type { Socket } from 'node:net';

const MAX_HEAD = 64 * 1024;

/** Takes body bytes (a view valid only during the call); returns how many it took. Fewer pauses the body until resume(). */
export type BodyConsumer = (view: Buffer) => number;

type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

/** What a reader needs of its connection: to pause and resume the socket, and to give the connection up. */
export interface ReaderConnection {
  readonly socket: Pick<Socket, 'pause' | 'resume'>;
  destroy(): void;
}

/** Reads one response from a connection's bytes: its head, then its body as the framing says. */
export class ResponseReader {
  private head: Buffer[] = [];
  private headBytes = 0;
  private framing: Framing | undefined;
  /** Chunked bodies: the size line being read, the data left in the chunk, and where the reader is. */
  private chunkLine = '';
  private chunkLeft = 0;
  private chunkState: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
  private trailerLine = '';
  private consumer: BodyConsumer | undefined;
  /**
   * Body bytes waiting for the consumer (none set yet, or it paused), in buffers of their own: a read may come
   * after a pause (a TLS socket hands over the rest of what it has decrypted), and it reuses the read buffer.
   */
  private readonly queue: Buffer[] = [];
  private paused = false;
  private done = false;
  /** A close-framed body's connection has ended cleanly. */
  private eof = false;
  /** The response lets the connection be kept (HTTP/1.1 without `Connection: close`, or 1.0 with keep-alive). */
  private keepAlive = true;
  /** A failure of the body before a consumer was set. */
  private failure: Error | undefined;
  received = 0;
  /** Whether any byte of the response has arrived. */
  started = false;
  private onHead: ((r: { status: number; headers: Map<string, string> }) => void) | undefined;
  private onFail: ((err: Error) => void) | undefined;
  private onEnd: ((keep: boolean) => void) | undefined;
  private bodyFailed: ((err: Error) => void) | undefined;

  /** The pool sends GETs only, so every response but a 204 or 304 has a body. */
  constructor(private readonly conn: ReaderConnection) {}

  /** Resolves with the response's status and headers (1xx responses skipped). */
  awaitHead(): Promise<{ status: number; headers: Map<string, string> }> {
    return new Promise((resolve, reject) => {
      this.onHead = resolve;
      this.onFail = reject;
    });
  }

  /** Bytes from the socket (a view of the read buffer, valid during the call); false pauses reading. */
  feed(view: Buffer): boolean {
    this.started = true;
    try {
      // What follows a head is in a buffer of its own (copied with the head).
      let owned = false;
      if (!this.framing) {
        view = this.readHead(view);
        owned = true;
      }
      if (!this.framing || view.length === 0) return true;
      if (this.done) {
        // Bytes after the response: the connection cannot be kept.
        this.conn.destroy();
        return false;
      }
      if (!this.consumer || this.paused || this.queue.length > 0) {
        this.queue.push(owned ? view : Buffer.from(view));
        this.conn.socket.pause();
        return false;
      }
      return this.process(view, owned);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
  }

  closed(err: Error | undefined): void {
    if (this.done) return;
    if (err || !this.framing) {
      this.fail(err ?? cutShort('connection closed before a response'));
      return;
    }
    // A clean close: what is queued (a TLS socket can hand over the last records with the close) is still the body's.
    this.eof = true;
    if (this.consumer && !this.paused && this.queue.length === 0) this.ended();
  }

  // The connection has ended cleanly and everything that came is consumed: a close-framed body is complete, any
  // other is cut short.
  private ended(): void {
    if (this.framing?.kind === 'close') this.finish(false);
    else this.fail(Object.assign(cutShort('connection closed before the response body ended'), { unexpectedEof: true }));
  }

  setConsumer(consume: BodyConsumer, onEnd: (keep: boolean) => void, onFail: (err: Error) => void): void {
    this.consumer = consume;
    this.onEnd = onEnd;
    this.bodyFailed = onFail;
    if (this.failure) {
      onFail(this.failure);
      return;
    }
    if (this.framing?.kind === 'none') {
      this.finish(true);
      return;
    }
    try {
      // A body of Content-Length 0 has ended already.
      this.checkEnd();
      if (this.drain() && !this.done) this.conn.socket.resume();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    try {
      // A body of Content-Length 0 has ended already.
      this.checkEnd();
      if (this.drain() && !this.done) this.conn.socket.resume();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private keepable(): boolean {
    return this.framing?.kind !== 'close' && this.keepAlive && this.queue.length === 0;
  }

  private readHead(view: Buffer): Buffer {
    for (;;) {
      this.head.push(Buffer.from(view));
      this.headBytes += view.length;
      const all = this.head.length === 1 ? this.head[0]! : Buffer.concat(this.head);
      this.head = [all];
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.headBytes > MAX_HEAD) throw new Error(`response headers larger than ${MAX_HEAD} bytes`);
        return Buffer.alloc(0);
      }
      const lines = all.toString('latin1', 0, end).split('\r\n');
      const status = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0]!);
      if (!status) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
      const code = Number(status[2]);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) throw new Error(`malformed response header: ${JSON.stringify(line.slice(0, 80))}`);
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
      }
      const rest = all.subarray(end + 4);
      this.head = [];
      this.headBytes = 0;
      if (code >= 100 && code < 200) {
        // An interim response (100 Continue): the real one follows.
        view = rest;
        if (view.length === 0) return view;
        continue;
      }
      const connection = (headers.get('connection') ?? '').toLowerCase();
      this.keepAlive = status[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
      this.framing = this.framingOf(code, headers);
      this.conn.socket.pause();
      this.onHead?.({ status: code, headers });
      // The rest of this read was copied with the head (a buffer of our own): it is the body's first bytes.
      return rest;
    }
  }

  private framingOf(status: number, headers: Map<string, string>): Framing {
    if (status === 204 || status === 304) return { kind: 'none' };
    const te = headers.get('transfer-encoding');
    if (te !== undefined) {
      if (te.toLowerCase().split(',').map((s) => s.trim()).at(-1) !== 'chunked') throw new Error(`unsupported transfer-encoding ${JSON.stringify(te)}`);
      return { kind: 'chunked' };
    }
    const cl = headers.get('content-length');
    if (cl !== undefined) {
      const values = [...new Set(cl.split(',').map((s) => s.trim()))];
      if (values.length !== 1 || !/^\d+$/.test(values[0]!)) throw new Error(`invalid content-length ${JSON.stringify(cl)}`);
      return { kind: 'length', left: Number(values[0]) };
    }
    return { kind: 'close' };
  }

  // Hands the queued bytes to the consumer; false when it paused or the body ended.
  private drain(): boolean {
    while (this.queue.length > 0 && !this.paused && !this.done) {
      if (!this.process(this.queue.shift()!, true)) break;
    }
    if (this.eof && !this.done && !this.paused && this.queue.length === 0) this.ended();
    return !this.done && !this.paused;
  }

  // Hands `view` to the consumer, span by span; what it does not take waits in the queue, in a buffer of its own.
  // False when the consumer paused or the body ended.
  private process(view: Buffer, owned: boolean): boolean {
    let rest = view;
    while (rest.length > 0 && !this.done) {
      const data = this.nextData(rest);
      if (data === undefined) break;
      const [span, after] = data;
      if (span.length > 0) {
        const took = this.consumer!(span);
        this.received += took;
        if (this.framing?.kind === 'length') this.framing.left -= took;
        if (this.framing?.kind === 'chunked') {
          this.chunkLeft -= took;
          if (this.chunkLeft === 0) this.chunkState = 'data-end';
        }
        if (took < span.length) {
          const left = rest.subarray(rest.length - after.length - (span.length - took));
          this.queue.unshift(owned ? left : Buffer.from(left));
          this.paused = true;
          this.conn.socket.pause();
          return false;
        }
      }
      rest = after;
      this.checkEnd();
    }
    this.checkEnd();
    return !this.done;
  }

  // The next span of body data in `view`, and what follows it; framing bytes (chunk sizes, CRLFs, trailers) are
  // consumed on the way. Undefined when `view` held framing only.
  private nextData(view: Buffer): [Buffer, Buffer] | undefined {
    const f = this.framing!;
    if (f.kind === 'length') {
      const n = Math.min(view.length, f.left);
      if (view.length > n) throw new Error('the server sent more than the response\'s content-length');
      return [view.subarray(0, n), view.subarray(n)];
    }
    if (f.kind === 'close') return [view, view.subarray(view.length)];
    if (f.kind === 'none') throw new Error('the server sent a body where none may be');
    let at = 0;
    while (at < view.length) {
      if (this.chunkState === 'data') {
        const n = Math.min(view.length - at, this.chunkLeft);
        // chunkLeft is lowered, and the chunk's end reached, as the consumer takes the bytes (drain()).
        return [view.subarray(at, at + n), view.subarray(at + n)];
      }
      const nl = view.indexOf(0x0a, at);
      const piece = view.toString('latin1', at, nl < 0 ? view.length : nl + 1);
      at = nl < 0 ? view.length : nl + 1;
      if (this.chunkState === 'data-end') {
        this.chunkLine += piece;
        if (!'\r\n'.startsWith(this.chunkLine)) throw new Error('malformed chunked body: no CRLF after a chunk');
        if (nl < 0) continue;
        this.chunkLine = '';
        this.chunkState = 'size';
      } else if (this.chunkState === 'size') {
        this.chunkLine += piece;
        if (this.chunkLine.length > 1024) throw new Error('malformed chunked body: chunk size line too long');
        if (nl < 0) continue;
        const m = /^([0-9a-fA-F]{1,12})[ \t]*(;[^\r\n]*)?\r\n$/.exec(this.chunkLine);
        if (!m) throw new Error(`malformed chunked body: chunk size ${JSON.stringify(this.chunkLine.slice(0, 40))}`);
        this.chunkLine = '';
        this.chunkLeft = parseInt(m[1]!, 16);
        this.chunkState = this.chunkLeft === 0 ? 'trailer' : 'data';
      } else {
        this.trailerLine += piece;
        if (this.trailerLine.length > MAX_HEAD) throw new Error('malformed chunked body: trailers too long');
        if (nl < 0) continue;
        if (this.trailerLine === '\r\n') {
          this.done = true;
          if (at < view.length) throw new Error('the server sent bytes after the chunked body');
          return [view.subarray(0, 0), view.subarray(view.length)];
        }
        this.trailerLine = '';
      }
    }
    return undefined;
  }

  private checkEnd(): void {
    const f = this.framing;
    if (!f || this.finished) return;
    if ((f.kind === 'length' && f.left === 0) || this.done) this.finish(true);
  }

  private finished = false;

  private finish(keep: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.done = true;
    this.onEnd?.(keep && this.keepable());
  }

  private fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.done = true;
    this.conn.destroy();
    if (!this.framing) {
      this.onFail?.(err);
      return;
    }
    this.failure = Object.assign(err, { bytesReceived: this.received });
    this.bodyFailed?.(this.failure);
  }
}

// A response cut short by the connection's end (the pool retries a request once when nothing had arrived).
function cutShort(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}
