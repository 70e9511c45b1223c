/**
 * The prelude as source text: a script whose value is the installer function. The inspector and
 * the prelude are self-contained functions, serialised once per process; the compiled script is
 * cached (V8 code cache) so each new sandbox skips parsing and compiling it.
 */
import { createConsole } from './console-prelude.ts';
import { createInspector } from './inspector.ts';
import { installPrelude } from './prelude.ts';
import { PRELUDE_EXTENSIONS } from './prelude-extensions.ts';

/** Evaluates to `(emit, report, now, seed, timer, hostCall, optionsJson) => PreludeApi`. */
export const PRELUDE_SCRIPT = `(function (emit, report, now, seed, timer, hostCall, optionsJson) {
const createInspector = ${createInspector.toString()};
const createConsole = ${createConsole.toString()};
const extensions = [${PRELUDE_EXTENSIONS.map((f) => f.toString()).join(',\n')}];
return (${installPrelude.toString()})(createInspector, createConsole, { emit, report, now, seed, timer, hostCall }, optionsJson, extensions);
})`;

/** Filename the prelude's frames carry in stack traces (and are filtered by). */
export const PRELUDE_FILENAME = 'mcpv8:prelude';
