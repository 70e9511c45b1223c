/**
 * A CustomResourceDefinition as plain data. Not client-node's V1CustomResourceDefinition: its
 * serializer spells the schema keyword `default` as `_default` and silently drops a plain
 * `default`, so the manifest we check in and apply must not pass through it.
 */
import { CATEGORY, GROUP, VERSION } from './group.ts';
import type { JSONSchemaProps } from './openapi.ts';

/** A `kubectl get` column (server-side printing). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  /** 0 = shown by default; higher = only with `-o wide`. */
  priority?: number;
}

export interface ScaleSubresource {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: JSONSchemaProps };
  subresources: { status: Record<string, never>; scale?: ScaleSubresource };
  additionalPrinterColumns: PrinterColumn[];
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced';
    versions: CrdVersion[];
  };
}

export interface CrdDefinition {
  kind: string;
  plural: string;
  shortNames: string[];
  schema: JSONSchemaProps;
  printerColumns: PrinterColumn[];
  scale?: ScaleSubresource;
}

/** Age, as kubectl shows it for every resource. */
export const AGE_COLUMN: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
};

/**
 * The namespaced v1alpha1 CRD of one kind of the group, in the `mcpv8` category, with the status
 * subresource (status is written only through `/status`, and spec changes bump generation).
 */
export function defineCrd(def: CrdDefinition): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.kind.toLowerCase(),
        shortNames: def.shortNames,
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: def.schema },
          subresources: { status: {}, ...(def.scale ? { scale: def.scale } : {}) },
          additionalPrinterColumns: def.printerColumns,
        },
      ],
    },
  };
}
