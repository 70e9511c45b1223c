/** client-node KubeConfigs for the harness apiserver, as admin or as any bearer token. */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeEndpoint } from './kube.ts';

/** A KubeConfig that trusts the harness CA and sends `token` (default: the admin token). */
export function tokenKubeConfig(kube: KubeEndpoint, token = kube.adminToken, user = 'harness'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'harness', server: kube.server, caData: Buffer.from(kube.caPem).toString('base64') }],
    users: [{ name: user, token }],
    contexts: [{ name: 'harness', cluster: 'harness', user }],
    currentContext: 'harness',
  });
  return kc;
}

/** The same endpoint with another bearer token, for raw `kubeApi` requests as that identity. */
export function asToken(kube: KubeEndpoint, token: string): KubeEndpoint {
  return { ...kube, adminToken: token };
}
