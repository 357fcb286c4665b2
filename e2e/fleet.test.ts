// The local fleet itself: real OCM agents move ManifestWorks and claims between clusters,
// kwok plays the kubelets, and RBAC is enforced.
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { ApiException } from "@kubernetes/client-node";
import { describe, expect, inject, it } from "vitest";
import { startFleet } from "./controlplane/fleet.ts";
import { clientsFor, eventually } from "./support/clients.ts";

const fleet = inject("fleet");
const hub = clientsFor(fleet.hub.kubeconfig);
const spoke1Info = fleet.spokes[0]!;
const spoke1 = clientsFor(spoke1Info.kubeconfig);
const suffix = randomBytes(3).toString("hex");

type Cond = { type: string; status: string };
const isTrue = (conds: Cond[] | undefined, type: string) => (conds ?? []).some((c) => c.type === type && c.status === "True");

describe("local fleet", () => {
  it("has a hub and two joined spokes reporting the pinned Kubernetes version", async () => {
    expect(fleet.spokes.map((s) => s.name)).toEqual(["spoke1", "spoke2"]);
    const list = (await hub.custom.listClusterCustomObject({ group: "cluster.open-cluster-management.io", version: "v1", plural: "managedclusters" })) as {
      items: { metadata: { name: string }; spec: { hubAcceptsClient?: boolean }; status?: { conditions?: Cond[] } }[];
    };
    const joined = list.items.filter((mc) => mc.spec.hubAcceptsClient && isTrue(mc.status?.conditions, "ManagedClusterJoined"));
    expect(joined.map((mc) => mc.metadata.name).sort()).toEqual(["spoke1", "spoke2"]);
    const version = await fetchVersion();
    expect(version).toMatch(/^v1\.34\.\d+$/);
  });

  it("applies a ManifestWork to its spoke with the real work agent and reports status back", async () => {
    const name = `e2e-cm-${suffix}`;
    const work = {
      apiVersion: "work.open-cluster-management.io/v1",
      kind: "ManifestWork",
      metadata: { name, namespace: spoke1Info.name },
      spec: {
        workload: {
          manifests: [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "default" }, data: { hello: "spoke" } }],
        },
        manifestConfigs: [
          {
            resourceIdentifier: { resource: "configmaps", name, namespace: "default" },
            feedbackRules: [{ type: "JSONPaths", jsonPaths: [{ name: "hello", path: ".data.hello" }] }],
          },
        ],
      },
    };
    await hub.custom.createNamespacedCustomObject({ group: "work.open-cluster-management.io", version: "v1", namespace: spoke1Info.name, plural: "manifestworks", body: work });

    const cm = await eventually("ConfigMap on spoke1", async () => spoke1.core.readNamespacedConfigMap({ name, namespace: "default" }).catch(() => undefined));
    expect(cm.data).toEqual({ hello: "spoke" });

    type WorkStatus = { status?: { conditions?: Cond[]; resourceStatus?: { manifests?: { statusFeedback?: { values?: { name: string; fieldValue: { string?: string } }[] } }[] } } };
    const done = await eventually("ManifestWork Applied, Available and feedback on the hub", async () => {
      const w = (await hub.custom.getNamespacedCustomObject({ group: "work.open-cluster-management.io", version: "v1", namespace: spoke1Info.name, plural: "manifestworks", name })) as WorkStatus;
      const values = w.status?.resourceStatus?.manifests?.[0]?.statusFeedback?.values ?? [];
      return isTrue(w.status?.conditions, "Applied") && isTrue(w.status?.conditions, "Available") && values.length > 0 ? values : undefined;
    });
    expect(done).toEqual([{ name: "hello", fieldValue: { type: "String", string: "spoke" } }]);

    // Deleting the work removes what it applied.
    await hub.custom.deleteNamespacedCustomObject({ group: "work.open-cluster-management.io", version: "v1", namespace: spoke1Info.name, plural: "manifestworks", name });
    await eventually("ConfigMap removed from spoke1", async () =>
      spoke1.core.readNamespacedConfigMap({ name, namespace: "default" }).then(() => false, (e: unknown) => e instanceof ApiException && e.code === 404),
    );
  });

  it("copies a spoke's ClusterClaim into the hub's ManagedCluster status", async () => {
    const claimName = `e2e.kmm.node.kubernetes.io`;
    const value = `claim-${suffix}`;
    await spoke1.objects.patch(
      { apiVersion: "cluster.open-cluster-management.io/v1alpha1", kind: "ClusterClaim", metadata: { name: claimName }, spec: { value } } as never,
      undefined, undefined, "kmm-e2e", true, "application/apply-patch+yaml",
    );
    const claims = await eventually("claim on the hub", async () => {
      const mc = (await hub.custom.getClusterCustomObject({ group: "cluster.open-cluster-management.io", version: "v1", plural: "managedclusters", name: spoke1Info.name })) as {
        status?: { clusterClaims?: { name: string; value: string }[] };
      };
      const c = mc.status?.clusterClaims?.find((x) => x.name === claimName);
      return c?.value === value ? mc.status?.clusterClaims : undefined;
    }, 120_000);
    expect(claims).toContainEqual({ name: claimName, value });
  });

  it("makes a kwok Node Ready, keeps its kernel version, and runs a DaemonSet pod on it", async () => {
    const node = `e2e-node-${suffix}`;
    const kernel = "5.14.0-70.el9.x86_64";
    await spoke1.core.createNode({
      body: {
        metadata: { name: node, labels: { "kubernetes.io/hostname": node, "kmm-e2e": suffix }, annotations: { "kwok.x-k8s.io/node": "fake" } },
        spec: {},
        status: { nodeInfo: { kernelVersion: kernel, architecture: "amd64", bootID: "", containerRuntimeVersion: "", kubeProxyVersion: "", kubeletVersion: "", machineID: "", operatingSystem: "linux", osImage: "", systemUUID: "" } },
      },
    });
    const ready = await eventually("node Ready", async () => {
      const n = await spoke1.core.readNode({ name: node });
      return isTrue(n.status?.conditions, "Ready") ? n : undefined;
    });
    expect(ready.status?.nodeInfo?.kernelVersion).toBe(kernel);

    const ds = `e2e-ds-${suffix}`;
    await spoke1.apps.createNamespacedDaemonSet({
      namespace: "default",
      body: {
        metadata: { name: ds },
        spec: {
          selector: { matchLabels: { app: ds } },
          template: {
            metadata: { labels: { app: ds } },
            spec: { nodeSelector: { "kmm-e2e": suffix }, containers: [{ name: "c", image: "registry.example/kmm/e2e:1" }] },
          },
        },
      },
    });
    const pod = await eventually("DaemonSet pod Running", async () => {
      const pods = await spoke1.core.listNamespacedPod({ namespace: "default", labelSelector: `app=${ds}` });
      return pods.items.find((p) => p.status?.phase === "Running");
    });
    expect(pod.spec?.nodeName).toBe(node);
    await spoke1.apps.deleteNamespacedDaemonSet({ name: ds, namespace: "default" });
    await spoke1.core.deleteNode({ name: node });
  });

  it("enforces RBAC: a user without bindings gets 403", async () => {
    const nobody = clientsFor(fleet.hub.users["kmm-e2e-nobody"]!);
    const err = await nobody.core.listNamespacedPod({ namespace: "default" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(403);
    // …while the same request as cluster admin succeeds.
    await expect(hub.core.listNamespacedPod({ namespace: "default" })).resolves.toBeDefined();
  });
});

describe("fleets side by side", () => {
  it("starts a second fleet next to the shared one, and stopping it leaves no process behind", async () => {
    const second = await startFleet({ spokes: 1 });
    try {
      expect(second.info.dir).not.toBe(fleet.dir);
      expect(second.info.hub.server).not.toBe(fleet.hub.server);
      const secondHub = clientsFor(second.info.hub.kubeconfig);
      const mcs = (await secondHub.custom.listClusterCustomObject({ group: "cluster.open-cluster-management.io", version: "v1", plural: "managedclusters" })) as {
        items: { metadata: { name: string } }[];
      };
      expect(mcs.items.map((m) => m.metadata.name)).toEqual(["spoke1"]);
      // The shared fleet is untouched by the second one.
      await expect(hub.core.listNamespace()).resolves.toBeDefined();
    } finally {
      await second.stop();
    }
    const alive = second.group.processes.filter((p) => isAlive(p.pid));
    expect(alive.map((p) => p.name)).toEqual([]);
    // Its data (etcd, certificates) is gone; only the logs stay for reading.
    expect(await readdir(second.info.dir)).toEqual(["logs"]);
    await expect(hub.core.listNamespace()).resolves.toBeDefined();
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function fetchVersion(): Promise<string> {
  const { VersionApi } = await import("@kubernetes/client-node");
  const v = await hub.kc.makeApiClient(VersionApi).getCode();
  return v.gitVersion;
}
