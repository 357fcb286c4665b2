// The node agent: registers the real node, keeps its heartbeat, watches the pods bound to it and
// runs each with a PodRunner; on deletion it stops the containers within the grace period, writes
// the final status and removes the pod (as the kubelet does once a pod's containers are gone).
import { z } from "zod";
import type { KubeConnection } from "../../../shared/kube/connection.ts";
import { postEvent } from "../../../shared/kube/events.ts";
import { isNotFound, RawClient } from "../../../shared/kube/raw.ts";
import { Informer } from "../../../shared/runtime/informer.ts";
import type { Logger } from "../../../shared/runtime/logger.ts";
import { NODE_LABEL } from "./container-args.ts";
import type { DataSource } from "./env.ts";
import { heartbeat, HEARTBEAT_MS, registerNode, type NodeFacts } from "./node.ts";
import { podKey, podSchema, type Pod } from "./pod.ts";
import { PodRunner, type Backoff } from "./pod-runner.ts";
import type { Podman } from "./podman.ts";
import type { TokenSource } from "./volumes.ts";

export interface NodeAgentOptions {
  connection: KubeConnection;
  node: NodeFacts;
  podman: Podman;
  podsDir: string;
  hostRoot: string;
  logDir: string;
  certDir?: string | undefined;
  backoff: Backoff;
  log: Logger;
}

const looseObjectSchema = z.looseObject({ metadata: z.looseObject({ name: z.string(), namespace: z.string().optional(), uid: z.string().optional(), deletionTimestamp: z.string().optional(), deletionGracePeriodSeconds: z.number().optional() }) });
type LoosePod = z.infer<typeof looseObjectSchema>;
const dataSchema = z.looseObject({ data: z.record(z.string(), z.string()).optional() });
const tokenSchema = z.looseObject({ status: z.looseObject({ token: z.string() }) });

/** ConfigMaps and Secrets read straight from the API server (Secret data base64-decoded). */
export function apiDataSource(raw: RawClient): DataSource {
  const get = async (kind: "configmaps" | "secrets", ns: string, name: string) => {
    try {
      const body = dataSchema.parse((await raw.request("GET", `/api/v1/namespaces/${encodeURIComponent(ns)}/${kind}/${encodeURIComponent(name)}`)).body);
      const data = body.data ?? {};
      return kind === "secrets" ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")])) : data;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  return { configMap: (ns, name) => get("configmaps", ns, name), secret: (ns, name) => get("secrets", ns, name) };
}

/** ServiceAccount tokens from the TokenRequest API, bound to the pod (what the kubelet asks for). */
export function apiTokenSource(raw: RawClient): TokenSource {
  return {
    async token(ns, sa, o) {
      const body = {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: {
          audiences: o.audience !== undefined && o.audience !== "" ? [o.audience] : [],
          expirationSeconds: o.expirationSeconds,
          boundObjectRef: { apiVersion: "v1", kind: "Pod", name: o.pod.metadata.name, uid: o.pod.metadata.uid },
        },
      };
      const res = await raw.request("POST", `/api/v1/namespaces/${encodeURIComponent(ns)}/serviceaccounts/${encodeURIComponent(sa)}/token`, body);
      return tokenSchema.parse(res.body).status.token;
    },
  };
}

export class NodeAgent {
  private readonly opts: NodeAgentOptions;
  private readonly raw: RawClient;
  private readonly informer: Informer<LoosePod>;
  private readonly runners = new Map<string, PodRunner>();
  /** pods whose deletion is under way, so a later event does not start it twice */
  private readonly terminating = new Set<string>();
  private beat: NodeJS.Timeout | undefined;

  constructor(opts: NodeAgentOptions) {
    this.opts = opts;
    this.raw = new RawClient(opts.connection);
    this.informer = new Informer<LoosePod>({
      connection: opts.connection,
      resource: { apiVersion: "v1", kind: "Pod", plural: "pods" },
      schema: looseObjectSchema,
      logger: opts.log,
      fieldSelector: `spec.nodeName=${opts.node.name}`,
      baseBackoffMs: 500,
      maxBackoffMs: 5000,
    });
  }

  async start(): Promise<void> {
    const { podman, node, log } = this.opts;
    // Containers of an earlier agent of this node: their pods are started afresh.
    await podman.removeLabelled(`${NODE_LABEL}=${node.name}`);
    await registerNode(this.raw, node);
    this.beat = setInterval(() => {
      heartbeat(this.raw, node).catch((err: unknown) => log.warn({ err: String(err) }, "heartbeat failed"));
    }, HEARTBEAT_MS);
    await heartbeat(this.raw, node);
    this.informer.onAdd((p) => this.sync(p));
    this.informer.onUpdate((p) => this.sync(p));
    this.informer.onDelete((p) => this.gone(p));
    this.informer.start();
    await this.informer.waitForSync();
    log.info({ kernelVersion: node.kernelVersion }, "node agent ready");
  }

  /** Stops watching and every pod's containers (no status writes: the fleet is going away). */
  async stop(): Promise<void> {
    if (this.beat) clearInterval(this.beat);
    await this.informer.stop();
    await Promise.all([...this.runners.values()].map((r) => r.terminate(0, false)));
    this.raw.close();
  }

  private event(pod: Pod, type: "Normal" | "Warning", reason: string, message: string): void {
    const m = pod.metadata;
    postEvent(this.raw, { involvedObject: { apiVersion: "v1", kind: "Pod", name: m.name, namespace: m.namespace, uid: m.uid }, type, reason, message, component: "kubelet", instance: this.opts.node.name }).catch(
      (err: unknown) => this.opts.log.warn({ err: String(err) }, "event write failed"),
    );
  }

  private sync(raw: LoosePod): void {
    const uid = raw.metadata.uid ?? "";
    const parsed = podSchema.safeParse(raw);
    if (!parsed.success) {
      this.opts.log.error({ pod: `${raw.metadata.namespace ?? ""}/${raw.metadata.name}`, err: parsed.error.message }, "pod spec not understood by the node agent");
      return;
    }
    const pod = parsed.data;
    const existing = this.runners.get(uid);
    if (pod.metadata.deletionTimestamp !== undefined) {
      if (this.terminating.has(uid)) return;
      this.terminating.add(uid);
      const grace = raw.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
      void this.finishDeletion(pod, existing, grace);
      return;
    }
    if (existing) {
      existing.update(pod);
      return;
    }
    const phase = pod.status?.phase;
    // A pod that already ended (an earlier agent ran it) stays as it is.
    if (phase === "Succeeded" || phase === "Failed") return;
    const runner = new PodRunner(pod, {
      node: this.opts.node.name,
      hostIP: this.opts.node.hostIP,
      podman: this.opts.podman,
      raw: this.raw,
      data: apiDataSource(this.raw),
      tokens: apiTokenSource(this.raw),
      apiServer: new URL(this.opts.connection.server),
      podsDir: this.opts.podsDir,
      hostRoot: this.opts.hostRoot,
      logDir: this.opts.logDir,
      certDir: this.opts.certDir,
      backoff: this.opts.backoff,
      log: this.opts.log,
      event: (p, type, reason, message) => this.event(p, type, reason, message),
    });
    this.runners.set(uid, runner);
    this.opts.log.info({ pod: podKey(pod) }, "starting pod");
    runner.start();
  }

  private async finishDeletion(pod: Pod, runner: PodRunner | undefined, grace: number): Promise<void> {
    const m = pod.metadata;
    try {
      if (runner) await runner.terminate(grace, true);
      this.runners.delete(m.uid);
      // The containers are gone: remove the pod for good (the kubelet's final, grace-0 delete).
      await this.raw.request("DELETE", `/api/v1/namespaces/${encodeURIComponent(m.namespace)}/pods/${encodeURIComponent(m.name)}`, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: 0,
        preconditions: { uid: m.uid },
      });
      this.opts.log.info({ pod: podKey(pod) }, "pod deleted");
    } catch (err) {
      if (!isNotFound(err)) this.opts.log.error({ pod: podKey(pod), err: String(err) }, "pod deletion failed");
    }
  }

  private gone(raw: LoosePod): void {
    const uid = raw.metadata.uid ?? "";
    const runner = this.runners.get(uid);
    this.runners.delete(uid);
    this.terminating.delete(uid);
    if (runner) void runner.terminate(0, false);
  }
}
