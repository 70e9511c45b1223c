/**
 * The prelude's extensions: in-isolate code of host capabilities (fetch, fs), each a
 * self-contained function installed after the core prelude when its capability is enabled in the
 * prelude options. Serialised with toString into the prelude script (see sandbox-source.ts).
 */
import { installAbortPrelude } from './abort-prelude.ts';
import { installFetchPrelude } from './fetch-prelude.ts';
import { installFsPrelude } from './fs-prelude.ts';
import { installHeadersPrelude } from './headers-prelude.ts';
import type { PreludeExtension } from './prelude.ts';
import { installWebCodecsPrelude } from './web-codecs-prelude.ts';

// Order matters: fetch captures the globals the abort, codec and headers extensions install.
export const PRELUDE_EXTENSIONS: readonly PreludeExtension[] = [
  installFsPrelude,
  installAbortPrelude,
  installWebCodecsPrelude,
  installHeadersPrelude,
  installFetchPrelude,
];
