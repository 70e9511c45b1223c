/**
 * metav1.Condition: the standard shape of `status.conditions`, so kubectl, `kubectl wait
 * --for=condition=...` and generic tooling read our resources like built-in ones.
 */
import type { JSONSchemaProps } from './openapi.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** One aspect of a resource's state (metav1.Condition, with times as RFC 3339 strings). */
export interface Condition<Type extends string = string, Reason extends string = string> {
  type: Type;
  status: ConditionStatus;
  /** The `metadata.generation` the condition was computed from. */
  observedGeneration?: number;
  lastTransitionTime: string;
  /** CamelCase, stable: callers branch on it. */
  reason: Reason;
  message: string;
}

/** metav1.Condition's schema, with the same bounds and patterns as the built-in type. */
export const conditionSchema: JSONSchemaProps = {
  type: 'object',
  description: 'One aspect of the current state of this resource (metav1.Condition).',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: {
      type: 'string',
      description: 'Type of condition in CamelCase.',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: {
      type: 'integer',
      format: 'int64',
      minimum: 0,
      description: 'The metadata.generation this condition was set from.',
    },
    lastTransitionTime: {
      type: 'string',
      format: 'date-time',
      description: 'When the condition last changed status.',
    },
    reason: {
      type: 'string',
      description: 'Stable CamelCase reason for the last transition.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    },
    message: { type: 'string', description: 'Human-readable details.', maxLength: 32768 },
  },
};

/** `status.conditions`: a list merged by `type` (server-side apply and strategic merge agree). */
export function conditionsSchema(description: string): JSONSchemaProps {
  return {
    type: 'array',
    description,
    // A handful of condition types exist; the bound keeps status objects small in etcd.
    maxItems: 16,
    items: conditionSchema,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  };
}
