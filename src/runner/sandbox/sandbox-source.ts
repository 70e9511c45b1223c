/**
 * The prelude as source text for `context.evalClosure`: the inspector and the prelude are
 * self-contained functions, serialised once per process.
 */
import { createInspector } from './inspector.ts';
import { installPrelude } from './prelude.ts';

/** Arguments: $0 emit, $1 now, $2 seed, $3 timer, $4 hostCall (Reference), $5 options JSON. */
export const PRELUDE_SOURCE = `const createInspector = ${createInspector.toString()};
return (${installPrelude.toString()})(createInspector, { emit: $0, now: $1, seed: $2, timer: $3, hostCall: $4 }, $5);`;

/** Filename the prelude's frames carry in stack traces (and are filtered by). */
export const PRELUDE_FILENAME = 'mcpv8:prelude';
