// The egress broker between a real runner pod process (src/runner/nats-entry.ts, driven with
// raw NATS run messages as a pool sends them) and a local HTTP server standing in for the
// internet. The broker is configured as the gateway configures it (its flags: header rule,
// --policies-json against a real OPA); the pod gets MCP_V8_EGRESS_URL and no header rules. The
// pod's own policy allows everything, so every refusal seen here is the broker's.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EgressTokenKey } from '../../src/cluster/egress-token.ts';
import { allOutcomes, type StoredOutcome } from '../../src/cluster/outcome-stream.ts';
import { heartbeatSubject, runnerSubjects } from '../../src/cluster/runner-subjects.ts';
import { startEgressBroker, type RunningEgressBroker } from '../../src/cli/egress-broker-runtime.ts';
import { readEgressConfig } from '../../src/cli/egress-config.ts';
import { startFetchTestServer, type FetchTestServer } from '../harness/fetch-test-server.ts';
import { clusterRun } from '../runner/pod/cluster-run.ts';

const { nats, opa } = inject('services');
const run = randomBytes(4).toString('hex');
const PREFIX = `mcpv8eg${run}`;
const POD = `pod-egress-${run}`;
const NS = `tenant-eg-${run}`;
const SECRET = `Bearer egress-s3cr3t-${run}`;
const KEY_TEXT = `egress-broker-key-${randomBytes(16).toString('hex')}`;
const ENTRY = fileURLToPath(new URL('../../src/runner/nats-entry.ts', import.meta.url));

/** The broker's policy: GET/POST to the test server on 127.0.0.1 under /public/, fetch and imports. */
const brokerPolicy = (port: number) => `package egressint${run}.broker

default allow := false

allow if {
  input.operation in {"fetch", "import"}
  input.url_parsed.host == "127.0.0.1"
  input.url_parsed.port == ${port}
  startswith(input.url_parsed.path, "/public/")
}
`;
/** The pod's own policy (its pool's): anything. */
const openPolicy = `package egressint${run}.open

default allow := true
`;

let server: FetchTestServer;
let broker: RunningEgressBroker;
let nc: NatsConnection;
let pod: ChildProcess;
let dir: string;
const key = new EgressTokenKey(KEY_TEXT);
/** Outcomes the pod published, each as a promise resolved when it arrives. */
const outcomes = new Map<string, PromiseWithResolvers<StoredOutcome>>();
const outcomeOf = (executionId: string) => {
  let entry = outcomes.get(executionId);
  if (!entry) outcomes.set(executionId, (entry = Promise.withResolvers<StoredOutcome>()));
  return entry;
};
/** Every message the pod received on its `.in` subject, as bytes on the wire. */
const received: string[] = [];
let seq = 0;

/** Runs `code` on the pod as the controller sends it: with the run's egress token. */
async function runCell(code: string): Promise<StoredOutcome['outcome']> {
  const name = `exec-${++seq}`;
  const msg = clusterRun(NS, name, `const O = ${JSON.stringify(server.origin)};\n${code}`);
  msg.egressToken = key.mint({ namespace: NS, executionId: msg.executionId, expiresAt: Date.now() + 60_000 });
  nc.publish(runnerSubjects(PREFIX, POD).in, JSON.stringify(msg));
  return (await outcomeOf(msg.executionId).promise).outcome;
}

beforeAll(async () => {
  server = await startFetchTestServer();
  for (const [id, body] of [
    ['broker', brokerPolicy(server.port)],
    ['open', openPolicy],
  ]) {
    const put = await fetch(`${opa!.url}/v1/policies/egressint-${run}-${id}`, { method: 'PUT', body });
    expect(put.status, await put.text()).toBe(200);
  }
  dir = mkdtempSync(join(tmpdir(), 'egress-int-'));
  const source = (path: string) => ({ sources: [{ url: opa!.url, path }] });
  const policiesFile = join(dir, 'policies.json');
  writeFileSync(
    policiesFile,
    JSON.stringify({
      fetch: source(`egressint${run}/broker`),
      modules: source(`egressint${run}/broker`),
    }),
  );
  // The gateway's own configuration path: flags and the key from the environment.
  const problems: string[] = [];
  const flags: Record<string, string> = { 'policies-json': policiesFile };
  const config = readEgressConfig(
    0,
    (flag) => flags[flag],
    () => [`host=127.0.0.1,header=X-Secret,value=${SECRET}`],
    { MCP_V8_EGRESS_KEY: KEY_TEXT },
    problems,
  );
  expect(problems).toEqual([]);
  broker = await startEgressBroker(config!, '127.0.0.1', pino({ level: 'silent' }));

  nc = await connect({ servers: nats!.url });
  nc.subscribe(allOutcomes(PREFIX), {
    callback: (err, m) => {
      if (err) return;
      const o = m.json<StoredOutcome>();
      outcomeOf(o.executionId).resolve(o);
    },
  });
  nc.subscribe(runnerSubjects(PREFIX, POD).in, {
    callback: (err, m) => {
      if (!err) received.push(m.string());
    },
  });
  const announced = Promise.withResolvers<void>();
  nc.subscribe(heartbeatSubject(PREFIX), { callback: () => announced.resolve() });
  await nc.flush();

  const open = source(`egressint${run}/open`);
  pod = spawn(process.execPath, ['--no-node-snapshot', ENTRY], {
    env: {
      ...process.env,
      MCPV8_TEST_SERVICE: `runner-pod-${POD}`,
      MCP_V8_NATS_URL: nats!.url,
      POD_NAME: POD,
      MCP_V8_RUNNER_SUBJECT_PREFIX: PREFIX,
      MCP_V8_EGRESS_URL: broker.url,
      MCPV8_RUNNER_OPTIONS: JSON.stringify({
        heartbeatIntervalMs: 100,
        warmSandboxes: 1,
        policies: { fetch: open, modules: open },
      }),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await announced.promise;
});
afterAll(async () => {
  if (pod && pod.exitCode === null && pod.signalCode === null) {
    const exited = new Promise((r) => pod.once('exit', r));
    pod.kill('SIGKILL');
    await exited;
  }
  await nc?.drain();
  await broker?.close();
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('egress broker with a runner pod', () => {
  it('injects the header at the broker; the value appears nowhere in the pod', async () => {
    const outcome = await runCell(
      `const r = await fetch(O + '/public/echo'); const j = await r.json(); JSON.stringify({ status: r.status, sent: j.headers['x-secret'] })`,
    );
    expect(outcome, JSON.stringify(outcome.error)).toMatchObject({ status: 'completed' });
    // What the code sees is scrubbed; the target got the real value.
    expect(JSON.parse(JSON.parse(outcome.result!) as string)).toEqual({ status: 200, sent: '[redacted]' });
    expect(server.received.at(-1)?.headers['x-secret']).toBe(SECRET);

    // The pod's environment, arguments and the run messages it received: no secret, no key.
    const environ = readFileSync(`/proc/${pod.pid}/environ`);
    const cmdline = readFileSync(`/proc/${pod.pid}/cmdline`);
    for (const [what, bytes] of [
      ['environment', environ],
      ['arguments', cmdline],
      ['run messages', Buffer.from(received.join('\n'))],
    ] as const) {
      expect(bytes.includes(SECRET), what).toBe(false);
      expect(bytes.includes('egress-s3cr3t'), what).toBe(false);
      expect(bytes.includes(KEY_TEXT), what).toBe(false);
    }
    expect(received.length).toBeGreaterThan(0);
    // Its only egress setting is where the broker is.
    expect(environ.toString()).toContain(`MCP_V8_EGRESS_URL=${broker.url}`);
  });

  it('refuses a redirect to a host its policy does not allow, at that hop', async () => {
    const to = encodeURIComponent(`http://localhost:${server.port}/public/hello`);
    server.received.length = 0;
    const outcome = await runCell(
      `await fetch(O + '/public/redirect?to=${to}').then(() => 'fetched', (e) => e.name + ' ' + e.code)`,
    );
    expect(outcome, JSON.stringify(outcome.error)).toMatchObject({
      status: 'completed',
      result: JSON.stringify('PolicyError MCPV8_ERR_POLICY_DENIED'),
    });
    expect(server.received.map((r) => r.path)).toEqual(['/public/redirect']);
  });

  it('downloads modules through the broker, which authorizes each hop', async () => {
    const allowed = await runCell(
      `await import(O + '/public/json').then(() => 'imported', (e) => e.name + ' ' + e.code)`,
    );
    // Served as JSON, not a script: downloaded (through the broker), then refused by the loader.
    expect(allowed.result).toBe(JSON.stringify('ModuleError MCPV8_ERR_MODULE_INVALID'));
    const denied = await runCell(
      `await import(O + '/private/hello').then(() => 'imported', (e) => e.name + ' ' + e.code)`,
    );
    expect(denied.result).toBe(JSON.stringify('PolicyError MCPV8_ERR_POLICY_DENIED'));
    expect(server.received.some((r) => r.path === '/private/hello')).toBe(false);
  });
});
