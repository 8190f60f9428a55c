/**
 * The vulnerability gate: an image passes when its scan (a Trivy JSON report,
 * or cosign's vuln predicate wrapping one) is recent enough and has no finding
 * at or above a severity, except allowlisted CVEs and, optionally, findings
 * with no fix. Pure and synchronous; where the scan comes from is the caller's.
 *
 * Formats: Trivy's JSON report (SchemaVersion 2: `CreatedAt`, `ArtifactName`,
 * `Metadata.RepoDigests`, `Results[].Vulnerabilities[]` with `VulnerabilityID`,
 * `Severity`, `FixedVersion`); cosign's `https://cosign.sigstore.dev/attestation/vuln/v1`
 * predicate (cosign pkg/cosign/attestation CosignVulnStatement: `scanner.result`
 * holds the scanner's report, `metadata.scanFinishedOn` its time). "Unfixed" is
 * Trivy's `--ignore-unfixed`: a finding without a `FixedVersion`.
 */
import { PullbenchError } from '../errors.js';

/** Trivy's severities, lowest first (trivy-db types.SeverityNames). */
export const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface VulnerabilityRequirement {
  /** Deny findings at or above this severity. */
  severity: Severity;
  /** CVE (or other vulnerability) IDs that never deny. */
  allow: string[];
  /** Findings without a fixed version never deny (Trivy's --ignore-unfixed). */
  ignoreUnfixed: boolean;
  /** The scan must be at most this old (ms); absent: any age. */
  maxAgeMs?: number;
}

export interface Finding {
  id: string;
  severity: Severity;
  pkg?: string;
  fixed: boolean;
}

/** A scan of one image, from a report file or a verified attestation. */
export interface VulnerabilityScan {
  /** Where it came from: a file path, or `attestation <source>`. */
  source: string;
  scannedAt?: Date;
  findings: Finding[];
  /** What the report says it scanned: its ArtifactName and RepoDigests (Trivy). */
  artifact?: { name?: string; digests: string[] };
}

export interface GateResult {
  ok: boolean;
  reason: string;
  /** The findings that deny, in report order. */
  denying: Finding[];
  allowlisted: string[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function severityOf(v: unknown): Severity {
  const s = typeof v === 'string' ? v.toUpperCase() : '';
  return (SEVERITIES as readonly string[]).includes(s) ? (s as Severity) : 'UNKNOWN';
}

function dateOf(v: unknown): Date | undefined {
  if (typeof v !== 'string') return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** Reads a Trivy JSON report (or anything with its `Results[].Vulnerabilities[]`); INVALID_ARGUMENT when it is not one. */
export function scanFromTrivy(report: unknown, source: string, scannedAt?: Date): VulnerabilityScan {
  if (!isObj(report) || (report.Results !== undefined && !Array.isArray(report.Results))) {
    throw new PullbenchError('INVALID_ARGUMENT', `${source}: not a Trivy JSON report (no Results list)`);
  }
  const findings: Finding[] = [];
  for (const r of (report.Results as unknown[] | undefined) ?? []) {
    const vulns = isObj(r) && Array.isArray(r.Vulnerabilities) ? r.Vulnerabilities : [];
    for (const v of vulns) {
      if (!isObj(v) || typeof v.VulnerabilityID !== 'string') continue;
      findings.push({
        id: v.VulnerabilityID,
        severity: severityOf(v.Severity),
        ...(typeof v.PkgName === 'string' ? { pkg: v.PkgName } : {}),
        fixed: typeof v.FixedVersion === 'string' && v.FixedVersion !== '',
      });
    }
  }
  const meta = isObj(report.Metadata) ? report.Metadata : {};
  const digests = Array.isArray(meta.RepoDigests) ? meta.RepoDigests.filter((d): d is string => typeof d === 'string') : [];
  const at = scannedAt ?? dateOf(report.CreatedAt);
  return {
    source,
    ...(at ? { scannedAt: at } : {}),
    findings,
    artifact: { ...(typeof report.ArtifactName === 'string' ? { name: report.ArtifactName } : {}), digests },
  };
}

/** Reads cosign's vuln predicate: the report in `scanner.result`, the time in `metadata.scanFinishedOn`. */
export function scanFromVulnPredicate(predicate: unknown, source: string): VulnerabilityScan {
  if (!isObj(predicate) || !isObj(predicate.scanner)) throw new PullbenchError('INVALID_ARGUMENT', `${source}: not a cosign vuln predicate (no scanner)`);
  const meta = isObj(predicate.metadata) ? predicate.metadata : {};
  const at = dateOf(meta.scanFinishedOn) ?? dateOf(meta.scanStartedOn);
  return scanFromTrivy(predicate.scanner.result ?? { Results: [] }, source, at);
}

/** Decides one scan against the requirement at `now`; the reason names every denying CVE. */
export function evaluateScan(scan: VulnerabilityScan, req: VulnerabilityRequirement, now: Date): GateResult {
  const threshold = SEVERITIES.indexOf(req.severity);
  if (req.maxAgeMs !== undefined) {
    if (!scan.scannedAt) return { ok: false, reason: `${scan.source}: the scan has no time, and it must be newer than ${formatAge(req.maxAgeMs)}`, denying: [], allowlisted: [] };
    const age = now.getTime() - scan.scannedAt.getTime();
    if (age > req.maxAgeMs) return { ok: false, reason: `${scan.source}: scanned ${scan.scannedAt.toISOString()}, ${formatAge(age)} ago, older than ${formatAge(req.maxAgeMs)}`, denying: [], allowlisted: [] };
  }
  const allow = new Set(req.allow);
  const denying: Finding[] = [];
  const allowlisted = new Set<string>();
  for (const f of scan.findings) {
    if (SEVERITIES.indexOf(f.severity) < threshold) continue;
    if (req.ignoreUnfixed && !f.fixed) continue;
    if (allow.has(f.id)) allowlisted.add(f.id);
    else denying.push(f);
  }
  const kept = allowlisted.size > 0 ? `; allowlisted: ${[...allowlisted].join(', ')}` : '';
  if (denying.length === 0) return { ok: true, reason: `no finding at or above ${req.severity}${kept}`, denying, allowlisted: [...allowlisted] };
  const ids = [...new Map(denying.map((f) => [f.id, f])).values()].map((f) => `${f.id} (${f.severity}${f.pkg ? `, ${f.pkg}` : ''})`);
  return { ok: false, reason: `${ids.length} finding(s) at or above ${req.severity}: ${ids.join(', ')}${kept}`, denying, allowlisted: [...allowlisted] };
}

function formatAge(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 48 ? `${(h / 24).toFixed(1)}d` : h >= 1 ? `${h.toFixed(1)}h` : `${Math.round(ms / 1000)}s`;
}

/** Whether a Trivy report names this image: its digest among RepoDigests, or its ArtifactName as written. */
export function scanNames(scan: VulnerabilityScan, image: string, digest: string | undefined): boolean {
  const a = scan.artifact;
  if (!a) return false;
  if (digest && a.digests.some((d) => d.endsWith(`@${digest}`))) return true;
  return a.name === image;
}
