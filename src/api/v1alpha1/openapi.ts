/**
 * The structural OpenAPI v3 subset Kubernetes accepts in a CRD schema, and the bridge from the
 * domain's zod schemas to it, so that a range, pattern or enum is written once (in src/core) and
 * the CRD, the runner protocol and the MCP tools all enforce the same value.
 */
import { z } from 'zod';

/** One `x-kubernetes-validations` entry: a CEL rule evaluated by the API server. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
  optionalOldSelf?: boolean;
}

/** JSONSchemaProps as a CRD needs it (keywords spelled as on the wire, `default` included). */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  format?: string;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  items?: JSONSchemaProps;
  enum?: (string | number | boolean)[];
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  /** Structural schemas allow it only to spell int-or-string (each branch a bare `type`). */
  anyOf?: JSONSchemaProps[];
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

/** Keywords zod may emit that mean the same thing in a CRD schema; anything else is refused. */
const PASSTHROUGH = new Set([
  'type',
  'description',
  'format',
  'enum',
  'default',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'required',
]);

/**
 * The CRD schema of a zod schema: zod's OpenAPI 3.0 rendering of the *input* side (so `.default()`
 * becomes `default`), checked to be structural. Throws on keywords a CRD would reject or silently
 * change the meaning of (`additionalProperties: false`, unions, `$ref`, nullable, ...): better a
 * failing generator than a CRD that enforces something other than the domain.
 */
export function fromZod(schema: z.ZodType): JSONSchemaProps {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' });
  return structural(json, '$');
}

function structural(node: Record<string, unknown>, path: string): JSONSchemaProps {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    if (PASSTHROUGH.has(key)) out[key] = value;
    else if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, Record<string, unknown>>).map(([name, child]) => [
          name,
          structural(child, `${path}.${name}`),
        ]),
      );
    } else if (key === 'items') out[key] = structural(value as Record<string, unknown>, `${path}[]`);
    else if (key === 'additionalProperties' && typeof value === 'object' && value !== null)
      out[key] = structural(value as Record<string, unknown>, `${path}.*`);
    else throw new Error(`fromZod: ${path}: "${key}" has no structural CRD equivalent`);
  }
  return out;
}

/**
 * `schema` with defaults for some of its properties. Defaulted properties leave `required`: the
 * API server fills them before validation, and a manifest may omit them.
 */
export function withDefaults(schema: JSONSchemaProps, defaults: Record<string, unknown>): JSONSchemaProps {
  const properties = { ...schema.properties };
  for (const [name, value] of Object.entries(defaults)) {
    const prop = properties[name];
    if (!prop) throw new Error(`withDefaults: no property "${name}"`);
    properties[name] = { ...prop, default: value };
  }
  const required = schema.required?.filter((name) => !(name in defaults));
  const { required: _drop, ...rest } = schema;
  return { ...rest, properties, ...(required?.length ? { required } : {}) };
}

/**
 * `schema` (an object whose properties all have defaults) defaulted as a whole when absent. The
 * default is spelled out in full rather than `{}`: the API server checks a default against the
 * object's CEL rules without filling in the nested defaults first.
 */
export function defaultedObject(schema: JSONSchemaProps): JSONSchemaProps {
  const entries = Object.entries(schema.properties ?? {}).map(([name, prop]) => {
    if (prop.default === undefined) throw new Error(`defaultedObject: "${name}" has no default`);
    return [name, prop.default] as const;
  });
  return { ...schema, default: Object.fromEntries(entries) };
}

/** `schema` that may not change once set (a CEL transition rule; skipped on create). */
export function immutable(schema: JSONSchemaProps, field: string): JSONSchemaProps {
  return withRule(schema, { rule: 'self == oldSelf', message: `${field} is immutable` });
}

/** `schema` with one more CEL rule. */
export function withRule(schema: JSONSchemaProps, rule: ValidationRule): JSONSchemaProps {
  return { ...schema, 'x-kubernetes-validations': [...(schema['x-kubernetes-validations'] ?? []), rule] };
}

/** An RFC 1123 DNS label (object names used in pod labels, NATS subjects and references). */
export const dnsLabel = (description: string): JSONSchemaProps => ({
  type: 'string',
  description,
  minLength: 1,
  maxLength: 63,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
});

/** A non-negative 64-bit counter. */
export const counter = (description: string): JSONSchemaProps => ({
  type: 'integer',
  format: 'int64',
  minimum: 0,
  description,
});

/** An RFC 3339 timestamp, as metav1.Time serialises. */
export const timestamp = (description: string): JSONSchemaProps => ({
  type: 'string',
  format: 'date-time',
  description,
});
