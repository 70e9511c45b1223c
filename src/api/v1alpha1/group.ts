/** The API group and version every mcp-v8 custom resource is served under. */

export const GROUP = 'mcpv8.dev';
export const VERSION = 'v1alpha1';
/** `apiVersion` of every object of this version. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** `kubectl get mcpv8` lists every kind of the group. */
export const CATEGORY = 'mcpv8';
