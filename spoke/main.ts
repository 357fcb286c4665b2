// The spoke edition's process: node kernel labels, the Module reconciler (module-loader and
// device-plugin DaemonSets), and with KMM_MANAGED=1 the kernel ClusterClaim for the hub.
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { defaultConnection, type KubeConnection } from "../shared/kube/connection.ts";
import { moduleSchema, type Module } from "../shared/api/module.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { CLUSTERCLAIM_API_VERSION, clusterClaimSchema } from "../shared/ocm/managedcluster.ts";
import { Controller } from "../shared/runtime/controller.ts";
import type { OperatorConfig } from "../shared/runtime/config.ts";
import { runCommandLine } from "../shared/runtime/cli-args.ts";
import { Manager } from "../shared/runtime/manager.ts";
import type { Logger } from "../shared/runtime/logger.ts";
import { KERNEL_CLAIM_NAME } from "./claim.ts";
import { CLAIM_KEY, kernelClaimReconciler } from "./controllers/kernel-claim.ts";
import { Recorder } from "./controllers/kube.ts";
import { moduleKey, moduleReconciler, nodeRelevantChange } from "./controllers/module.ts";
import { nodeKernelLabelReconciler } from "./controllers/node-kernel-label.ts";
import { MODULE_NAME_LABEL, ROLE_LABEL } from "./labels.ts";
import { daemonSetReadSchema, nodeSchema, podSchema, type DaemonSetRead, type Node, type Pod } from "./objects.ts";
import { configFromArgs, settingsFrom, type SpokeSettings } from "./settings.ts";

export interface SpokeOptions {
  connection: KubeConnection;
  config: OperatorConfig;
  env: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface Spoke {
  manager: Manager;
  settings: SpokeSettings;
}

/** Wires informers and controllers into a Manager; call `manager.run()` to start. */
export function createSpoke(opts: SpokeOptions): Spoke {
  const settings = settingsFrom(opts.env, opts.config);
  const manager = new Manager({ config: opts.config, connection: opts.connection, name: "kmm-spoke", ...(opts.logger ? { logger: opts.logger } : {}) });
  const raw = new RawClient(opts.connection);
  const recorder = new Recorder(raw, `kmm-spoke-${hostname()}`);
  const workers = opts.config.maxConcurrentReconciles;

  const nodes = manager.informer<Node>({ resource: { apiVersion: "v1", kind: "Node", plural: "nodes" }, schema: nodeSchema });
  const modules = manager.informer<Module>({ resource: { apiVersion: "kmm.sigs.x-k8s.io/v1beta1", kind: "Module", plural: "modules" }, schema: moduleSchema });
  // Only KMM's own pods and DaemonSets: the role label is on every one of them.
  const pods = manager.informer<Pod>({ resource: { apiVersion: "v1", kind: "Pod", plural: "pods" }, schema: podSchema, labelSelector: ROLE_LABEL });
  const daemonSets = manager.informer<DaemonSetRead>({
    resource: { apiVersion: "apps/v1", kind: "DaemonSet", plural: "daemonsets" },
    schema: daemonSetReadSchema,
    labelSelector: ROLE_LABEL,
  });

  const labeler = manager.addController(
    new Controller({ name: "node-kernel-label", reconcile: nodeKernelLabelReconciler(nodes, raw, recorder), logger: manager.logger, registry: manager.registry, maxConcurrentReconciles: workers }),
  );
  const moduleController = manager.addController(
    new Controller({
      name: "module",
      reconcile: moduleReconciler({ modules, nodes, pods, daemonSets, raw, recorder, settings, logger: manager.logger }),
      logger: manager.logger,
      registry: manager.registry,
      maxConcurrentReconciles: workers,
    }),
  );

  const enqueueModule = (o: { metadata: { name: string; namespace?: string | undefined } }): void => moduleController.enqueue(moduleKey(o.metadata.namespace ?? "", o.metadata.name));
  modules.onAdd((o) => enqueueModule({ metadata: { name: o.metadata.name ?? "", namespace: o.metadata.namespace } }));
  modules.onUpdate((o) => enqueueModule({ metadata: { name: o.metadata.name ?? "", namespace: o.metadata.namespace } }));
  const owned = (o: { metadata: { namespace?: string | undefined; labels?: Record<string, string> | undefined } }): void => {
    const name = o.metadata.labels?.[MODULE_NAME_LABEL];
    if (name !== undefined && o.metadata.namespace !== undefined) moduleController.enqueue(moduleKey(o.metadata.namespace, name));
  };
  for (const inf of [pods, daemonSets] as const) {
    inf.onAdd(owned);
    inf.onUpdate(owned);
    inf.onDelete(owned);
  }
  const allModules = (): void => {
    for (const m of modules.list()) moduleController.enqueue(moduleKey(m.metadata.namespace ?? "", m.metadata.name ?? ""));
  };
  nodes.onAdd((n) => {
    labeler.enqueue(n.metadata.name);
    allModules();
  });
  nodes.onUpdate((n, old) => {
    if (n.metadata.labels?.["kmm.node.kubernetes.io/kernel-version.full"] === undefined || nodeRelevantChange(n, old)) labeler.enqueue(n.metadata.name);
    if (nodeRelevantChange(n, old)) allModules();
  });
  nodes.onDelete(() => allModules());

  if (settings.managed) {
    const claims = manager.informer({
      resource: { apiVersion: CLUSTERCLAIM_API_VERSION, kind: "ClusterClaim", plural: "clusterclaims" },
      schema: clusterClaimSchema,
      fieldSelector: `metadata.name=${KERNEL_CLAIM_NAME}`,
    });
    const claim = manager.addController(
      new Controller({ name: "kernel-claim", reconcile: kernelClaimReconciler({ nodes, claims, raw, recorder, logger: manager.logger }), logger: manager.logger, registry: manager.registry }),
    );
    const poke = (): void => claim.enqueue(CLAIM_KEY);
    nodes.onAdd(poke);
    nodes.onUpdate((n, old) => {
      if (n.status?.nodeInfo?.kernelVersion !== old?.status?.nodeInfo?.kernelVersion) poke();
    });
    nodes.onDelete(poke);
    claims.onAdd(poke);
    claims.onUpdate(poke);
    claims.onDelete(poke);
  }
  return { manager, settings };
}

export const SPOKE_USAGE = `usage: kmm-spoke [--config FILE] [--health-probe-bind-address ADDR] [--metrics-bind-address ADDR]
The spoke edition (KMM_MANAGED=1: managed by the hub). It talks to the API server of $KUBECONFIG,
~/.kube/config or, in a pod, its ServiceAccount's; it takes no --kubeconfig.`;

async function main(argv: readonly string[]): Promise<number> {
  const config = await configFromArgs(argv);
  const connection = await defaultConnection({ kubeconfigFlag: false });
  const { manager } = createSpoke({ connection, config, env: process.env });
  manager.handleSignals();
  await manager.run();
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // --help: usage, exit 0; an unknown flag (--kubeconfig too): one line and a hint, exit 2; no cluster, bad config: one line, exit 1.
  const argv = process.argv.slice(2);
  await runCommandLine({ name: "kmm-spoke", usage: SPOKE_USAGE, helpCommand: "kmm-spoke --help" }, argv, () => main(argv));
}
