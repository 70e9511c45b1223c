/**
 * The prelude's extensions: in-isolate code of host capabilities (fetch, fs), each a
 * self-contained function installed after the core prelude when its capability is enabled in the
 * prelude options. Serialised with toString into the prelude script (see sandbox-source.ts).
 */
import type { PreludeExtension } from './prelude.ts';

export const PRELUDE_EXTENSIONS: readonly PreludeExtension[] = [];
