// Command-line options shared by the bench scripts: `--name value`, nothing more.
const argv = process.argv.slice(2);

function raw(name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** A positive number option; a missing value gives the default, a bad one stops the bench. */
export function numberOption(name: string, dflt: number): number {
  const value = raw(name);
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} takes a positive number, not ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}

/** A comma-separated list option. */
export function listOption(name: string, dflt: string[]): string[] {
  const value = raw(name);
  return value === undefined ? dflt : value.split(',').filter((v) => v.length > 0);
}
