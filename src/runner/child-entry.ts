/**
 * Entry point of a local runner child process (forked by ChildRunnerPool with an IPC channel).
 * Must be started with `--no-node-snapshot` (isolated-vm needs it).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_RUNNER_OPTIONS, RunnerProcess, type RunnerOptions } from './runner-process.ts';
import type { RunnerMessage } from './protocol.ts';

const { values } = parseArgs({ options: { options: { type: 'string' } } });
const options: RunnerOptions = {
  ...DEFAULT_RUNNER_OPTIONS,
  ...(JSON.parse(values.options ?? '{}') as Partial<RunnerOptions>),
};

if (!process.send) {
  process.stderr.write('runner: must be started with an IPC channel\n');
  process.exit(2);
}
const send = (msg: RunnerMessage) => {
  if (process.connected) process.send!(msg);
};
const runner = new RunnerProcess(options, send, (message) => {
  // V8 lost control of an isolate: nothing in this process can be trusted any more.
  process.stderr.write(`runner: catastrophic isolate error: ${message}\n`);
  process.exit(70);
});
process.on('message', (msg) => runner.handle(msg));
// The parent is gone: nobody will read our results.
process.on('disconnect', () => {
  runner.stop();
  process.exit(0);
});
await runner.start();
