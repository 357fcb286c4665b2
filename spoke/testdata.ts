// Modules and nodes for the spoke edition's unit tests.
import { moduleSchema, type Module } from "../shared/api/module.ts";
import type { Node, Pod } from "./objects.ts";
import type { SpokeSettings } from "./settings.ts";

export const settings: SpokeSettings = {
  workerImage: "registry.example.com/kmm/worker:v1",
  operatorNamespace: "kmm-operator-system",
  managed: true,
  runAsUser: 0,
  seLinuxType: "spc_t",
  firmwareHostPath: "/var/lib/firmware",
};

export function module(overrides: { namespace?: string; spec?: Record<string, unknown>; container?: Record<string, unknown>; metadata?: Record<string, unknown> } = {}): Module {
  return moduleSchema.parse({
    apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
    kind: "Module",
    metadata: { name: "kmod-a", namespace: overrides.namespace ?? "apps", uid: "uid-1", generation: 3, ...overrides.metadata },
    spec: {
      selector: { "node-role.kubernetes.io/worker": "" },
      imageRepoSecret: { name: "pull-secret" },
      moduleLoader: {
        container: {
          modprobe: { moduleName: "kmod_a", parameters: ["debug=1"] },
          kernelMappings: [
            { literal: "6.1.0-18-amd64", containerImage: "registry.example.com/kmod-a:6.1" },
            { regexp: "^5\\.14\\..*$", containerImage: "registry.example.com/kmod-a:${KERNEL_FULL_VERSION}" },
          ],
          ...overrides.container,
        },
      },
      ...overrides.spec,
    },
  });
}

export function node(name: string, kernel: string, extra: { labels?: Record<string, string>; unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] } = {}): Node {
  return {
    metadata: { name, labels: { "node-role.kubernetes.io/worker": "", ...extra.labels } },
    spec: { ...(extra.unschedulable !== undefined ? { unschedulable: extra.unschedulable } : {}), ...(extra.taints ? { taints: extra.taints } : {}) },
    status: { nodeInfo: { kernelVersion: kernel } },
  };
}

export function pod(name: string, nodeName: string, labels: Record<string, string>, ready: boolean, namespace = "apps"): Pod {
  return {
    metadata: { name, namespace, labels },
    spec: { nodeName },
    status: { phase: "Running", conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
  };
}
