/**
 * What the runner pods of one deployment say about their own claims, heard on NATS with an admin
 * connection: the most runs each pod announced it admitted over its life, the runs pods refused
 * (a controller sent them a run their claim did not cover), and the outcomes they published. It
 * can also send a pod a run, as a controller does. Runner ids are pod names, and pods of other
 * deployments on the same NATS announce on the same subjects: a pod counts once it is found in
 * the deployment's namespace.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { allOutcomes, StoredOutcomeSchema, type StoredOutcome } from '../../src/cluster/outcome-stream.ts';
import {
  DEFAULT_RUNNER_SUBJECT_PREFIX,
  RunnerAnnouncementSchema,
  RunnerOutMessageSchema,
  allRunnersOut,
  decodeJson,
  heartbeatSubject,
  podRunMessage,
  runnerSubjects,
  runnerTokenOf,
} from '../../src/cluster/runner-subjects.ts';
import type { RunRequest } from '../../src/core/index.ts';
import { kubeApi } from './kube-api.ts';
import type { KubeEndpoint } from './kube.ts';

/** A run a pod refused. */
export interface PodRefusal {
  pod: string;
  executionId: string;
  reason: string;
}

export class PodClaimsWatch {
  readonly #nc: NatsConnection;
  readonly #kube: KubeEndpoint;
  readonly #namespace: string;
  readonly #prefix: string;
  /** Whether each runner id seen is a pod of the namespace (looked up once, when first seen). */
  readonly #ours = new Map<string, Promise<boolean>>();
  readonly #admitted = new Map<string, number>();
  readonly #refusals: PodRefusal[] = [];
  readonly #outcomes = new Map<string, PromiseWithResolvers<StoredOutcome>>();

  private constructor(nc: NatsConnection, kube: KubeEndpoint, namespace: string, prefix: string) {
    this.#nc = nc;
    this.#kube = kube;
    this.#namespace = namespace;
    this.#prefix = prefix;
    nc.subscribe(heartbeatSubject(prefix), {
      callback: (err, msg) => {
        const a = err ? undefined : RunnerAnnouncementSchema.safeParse(decodeJson(msg.data)).data;
        if (!a) return;
        this.#see(a.runnerId);
        this.#admitted.set(a.runnerId, Math.max(this.#admitted.get(a.runnerId) ?? 0, a.admitted ?? 0));
      },
    });
    nc.subscribe(allRunnersOut(prefix), {
      callback: (err, msg) => {
        const m = err ? undefined : RunnerOutMessageSchema.safeParse(decodeJson(msg.data)).data;
        const pod = runnerTokenOf(prefix, msg.subject);
        if (m?.type !== 'refused' || pod === undefined) return;
        this.#see(pod);
        this.#refusals.push({ pod, executionId: m.executionId, reason: m.reason });
      },
    });
    nc.subscribe(allOutcomes(prefix), {
      callback: (err, msg) => {
        const o = err ? undefined : StoredOutcomeSchema.safeParse(decodeJson(msg.data)).data;
        if (o) this.#outcome(o.executionId).resolve(o);
      },
    });
  }

  /** Starts listening (resolves once the subscriptions are in place). */
  static async start(
    natsUrl: string,
    kube: KubeEndpoint,
    namespace: string,
    prefix = DEFAULT_RUNNER_SUBJECT_PREFIX,
  ): Promise<PodClaimsWatch> {
    const nc = await connect({ servers: natsUrl });
    const watch = new PodClaimsWatch(nc, kube, namespace, prefix);
    await nc.flush();
    return watch;
  }

  /** The outcome of execution `executionId` (`<namespace>/<name>`) once its pod published it. */
  outcome(executionId: string): Promise<StoredOutcome> {
    return this.#outcome(executionId).promise;
  }

  /** The most runs each pod of the namespace announced it admitted, by pod. */
  async admitted(): Promise<Map<string, number>> {
    const ours = await this.#oursOnly([...this.#admitted.keys()]);
    return new Map([...this.#admitted].filter(([pod]) => ours.has(pod)));
  }

  /** The runs pods of the namespace refused. */
  async refusals(): Promise<PodRefusal[]> {
    const ours = await this.#oursOnly(this.#refusals.map((r) => r.pod));
    return this.#refusals.filter((r) => ours.has(r.pod));
  }

  /** The most runs `pod` announced it admitted; undefined when it was not heard since the watch started. */
  admittedBy(pod: string): number | undefined {
    return this.#admitted.get(pod);
  }

  /** Sends `pod` a run, as the controller does (`req` names its Execution). */
  sendRun(pod: string, req: RunRequest): void {
    this.#nc.publish(runnerSubjects(this.#prefix, pod).in, JSON.stringify(podRunMessage(req)));
  }

  async close(): Promise<void> {
    await this.#nc.drain();
  }

  #outcome(executionId: string): PromiseWithResolvers<StoredOutcome> {
    let o = this.#outcomes.get(executionId);
    if (!o) this.#outcomes.set(executionId, (o = Promise.withResolvers<StoredOutcome>()));
    return o;
  }

  #see(pod: string): void {
    if (this.#ours.has(pod)) return;
    const path = `/api/v1/namespaces/${this.#namespace}/pods/${encodeURIComponent(pod)}`;
    // A pod announces itself from its start: it is still there when first heard of.
    this.#ours.set(
      pod,
      kubeApi(this.#kube, 'GET', path).then(
        (res) => res.status === 200,
        () => false,
      ),
    );
  }

  async #oursOnly(pods: string[]): Promise<Set<string>> {
    const ours = new Set<string>();
    for (const pod of new Set(pods)) if (await this.#ours.get(pod)) ours.add(pod);
    return ours;
  }
}
