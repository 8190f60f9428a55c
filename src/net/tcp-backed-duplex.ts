import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * A Duplex standing in for a TCP socket (a shaped connection, either end): the socket calls node:http makes on
 * its connections (timeouts, Nagle, keep-alive, ref, addresses) go to the real socket underneath.
 */
export abstract class TcpBackedDuplex extends Duplex {
  timeout: number | undefined;

  constructor(protected readonly tcp: Socket) {
    // A half-closed connection is the peer's business (HTTP closes both ways): end both ways as a socket does.
    super({ allowHalfOpen: false });
  }

  // As net.Socket's: a zero timeout removes the callback, which a kept-alive connection gets once per request (else
  // its 'timeout' listeners pile up, one per request).
  setTimeout(ms: number, cb?: () => void): this {
    this.timeout = ms;
    this.tcp.setTimeout(ms);
    if (cb) {
      if (ms === 0) this.removeListener('timeout', cb);
      else this.once('timeout', cb);
    }
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.tcp.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.tcp.setKeepAlive(enable, delay);
    return this;
  }

  ref(): this {
    this.tcp.ref();
    return this;
  }

  unref(): this {
    this.tcp.unref();
    return this;
  }

  get remoteAddress(): string | undefined {
    return this.tcp.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.tcp.remotePort;
  }

  get remoteFamily(): string | undefined {
    return this.tcp.remoteFamily;
  }

  get localAddress(): string | undefined {
    return this.tcp.localAddress;
  }

  get localPort(): number | undefined {
    return this.tcp.localPort;
  }
}
