import { PullbenchError } from '../errors.js';

/**
 * In-toto statements as `cosign attest` writes them (cosign v3,
 * pkg/cosign/attestation/attestation.go GenerateStatement, and
 * cmd/cosign/cli/options/predicate.go PredicateTypeMap / ParsePredicateType).
 */

/** `_type` of every statement cosign attest generates (in-toto-golang StatementInTotoV01). */
const STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** cosign attestation.CosignCustomProvenanceV01 and CosignVulnProvenanceV01. */
const COSIGN_CUSTOM_PREDICATE = 'https://cosign.sigstore.dev/attestation/v1';
export const COSIGN_VULN_PREDICATE = 'https://cosign.sigstore.dev/attestation/vuln/v1';

/** cosign's `--type` names and the predicate URIs they stand for (options/predicate.go PredicateTypeMap). */
const PREDICATE_TYPES: Readonly<Record<string, string>> = {
  custom: COSIGN_CUSTOM_PREDICATE,
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  link: 'https://in-toto.io/Link/v1',
  vuln: COSIGN_VULN_PREDICATE,
  openvex: 'https://openvex.dev/ns',
};

/** A `--type` value as a predicate URI: a name from the table, or an absolute URI as Go's url.ParseRequestURI accepts. */
export function predicateTypeUri(type: string): string {
  const known = PREDICATE_TYPES[type];
  if (known) return known;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(type) || type.startsWith('/')) return type;
  throw new PullbenchError('INVALID_ARGUMENT', `invalid predicate type: ${type} (one of ${Object.keys(PREDICATE_TYPES).join('|')}, or a URI)`);
}

export interface InTotoStatement {
  _type: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: unknown;
}

export interface StatementInput {
  /** cosign's `--type`: a table name or a URI. */
  type: string;
  /** The predicate file's bytes. */
  predicate: Buffer;
  /** The subject name: the repository as go-containerregistry names it (`index.docker.io/library/x`). */
  repository: string;
  /** `sha256:<hex>` of the image manifest. */
  digest: string;
  /** Timestamp for the custom predicate. */
  now?: () => Date;
}

// protojson writes google.protobuf.Struct keys sorted; cosign passes every JSON predicate through a Struct.
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sorted((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

function jsonObject(raw: Buffer, type: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new PullbenchError('INVALID_ARGUMENT', `the ${type} predicate is not JSON`, { cause });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new PullbenchError('INVALID_ARGUMENT', `the ${type} predicate must be a JSON object`);
  return v as Record<string, unknown>;
}

function pick(obj: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => obj[k] !== undefined).map((k) => [k, obj[k]]));
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

// generateVulnStatement: the predicate goes through the CosignVulnPredicate struct, so absent fields appear with zero values.
function vulnPredicate(raw: Record<string, unknown>): unknown {
  const o = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
  const s = (v: unknown): string => (typeof v === 'string' ? v : '');
  const inv = o(raw.invocation);
  const scanner = o(raw.scanner);
  const db = o(scanner.db);
  const meta = o(raw.metadata);
  return {
    invocation: { parameters: inv.parameters ?? null, uri: s(inv.uri), event_id: s(inv.event_id), 'builder.id': s(inv['builder.id']) },
    scanner: { uri: s(scanner.uri), version: s(scanner.version), db: { uri: s(db.uri), version: s(db.version) }, result: scanner.result ?? null },
    metadata: { scanStartedOn: s(meta.scanStartedOn) || ZERO_TIME, scanFinishedOn: s(meta.scanFinishedOn) || ZERO_TIME },
  };
}

function predicateFor(input: StatementInput): { predicateType: string; predicate: unknown } {
  const { type, predicate: raw } = input;
  switch (type) {
    case 'slsaprovenance':
    case 'slsaprovenance02':
      // protojson.Unmarshal with DiscardUnknown into provenance v0.2: top-level fields of that message only.
      return { predicateType: PREDICATE_TYPES[type]!, predicate: pick(jsonObject(raw, type), ['builder', 'buildType', 'invocation', 'buildConfig', 'metadata', 'materials']) };
    case 'slsaprovenance1': {
      const p = jsonObject(raw, type);
      const md = (p.runDetails as { metadata?: Record<string, unknown> } | undefined)?.metadata;
      // cosign renames runDetails.metadata.invocationID to the proto's invocationId before parsing.
      if (md && 'invocationID' in md) {
        md.invocationId = md.invocationID;
        delete md.invocationID;
      }
      return { predicateType: PREDICATE_TYPES[type]!, predicate: pick(p, ['buildDefinition', 'runDetails']) };
    }
    case 'spdx':
      // The predicate is the document as a string (LegacyPredicate).
      return { predicateType: PREDICATE_TYPES[type]!, predicate: raw.toString('utf8') };
    case 'spdxjson':
    case 'cyclonedx':
    case 'openvex':
    case 'link':
      return { predicateType: PREDICATE_TYPES[type]!, predicate: jsonObject(raw, type) };
    case 'vuln':
      return { predicateType: COSIGN_VULN_PREDICATE, predicate: vulnPredicate(jsonObject(raw, type)) };
    default: {
      const uri = predicateTypeUri(type);
      if (uri !== COSIGN_CUSTOM_PREDICATE) return { predicateType: uri, predicate: jsonObject(raw, type) };
      // generateCustomPredicate (`custom`, or cosign's own custom URI): the file as a string, with an RFC 3339 UTC timestamp (seconds).
      const stamp = (input.now ?? (() => new Date()))().toISOString().replace(/\.\d{3}Z$/, 'Z');
      return { predicateType: COSIGN_CUSTOM_PREDICATE, predicate: { Data: raw.toString('utf8'), Timestamp: stamp } };
    }
  }
}

/**
 * The in-toto statement cosign attest signs, as bytes. Fields in protojson's
 * order (`_type`, `subject`, `predicateType`, `predicate`), predicate keys
 * sorted as protojson writes a Struct; `spdx` keeps cosign's legacy
 * json.Marshal form (keys sorted, predicate a string).
 */
export function inTotoStatement(input: StatementInput): Buffer {
  const [alg, hex] = input.digest.split(':');
  if (alg !== 'sha256' || !hex) throw new PullbenchError('INVALID_DIGEST', `cannot attest ${input.digest}: cosign writes sha256 subjects`);
  const { predicateType, predicate } = predicateFor(input);
  const subject = [{ name: input.repository, digest: { sha256: hex } }];
  if (typeof predicate === 'string') {
    // Go's json.Marshal of a map: sorted keys, and <, >, & escaped.
    const text = JSON.stringify({ _type: STATEMENT_V01, predicate, predicateType, subject }).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
    return Buffer.from(text);
  }
  return Buffer.from(JSON.stringify({ _type: STATEMENT_V01, subject, predicateType, predicate: sorted(predicate) }));
}

/** Parses a statement payload; undefined when it is not an in-toto statement. */
export function parseStatement(payload: Buffer): InTotoStatement | undefined {
  try {
    const s = JSON.parse(payload.toString('utf8')) as InTotoStatement;
    if (!s || typeof s !== 'object' || typeof s.predicateType !== 'string' || !Array.isArray(s.subject)) return undefined;
    return s;
  } catch {
    return undefined;
  }
}
