/**
 * Entry point of a local runner child process (forked by ChildRunnerPool with an IPC channel).
 * Must be started with `--no-node-snapshot` (isolated-vm needs it). Its options (which may hold
 * secrets such as injected fetch headers) arrive as the first IPC message, never on the command
 * line or in the environment, where other processes could read them.
 */
import { exitOnCatastrophicError } from './catastrophic-exit.ts';
import { DEFAULT_RUNNER_OPTIONS, RunnerProcess, type RunnerOptions } from './runner-process.ts';
import { IpcRunnerHost } from './ipc-runner-host.ts';
import { ConfigureMessageSchema, type RunnerMessage } from './protocol.ts';

if (!process.send) {
  process.stderr.write('runner: must be started with an IPC channel\n');
  process.exit(2);
}
const send = (msg: RunnerMessage) => {
  if (process.connected) process.send!(msg);
};
// The parent is gone: nobody will read our results.
process.on('disconnect', () => {
  runner?.stop();
  process.exit(0);
});

let runner: RunnerProcess | undefined;
process.once('message', (raw) => {
  const parsed = ConfigureMessageSchema.safeParse(raw);
  if (!parsed.success) {
    process.stderr.write(`runner: the first message must configure the runner: ${parsed.error.message}\n`);
    process.exit(2);
  }
  const options: RunnerOptions = {
    ...DEFAULT_RUNNER_OPTIONS,
    ...(parsed.data.options as Partial<RunnerOptions>),
  };
  const host = new IpcRunnerHost(send);
  runner = new RunnerProcess(options, host, exitOnCatastrophicError);
  const started = runner;
  process.on('message', (msg) => host.receive(msg, started));
  started.start().catch((err: unknown) => {
    process.stderr.write(`runner: could not start: ${String(err)}\n`);
    process.exit(1);
  });
});
