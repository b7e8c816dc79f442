/**
 * The JSON schema of a RankRequest (src/serve/types.ts), shared by `POST /v1/rank` (fastify's ajv) and `din rank`
 * (a standalone ajv with the same options), so both accept and refuse exactly the same inputs with the same
 * messages. Shape and limits only: ids, field names and vocabularies are the engine's business (unknown values map
 * to OOV rows; a field the model does not have is an engine error naming it).
 *
 * Unknown keys are refused rather than ignored, so a typo (`topk`, `candidate`) is an error, not a silent default.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { RankRequest } from './types.js';

/** Size limits of a request, enforced alike by the HTTP schema, `din rank` and the engine. */
export interface RequestLimits {
  /** Most candidates per request. */
  maxCandidates: number;
  /** Most behaviours per request (longer histories are refused; up to this, the engine keeps the most recent). */
  maxBehaviors: number;
}

export const DEFAULT_LIMITS: RequestLimits = { maxCandidates: 1000, maxBehaviors: 1000 };

/** Longest id / field value string accepted (ids are keys, not documents). */
export const MAX_STRING = 512;
/** Most entries in a `fields` / `profile` / `context` map, and most values in a category bag. */
export const MAX_FIELDS = 64;
/** Largest bid: keeps ctr^alpha · bid finite. */
export const MAX_BID = 1e12;
/** Largest eCPM exponent. */
export const MAX_ALPHA = 100;

/** The ajv options both validators use: no type coercion ("3" is not a number), unknown keys refused, first error. */
export const AJV_OPTIONS = {
  coerceTypes: false,
  removeAdditional: false,
  useDefaults: false,
  allErrors: false,
  allowUnionTypes: true,
} as const;

const value = { type: ['string', 'number'], maxLength: MAX_STRING } as const;
const valueMap = {
  type: 'object',
  maxProperties: MAX_FIELDS,
  propertyNames: { maxLength: MAX_STRING },
  additionalProperties: value,
} as const;

function itemSchema(extra: Record<string, unknown> = {}) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      id: value,
      // One value or a bag; a union type rather than anyOf, so an error names the bad element, once.
      category: { type: ['string', 'number', 'array'], maxLength: MAX_STRING, maxItems: MAX_FIELDS, items: value },
      fields: valueMap,
      ...extra,
    },
  };
}

export function checkLimits(l: RequestLimits): void {
  for (const k of ['maxCandidates', 'maxBehaviors'] as const) {
    if (!(Number.isInteger(l[k]) && l[k] >= 1)) throw new Error(`${k} must be an integer ≥ 1, got ${l[k]}`);
  }
}

/** The schema of a request body under the given limits. */
export function rankRequestSchema(limits: RequestLimits = DEFAULT_LIMITS) {
  checkLimits(limits);
  return {
    $id: 'RankRequest',
    type: 'object',
    additionalProperties: false,
    required: ['candidates'],
    properties: {
      user: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: value,
          profile: valueMap,
          behaviors: { type: 'array', maxItems: limits.maxBehaviors, items: itemSchema() },
        },
      },
      candidates: {
        type: 'array',
        minItems: 1,
        maxItems: limits.maxCandidates,
        items: itemSchema({ bid: { type: 'number', minimum: 0, maximum: MAX_BID } }),
      },
      context: valueMap,
      alpha: { type: 'number', minimum: 0, maximum: MAX_ALPHA },
      explain: { type: 'boolean' },
      topK: { type: 'integer', minimum: 1 },
    },
  } as const;
}

/**
 * One line per ajv error, as fastify words them (`body/candidates/3/bid must be number`), plus the offending key for
 * the errors whose message does not name it (unknown keys).
 */
export function formatSchemaErrors(errors: readonly ErrorObject[] | null | undefined, dataVar: string): string {
  if (!errors || errors.length === 0) return `${dataVar} is invalid`;
  return errors
    .map((e) => {
      const types = e.keyword === 'type' ? (e.params as { type: string | string[] }).type : undefined;
      const what = types !== undefined ? `must be ${(Array.isArray(types) ? types : String(types).split(',')).join(' or ')}` : e.message;
      let msg = `${dataVar}${e.instancePath} ${what ?? 'is invalid'}`;
      if (e.keyword === 'additionalProperties') msg += ` ("${(e.params as { additionalProperty: string }).additionalProperty}")`;
      else if (e.keyword === 'propertyNames') msg += ` ("${(e.params as { propertyName: string }).propertyName}")`;
      return msg;
    })
    .join(', ');
}

/** A standalone validator (`din rank`): returns null when valid, else the message. */
export function requestValidator(limits: RequestLimits = DEFAULT_LIMITS): (x: unknown) => string | null {
  const ajv = new Ajv(AJV_OPTIONS);
  const validate = ajv.compile(rankRequestSchema(limits)) as ValidateFunction<RankRequest>;
  return (x) => (validate(x) ? null : formatSchemaErrors(validate.errors, 'request'));
}
