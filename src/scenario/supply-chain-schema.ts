import { SEVERITIES } from '../supply-chain/vuln-gate.js';
import { s } from './schema-builder.js';

/**
 * The scenario's supply-chain sections: `signing` (sign seeded images before
 * the verify stage) and `verify` (admission check of every rollout image).
 * Part of the scenario schema (schema.ts), which composes them and checks
 * their cross-references to the scenario's images.
 */

export const signing = s
  .object({
    key: s.string({ minLength: 1 }).optional().describe("A cosign.key (encrypted private key), relative to the scenario file; default: a fresh ECDSA P-256 pair in the run's temp dir"),
    password: s.secret().optional().describe('Password of key, e.g. ${env:COSIGN_PASSWORD}'),
    format: s.enum(['legacy', 'bundle']).default('legacy').describe('legacy: the .sig tag; bundle: a Sigstore bundle v0.3 referrer'),
    images: s.array(s.string({ minLength: 1 }), { min: 1, unique: true }).default(['all']).describe('Refs of this scenario\'s images to sign, or [all]'),
  })
  .refine((g, report) => {
    if (g.key && g.password === undefined) report(['password'], 'a given key needs its password');
  })
  .describe('Sign seeded images, cosign-compatibly, before the verify stage');

export const verify = s
  .object({
    policies: s.array(s.string({ minLength: 1 }), { unique: true }).default([]).describe('ClusterImagePolicy / Gatekeeper-style files or directories, relative to the scenario file'),
    key: s.string({ minLength: 1 }).optional().describe('Require every image to be signed by this key: a cosign.pub path, or "signing" for the signing section\'s key'),
    ignoreTlog: s.boolean().default(true).describe('Accept signatures without a transparency-log entry (keys signed offline)'),
    trustedRoot: s.string({ minLength: 1 }).optional().describe('sigstore trusted_root.json (Fulcio, Rekor, CT logs) for keyless authorities, relative to the scenario file; verification stays offline'),
    caRoots: s.string({ minLength: 1 }).optional().describe('PEM roots of a private CA for keyless authorities (as cosign --ca-roots), relative to the scenario file'),
    rekorKey: s.string({ minLength: 1 }).optional().describe('Rekor public key (PEM) that signed the transparency-log entries, relative to the scenario file'),
    ctlogKey: s.string({ minLength: 1 }).optional().describe('CT log public key (PEM) for the certificates\' SCTs, relative to the scenario file'),
    mode: s.enum(['enforce', 'warn']).default('enforce').describe('enforce: denied images are not rolled out (AdmissionDenied); warn: recorded, rolled out anyway'),
    vulnerabilities: s
      .object({
        severity: s.enum(SEVERITIES).default('HIGH').describe('Deny an image with a finding at or above this severity'),
        allow: s.array(s.string({ minLength: 1 }), { unique: true }).default([]).describe('Vulnerability IDs (CVE-...) that never deny'),
        ignoreUnfixed: s.boolean().default(false).describe('Findings without a fixed version never deny (Trivy --ignore-unfixed)'),
        maxAge: s.duration().optional().describe('The scan must be at most this old (its CreatedAt, or the vuln attestation\'s scanFinishedOn)'),
        reports: s
          .array(s.object({ image: s.string({ minLength: 1 }).describe("A ref of this scenario's images"), file: s.string({ minLength: 1 }).describe('Trivy JSON report, relative to the scenario file') }))
          .default([])
          .describe('A Trivy JSON report per image; an image without one is denied'),
      })
      .optional()
      .describe('A vulnerability gate over every rollout image (a VulnerabilityGate over all images)'),
  })
  .refine((v, report) => {
    if (v.policies.length === 0 && v.key === undefined && v.vulnerabilities === undefined) report([], 'verify needs policies, a key or vulnerabilities');
  })
  .describe('Admission check of every rollout image between seeding and rollouts');
