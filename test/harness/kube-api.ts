/**
 * Raw requests to the test kube-apiserver as the admin user: bytes as given (JSON or YAML), so
 * checked-in manifests reach the server exactly (client-node's typed models drop the JSON-schema
 * `default` keyword). Never throws on an HTTP error status: tests assert on it.
 */
import { request } from 'node:https';
import type { KubeEndpoint } from './kube.ts';

export interface KubeReply<T = Record<string, unknown>> {
  status: number;
  body: T;
}

export interface KubeRequestOptions {
  body?: unknown;
  contentType?: string;
  accept?: string;
}

/** One API request; `body` is sent as is when a string, else as JSON. */
export function kubeApi<T = Record<string, unknown>>(
  kube: KubeEndpoint,
  method: string,
  path: string,
  opts: KubeRequestOptions = {},
): Promise<KubeReply<T>> {
  const payload =
    opts.body === undefined
      ? undefined
      : typeof opts.body === 'string'
        ? opts.body
        : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${kube.server}${path}`,
      {
        method,
        ca: kube.caPem,
        headers: {
          authorization: `Bearer ${kube.adminToken}`,
          accept: opts.accept ?? 'application/json',
          // Without a length, a DELETE body is ignored and its bytes break the next request.
          ...(payload !== undefined && {
            'content-type': opts.contentType ?? 'application/json',
            'content-length': Buffer.byteLength(payload),
          }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: parseBody(text) as T });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Server-side apply of a CRD manifest (YAML text) under `fieldManager`; resolves with the status. */
export async function applyCrdYaml(
  kube: KubeEndpoint,
  name: string,
  yamlText: string,
  fieldManager = 'mcpv8-crds-test',
): Promise<KubeReply> {
  return kubeApi(
    kube,
    'PATCH',
    `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=${fieldManager}&force=true`,
    { body: yamlText, contentType: 'application/apply-patch+yaml' },
  );
}

/** JSON when the server sent JSON; otherwise the text, so a test can show what came back. */
function parseBody(text: string): unknown {
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return { text };
  }
}
