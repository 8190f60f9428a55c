/** A fetch whose blob requests each take `delayMs` more, counting how many were in flight at most. */
export function slowBlobFetch(delayMs = 30): { fetch: typeof fetch; peak: () => number } {
  let active = 0;
  let peak = 0;
  const slow: typeof fetch = async (input, init) => {
    const isBlob = String(input).includes('/blobs/');
    if (isBlob) peak = Math.max(peak, ++active);
    try {
      if (isBlob) await new Promise((r) => setTimeout(r, delayMs));
      return await fetch(input, init);
    } finally {
      if (isBlob) active--;
    }
  };
  return { fetch: slow, peak: () => peak };
}
