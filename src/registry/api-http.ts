/**
 * The HTTP plumbing of the registry API (distribution's handlers/helpers): bodies
 * sent and read within limits, Range headers, tag-list pagination, Accept matching.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ByteRange } from './blob-store.js';
import { RegistryHttpError } from './http-error.js';

export const JSON_TYPE = 'application/json';

export function unsupported(): RegistryHttpError {
  return new RegistryHttpError('UNSUPPORTED', 'the operation is unsupported', { status: 405 });
}

export function sendBody(res: ServerResponse, status: number, contentType: string, body: Buffer, head = false): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length });
  res.end(head ? undefined : body);
}

export function sendPage(res: ServerResponse, body: unknown, link?: string): void {
  if (link) res.setHeader('Link', `<${link}>; rel="next"`);
  sendBody(res, 200, JSON_TYPE, Buffer.from(JSON.stringify(body)));
}

export function paginate(all: string[], query: URLSearchParams, path: string): { items: string[]; link?: string } {
  const nRaw = query.get('n');
  const last = query.get('last');
  let items = last === null ? all : all.filter((x) => x > last);
  if (nRaw === null) return { items };
  if (!/^\d{1,9}$/.test(nRaw)) throw new RegistryHttpError('PAGINATION_NUMBER_INVALID', 'invalid n', { detail: { n: nRaw.slice(0, 20) } });
  const n = Number(nRaw);
  const more = items.length > n;
  items = items.slice(0, n);
  const lastItem = items.at(-1);
  if (!more || lastItem === undefined) return { items };
  return { items, link: `${path}?n=${n}&last=${encodeURIComponent(lastItem)}` };
}

export function contentLength(req: IncomingMessage): number | undefined {
  const v = req.headers['content-length'];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Manifest Accept negotiation: no Accept header, a wildcard, or the exact type. */
export function accepts(accept: string | undefined, mediaType: string): boolean {
  if (!accept) return true;
  for (const part of accept.split(',')) {
    const type = part.split(';')[0]!.trim();
    if (type === mediaType || type === '*/*' || type === 'application/*' || type === '') return true;
  }
  return false;
}

/** Parses a single `bytes=` range; multi-range requests get the whole blob. */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) {
    if (/^bytes=[\d\s,-]+$/.test(header.trim()) && header.includes(',')) return undefined;
    throw rangeInvalid(size);
  }
  let start: number;
  let end: number;
  if (m[1] === '') {
    if (m[2] === '') throw rangeInvalid(size);
    const suffix = Number(m[2]);
    if (suffix === 0) throw rangeInvalid(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) throw rangeInvalid(size);
  return { start, end };
}

function rangeInvalid(size: number): RegistryHttpError {
  return new RegistryHttpError('RANGE_INVALID', 'requested range not satisfiable', { headers: { 'Content-Range': `bytes */${size}` } });
}

/** Reads a request body into memory, failing with 413 SIZE_INVALID past `limit`. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    throw new RegistryHttpError('SIZE_INVALID', `body exceeds the limit of ${limit} bytes`, { status: 413 });
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new RegistryHttpError('SIZE_INVALID', `body exceeds the limit of ${limit} bytes`, { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
