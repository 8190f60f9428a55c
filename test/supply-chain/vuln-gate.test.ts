import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isPullbenchError } from '../../src/errors.js';
import { evaluateScan, scanFromTrivy, scanFromVulnPredicate, scanNames, type VulnerabilityRequirement } from '../../src/supply-chain/vuln-gate.js';

const report = (name: string) => JSON.parse(readFileSync(new URL(`../../scenarios/vuln-reports/${name}.trivy.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
const now = new Date('2026-12-06T12:00:00Z');
const req = (over: Partial<VulnerabilityRequirement> = {}): VulnerabilityRequirement => ({ severity: 'HIGH', allow: [], ignoreUnfixed: false, ...over });

describe('the vulnerability gate over a Trivy report', () => {
  const vulnerable = scanFromTrivy(report('vulnerable'), 'vulnerable.json');

  it('denies findings at or above the severity and names each CVE with its package', () => {
    const r = evaluateScan(vulnerable, req(), now);
    expect(r.ok).toBe(false);
    expect(r.reason).toBe('2 finding(s) at or above HIGH: CVE-2023-0286 (HIGH, libcrypto3), CVE-2023-0464 (HIGH, libcrypto3)');
    expect(r.denying.map((f) => f.id)).toEqual(['CVE-2023-0286', 'CVE-2023-0464']);
  });

  it('lets allowlisted CVEs through and says so', () => {
    const r = evaluateScan(scanFromTrivy(report('allowlisted'), 'a.json'), req({ allow: ['CVE-2023-0286'] }), now);
    expect(r).toMatchObject({ ok: true, allowlisted: ['CVE-2023-0286'] });
    expect(r.reason).toContain('allowlisted: CVE-2023-0286');
  });

  it('counts lower severities only when the threshold is lowered', () => {
    expect(evaluateScan(vulnerable, req({ severity: 'CRITICAL' }), now).ok).toBe(true);
    expect(evaluateScan(vulnerable, req({ severity: 'MEDIUM', allow: ['CVE-2023-0286', 'CVE-2023-0464'] }), now).reason).toContain('CVE-2023-5678 (MEDIUM');
  });

  it('ignores findings without a fix only when asked (Trivy --ignore-unfixed)', () => {
    const scan = scanFromTrivy({ Results: [{ Vulnerabilities: [{ VulnerabilityID: 'CVE-2024-1', Severity: 'CRITICAL', PkgName: 'zlib' }] }] }, 'r');
    expect(evaluateScan(scan, req(), now).ok).toBe(false);
    expect(evaluateScan(scan, req({ ignoreUnfixed: true }), now).ok).toBe(true);
  });

  it('requires a scan newer than maxAge, and a scan time at all', () => {
    const week = 7 * 24 * 3_600_000;
    expect(evaluateScan(vulnerable, req({ maxAgeMs: week, severity: 'CRITICAL' }), now).ok).toBe(true); // 5 days old
    const old = evaluateScan(vulnerable, req({ maxAgeMs: 24 * 3_600_000, severity: 'CRITICAL' }), now);
    expect(old.ok).toBe(false);
    expect(old.reason).toContain('older than 24.0h');
    expect(evaluateScan(scanFromTrivy({ Results: [] }, 'r'), req({ maxAgeMs: week }), now).reason).toContain('has no time');
  });

  it('reads cosign\'s vuln predicate: the report in scanner.result, the time in metadata.scanFinishedOn', () => {
    const predicate = { invocation: { uri: '' }, scanner: { uri: 'pkg:github/aquasecurity/trivy@0.58.0', version: '0.58.0', result: report('vulnerable') }, metadata: { scanStartedOn: '2026-12-06T10:00:00Z', scanFinishedOn: '2026-12-06T10:01:00Z' } };
    const scan = scanFromVulnPredicate(predicate, 'att');
    expect(scan.scannedAt!.toISOString()).toBe('2026-12-06T10:01:00.000Z');
    expect(evaluateScan(scan, req({ maxAgeMs: 3_600_000 * 3 }), now).reason).toContain('CVE-2023-0464');
  });

  it('refuses what is not a report with INVALID_ARGUMENT', () => {
    for (const bad of [[], 'x', { Results: 'no' }]) {
      try {
        scanFromTrivy(bad, 'bad.json');
        expect.unreachable();
      } catch (err) {
        expect(isPullbenchError(err, 'INVALID_ARGUMENT')).toBe(true);
      }
    }
    expect(() => scanFromVulnPredicate({ noScanner: true }, 'p')).toThrow();
  });

  it('knows which image a report names: its digest among RepoDigests, or its ArtifactName as written', () => {
    const scan = scanFromTrivy({ ArtifactName: 'ghcr.io/acme/app:v1', Metadata: { RepoDigests: ['ghcr.io/acme/app@sha256:aa'] }, Results: [] }, 'r');
    expect(scanNames(scan, 'ghcr.io/acme/app:v1', undefined)).toBe(true);
    expect(scanNames(scan, 'other:v1', 'sha256:aa')).toBe(true);
    expect(scanNames(scan, 'ghcr.io/acme/app:v2', 'sha256:bb')).toBe(false);
  });
});
