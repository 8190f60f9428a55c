/**
 * HTTP/1.1 GETs whose response bodies are read into one reused buffer per
 * connection, for a runtime's layer thread.
 *
 * node:http hands every body chunk over in a buffer of its own, copied out of
 * the socket's (checked on Node 20.20: each chunk of a 4 MiB body is a whole
 * ArrayBuffer), so a layer's bytes cost a fresh allocation and a copy per
 * 64 KiB, plus the streams' work per chunk. containerd reads a body into a
 * reused buffer and writes from it. Here each connection reads its socket
 * (net.Socket's `onread`) into a 256 KiB buffer of its own and hands the body
 * over as views of it, valid only during the call; a consumer that cannot take
 * them all pauses the socket until it resumes. Bodies framed by
 * Content-Length, chunked, or by the connection's close. Keep-alive
 * connections per origin (a few idle, as Go's transport keeps them),
 * redirects followed, and a request on a kept connection that the server
 * closed is sent again once on a new one, as HttpPool does.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ResponseReader, type BodyConsumer } from './http1-response.js';

export type { BodyConsumer } from './http1-response.js';

const READ_BUFFER = 256 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const IDLE_PER_ORIGIN = 2;
const IDLE_TIMEOUT_MS = 30_000;


export interface RawResponse {
  status: number;
  /** Header value by lower-case name (repeated headers joined with ", "), or null. */
  header(name: string): string | null;
  /**
   * Feeds the body to `consume` until it ends: resolves with the bytes
   * received, rejects if the connection fails first (the error carries
   * `bytesReceived`). The connection goes back to the pool after a complete
   * body it can keep.
   */
  consume(consume: BodyConsumer): Promise<number>;
  /** Resumes a body that a consumer paused by taking fewer bytes than it was given. */
  resume(): void;
  /** Reads at most `limit` bytes of the body into a buffer of their own and gives the connection up. A failure part way gives what had arrived. */
  readSome(limit: number): Promise<Buffer>;
  /** Gives the connection up without reading the body. */
  discard(): void;
}

/** One connection: its socket, its read buffer, and the response it is reading. */
class Conn {
  readonly socket: Socket;
  private readonly buf = Buffer.allocUnsafe(READ_BUFFER);
  /** The reader of what arrives, or undefined while the connection is idle. */
  reader: ResponseReader | undefined;
  /** Requests sent on it. */
  uses = 0;
  closed = false;
  private destroyed = false;
  error: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  readonly connected: Promise<void>;

  constructor(
    readonly origin: URL,
    tlsOptions: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized'> = {},
  ) {
    const https = origin.protocol === 'https:';
    const port = Number(origin.port || (https ? 443 : 80));
    const host = origin.hostname.replace(/^\[|\]$/g, '');
    const onread = { buffer: this.buf, callback: (n: number): boolean => this.arrived(n) };
    this.socket = https
      ? // tls.connect takes `onread` as net.connect does (Node >= 13; @types/node does not list it).
        tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), onread, ...tlsOptions } as ConnectionOptions)
      : netConnect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.connected = new Promise<void>((resolve, reject) => {
      this.socket.once(https ? 'secureConnect' : 'connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.connected.catch(() => undefined);
    this.socket.on('error', (err) => {
      this.error ??= err;
    });
    this.socket.on('close', () => {
      this.closed = true;
      clearTimeout(this.idleTimer);
      // Closed by this side (an abort, the pool's close): a body under way fails, whatever its framing.
      const ours = this.destroyed ? Object.assign(new Error('the connection was closed'), { code: 'ECONNABORTED' }) : undefined;
      this.reader?.closed(this.error ?? ours);
    });
  }

  private arrived(n: number): boolean {
    if (!this.reader) {
      // Bytes on an idle connection: nothing may come there; it cannot be kept.
      this.socket.destroy();
      return false;
    }
    return this.reader.feed(this.buf.subarray(0, n));
  }

  idle(onTimeout: () => void): void {
    this.reader = undefined;
    this.idleTimer = setTimeout(onTimeout, IDLE_TIMEOUT_MS);
    this.idleTimer.unref();
  }

  busy(): void {
    clearTimeout(this.idleTimer);
  }

  destroy(): void {
    this.destroyed = true;
    this.socket.destroy();
  }
}

/** Keep-alive connections per origin for GETs read into reused buffers. Close it to end every connection. */
export class RawHttpPool {
  /** `tls`: extra TLS options (a test's own CA). */
  constructor(private readonly tls: Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized'> = {}) {}

  private readonly idle = new Map<string, Conn[]>();
  private readonly all = new Set<Conn>();
  private closed = false;
  /** Connections opened since the pool was created. */
  connections = 0;

  /** Sends a GET (following redirects); resolves at the final response's head, its body not yet read. */
  async get(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<RawResponse> {
    let target = new URL(url);
    let sent = headers;
    for (let hop = 0; ; hop++) {
      const res = await this.once(target, sent, signal);
      const location = res.header('location');
      if (!REDIRECTS.has(res.status) || !location || hop >= MAX_REDIRECTS) return res;
      res.discard();
      const next = new URL(location, target);
      if (next.origin !== target.origin) sent = Object.fromEntries(Object.entries(sent).filter(([k]) => k.toLowerCase() !== 'authorization'));
      target = next;
    }
  }

  /** Ends every connection, idle or busy: a body under way fails. */
  close(): void {
    this.closed = true;
    for (const c of this.all) c.destroy();
    this.all.clear();
    this.idle.clear();
  }

  private async once(url: URL, headers: Record<string, string>, signal: AbortSignal | undefined, retried = false): Promise<RawResponse> {
    if (this.closed) throw new Error('the connection pool is closed');
    if (signal?.aborted) throw new Error('request aborted');
    const conn = this.take(url);
    const reused = conn.uses > 0;
    conn.uses++;
    conn.busy();
    const reader = new ResponseReader(conn);
    conn.reader = reader;
    const onAbort = (): void => conn.destroy();
    signal?.addEventListener('abort', onAbort, { once: true });
    let head: { status: number; headers: Map<string, string> };
    try {
      const headP = reader.awaitHead();
      headP.catch(() => undefined);
      // A connection destroyed before it connects (an abort) fails the head, not the connect.
      await Promise.race([conn.connected, headP]);
      conn.socket.resume();
      conn.socket.write(requestHead(url, headers));
      head = await headP;
    } catch (err) {
      this.drop(conn);
      if (signal?.aborted) throw new Error('request aborted');
      // A kept connection the server had closed as we reused it: sent again once on a new one, as Go's transport does.
      if (reused && !retried && !reader.started && isReset(err)) return this.once(url, headers, signal, true);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    // Once the response is done with its connection (kept or dropped), nothing here touches it again: it may
    // already carry another request.
    let settled = false;
    const release = (keep: boolean): void => {
      if (settled) return;
      settled = true;
      if (keep && !conn.closed && !this.closed) this.park(conn);
      else this.drop(conn);
    };
    return {
      status: head.status,
      header: (name) => head.headers.get(name.toLowerCase()) ?? null,
      consume: (consume) =>
        new Promise<number>((resolve, reject) => {
          reader.setConsumer(
            consume,
            (keep) => {
              release(keep);
              resolve(reader.received);
            },
            (err) => {
              release(false);
              reject(err);
            },
          );
        }),
      resume: () => reader.resume(),
      readSome: async (limit) => {
        const chunks: Buffer[] = [];
        let n = 0;
        let full!: () => void;
        const enough = new Promise<void>((r) => (full = r));
        const reading = new Promise<void>((resolve) => {
          reader.setConsumer(
            (view) => {
              const take = view.subarray(0, Math.max(0, limit - n));
              if (take.length > 0) chunks.push(Buffer.from(take));
              n += take.length;
              if (n >= limit) full();
              return view.length;
            },
            (keep) => {
              release(keep);
              resolve();
            },
            () => {
              release(false);
              resolve();
            },
          );
        });
        await Promise.race([reading, enough]);
        if (n >= limit) release(false);
        return Buffer.concat(chunks);
      },
      discard: () => release(false),
    };
  }

  private take(url: URL): Conn {
    const list = this.idle.get(url.origin);
    while (list && list.length > 0) {
      const c = list.pop()!;
      if (!c.closed) return c;
      this.all.delete(c);
    }
    const c = new Conn(url, this.tls);
    this.connections++;
    this.all.add(c);
    // A connection that closes (the server's idle timeout, say) leaves the pool.
    c.socket.on('close', () => this.forget(c));
    return c;
  }

  private park(conn: Conn): void {
    const list = this.idle.get(conn.origin.origin) ?? [];
    if (list.length >= IDLE_PER_ORIGIN) {
      this.drop(conn);
      return;
    }
    conn.idle(() => this.drop(conn));
    // Reading while idle: a server's close is seen at once (and a stray byte ends the connection).
    conn.socket.resume();
    list.push(conn);
    this.idle.set(conn.origin.origin, list);
  }

  private drop(conn: Conn): void {
    conn.destroy();
    this.forget(conn);
  }

  private forget(conn: Conn): void {
    this.all.delete(conn);
    const list = this.idle.get(conn.origin.origin);
    if (list) {
      const i = list.indexOf(conn);
      if (i >= 0) list.splice(i, 1);
    }
  }
}

function requestHead(url: URL, headers: Record<string, string>): string {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'connection' || lower === 'content-length' || lower === 'transfer-encoding') continue;
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) || /[\r\n\0]/.test(value)) throw new Error(`invalid request header ${JSON.stringify(name)}`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

function isReset(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED';
}
