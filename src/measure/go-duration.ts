const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ns: 1e-6 };
const GO_DURATION_RE = /^-?(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|μs|ns))+$|^0$/;

/**
 * Parses a Go `time.Duration` string as kubelet prints it with %v (`850ms`,
 * `1.234s`, `1m2.5s`, `2h0m0s`, `0s`, `1.5µs`) into milliseconds.
 */
export function parseGoDuration(text: string): number | undefined {
  if (!GO_DURATION_RE.test(text)) return undefined;
  if (text === '0') return 0;
  const sign = text.startsWith('-') ? -1 : 1;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|μs|ns)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return sign * total;
}
