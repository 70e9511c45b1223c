/**
 * What a runner does when V8 loses control of an isolate (isolated-vm's `onCatastrophicError`,
 * e.g. a heap that ran out of memory in one allocation): nothing in the process can be trusted
 * any more, so it ends at once. Not with `process.exit`: isolated-vm parks the broken isolate's
 * thread for good, and an orderly exit would wait on it until a supervisor's kill. The line on
 * stderr is what the supervisor reads to report the execution as out of memory.
 */
export function exitOnCatastrophicError(message: string): never {
  const oom = /out.of.memory/i.test(message) ? ' (out of memory)' : '';
  process.stderr.write(`runner: catastrophic isolate error${oom}: ${message}\n`);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is not delivered synchronously on every platform: nothing may run meanwhile.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}
