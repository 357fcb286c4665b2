// Tests of the fleet fixture's real node (e2e/controlplane/node-agent), not of the product: pods
// bound to spoke1's real node really run as podman containers from the fleet's registry, with
// the pod spec's volumes, environment, security context, probes, restarts and termination.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { RawClient, isNotFound } from "../shared/kube/raw.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { REAL_NODE_LABEL } from "./controlplane/node-agent/node.ts";
import { globalFlags } from "./controlplane/node-agent/podman.ts";
import { pushBusybox, registryPullSecret } from "./controlplane/node-agent/test-images.ts";
import { eventually } from "./support/clients.ts";

const run = promisify(execFile);
const fleet = inject("fleet");
const cluster = fleet.spokes[0]!;
const node = cluster.realNode;
const registry = fleet.registry;
if (node === undefined || registry === undefined) throw new Error("this suite needs a fleet with real nodes (startFleet({ realNodes: true }))");
const raw = new RawClient(await connectionFrom(cluster.kubeconfig));
const ns = `e2e-node-${randomBytes(3).toString("hex")}`;
let image = "";
/** pushed but never pulled before its test: the pull secret is checked */
let privateImage = "";

const containerStatusSchema = z.looseObject({
  name: z.string(),
  ready: z.boolean(),
  restartCount: z.number(),
  imageID: z.string().optional(),
  state: z.looseObject({
    waiting: z.looseObject({ reason: z.string(), message: z.string().optional() }).optional(),
    running: z.looseObject({}).optional(),
    terminated: z.looseObject({ exitCode: z.number(), reason: z.string(), message: z.string().optional() }).optional(),
  }),
  lastState: z.looseObject({ terminated: z.looseObject({ exitCode: z.number() }).optional() }).optional(),
});
const podSchema = z.looseObject({
  metadata: z.looseObject({ uid: z.string() }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      podIP: z.string().optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).optional(),
      initContainerStatuses: z.array(containerStatusSchema).optional(),
      containerStatuses: z.array(containerStatusSchema).optional(),
    })
    .optional(),
});
type PodRead = z.infer<typeof podSchema>;

/** Pins a pod to the real node (nodeName, toleration of its taint) and pulls with the fleet's secret. */
function pod(name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: {
      nodeName: node!.name,
      tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
      imagePullSecrets: [{ name: "fleet-registry" }],
      terminationGracePeriodSeconds: 5,
      ...spec,
    },
  };
}

async function create(obj: { metadata: { name: string } }): Promise<void> {
  await raw.request("POST", `/api/v1/namespaces/${ns}/pods`, obj);
}

async function read(name: string): Promise<PodRead> {
  return podSchema.parse((await raw.request("GET", `/api/v1/namespaces/${ns}/pods/${name}`)).body);
}

async function podmanPs(filter: string): Promise<string[]> {
  const { stdout } = await run("podman", [...globalFlags(node!.storage), "ps", "--all", "--quiet", "--filter", filter]);
  return stdout.split("\n").filter(Boolean);
}

beforeAll(async () => {
  await raw.request("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });
  await raw.request("POST", `/api/v1/namespaces/${ns}/secrets`, registryPullSecret(registry, ns));
  image = (await pushBusybox(registry, "e2e/busybox", "1")).ref;
  privateImage = (await pushBusybox(registry, "e2e/private", "1")).ref;
  // The ServiceAccount controller creates "default" shortly after the namespace.
  await eventually("default ServiceAccount", async () => (await raw.request("GET", `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200);
});

afterAll(async () => {
  await raw.request("DELETE", `/api/v1/namespaces/${ns}`).catch(() => undefined);
  raw.close();
});

describe("the real node", () => {
  it("is a Ready Node with the fleet's kernel, tainted so that only pods that opt in land on it", async () => {
    const n = z
      .looseObject({
        metadata: z.looseObject({ labels: z.record(z.string(), z.string()) }),
        spec: z.looseObject({ taints: z.array(z.looseObject({ key: z.string(), effect: z.string() })) }),
        status: z.looseObject({ nodeInfo: z.looseObject({ kernelVersion: z.string() }), conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })) }),
      })
      .parse((await raw.request("GET", `/api/v1/nodes/${node.name}`)).body);
    expect(n.status.nodeInfo.kernelVersion).toBe(node.kernelVersion);
    expect(n.status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    expect(n.metadata.labels[REAL_NODE_LABEL]).toBe("true");
    expect(n.spec.taints).toContainEqual(expect.objectContaining({ key: REAL_NODE_LABEL, effect: "NoSchedule" }));
    // The heartbeat keeps the node's Lease fresh, as a kubelet does.
    const lease = z.looseObject({ spec: z.looseObject({ renewTime: z.string() }) }).parse((await raw.request("GET", `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node.name}`)).body);
    expect(Date.now() - Date.parse(lease.spec.renewTime)).toBeLessThan(30_000);
  });

  it("runs init containers, then containers, with env, volumes, the security context and a real ServiceAccount token", async () => {
    await raw.request("POST", `/api/v1/namespaces/${ns}/configmaps`, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "cfg" }, data: { greeting: "hello", "file.txt": "from a configmap" } });
    await raw.request("POST", `/api/v1/namespaces/${ns}/secrets`, { apiVersion: "v1", kind: "Secret", metadata: { name: "sec" }, stringData: { password: "s3cret", FROM_ENVFROM: "yes" } });
    const marker = randomBytes(4).toString("hex");
    const script = [
      "set -e",
      `echo "$GREETING $PASSWORD $POD_NAME $NODE_NAME $S_FROM_ENVFROM $EXPANDED $POD_IP $HOST_IP" > /out/env`,
      "cat /cfg/file.txt > /out/cfg; cat /sec/password > /out/sec; cat /info/labels > /out/labels",
      "cat /copied/init > /out/init",
      "id -u > /out/uid; id -G > /out/groups",
      "grep CapBnd /proc/self/status > /out/caps",
      "if touch /rootfs-write 2>/dev/null; then echo writable > /out/ro; else echo read-only > /out/ro; fi",
      `echo ${marker} > /host-modules/marker`,
      "cat /var/run/secrets/kubernetes.io/serviceaccount/token > /dev/termination-log",
    ].join("\n");
    await create(
      pod("job", {
        restartPolicy: "Never",
        initContainers: [
          {
            name: "init",
            image,
            // Root prepares the folders the unprivileged container writes to, as on a real node.
            command: ["sh", "-c", "echo init-ran | tee /shared/init; chmod 777 /out /host-modules"],
            volumeMounts: [{ name: "shared", mountPath: "/shared" }, { name: "out", mountPath: "/out" }, { name: "modules", mountPath: "/host-modules" }],
          },
        ],
        containers: [
          {
            name: "main",
            image,
            command: ["sh", "-c", script],
            env: [
              { name: "GREETING", valueFrom: { configMapKeyRef: { name: "cfg", key: "greeting" } } },
              { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "sec", key: "password" } } },
              { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
              { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
              { name: "EXPANDED", value: "$(GREETING)-world" },
              { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
              { name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
            ],
            envFrom: [{ prefix: "S_", secretRef: { name: "sec" } }],
            securityContext: { runAsUser: 1000, runAsGroup: 1000, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"], add: ["SYS_MODULE"] } },
            volumeMounts: [
              { name: "shared", mountPath: "/copied" },
              { name: "out", mountPath: "/out" },
              { name: "cfg", mountPath: "/cfg" },
              { name: "sec", mountPath: "/sec" },
              { name: "info", mountPath: "/info" },
              { name: "modules", mountPath: "/host-modules" },
            ],
          },
        ],
        volumes: [
          { name: "shared", emptyDir: {} },
          { name: "out", hostPath: { path: `/var/lib/e2e-out/${ns}`, type: "DirectoryOrCreate" } },
          { name: "cfg", configMap: { name: "cfg" } },
          { name: "sec", secret: { secretName: "sec" } },
          { name: "info", downwardAPI: { items: [{ path: "labels", fieldRef: { fieldPath: "metadata.labels" } }] } },
          { name: "modules", hostPath: { path: "/lib/modules", type: "DirectoryOrCreate" } },
        ],
        securityContext: { supplementalGroups: [4242] },
      }),
    );
    const done = await eventually("pod job to end", async () => {
      const p = await read("job");
      return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined;
    }, 120_000);
    expect(done.status?.phase, JSON.stringify(done.status?.containerStatuses)).toBe("Succeeded");
    const main = done.status?.containerStatuses?.[0];
    expect(main?.state.terminated).toMatchObject({ exitCode: 0, reason: "Completed" });
    expect(done.status?.initContainerStatuses?.[0]?.state.terminated).toMatchObject({ exitCode: 0, reason: "Completed" });
    expect(main?.imageID).toMatch(/@sha256:[0-9a-f]{64}$/);
    // The node's own loopback address (not the hub's 127.0.0.1): its InternalIP, the pod's podIP and hostIP.
    expect(node.hostIP).not.toBe("127.0.0.1");
    expect(done.status?.podIP).toBe(node.hostIP);
    const addresses = z.looseObject({ status: z.looseObject({ addresses: z.array(z.looseObject({ type: z.string(), address: z.string() })) }) });
    expect(addresses.parse((await raw.request("GET", `/api/v1/nodes/${node.name}`)).body).status.addresses).toContainEqual({ type: "InternalIP", address: node.hostIP });

    const out = (f: string) => readFile(join(node.hostRoot, "var/lib/e2e-out", ns, f), "utf8").then((s) => s.trim());
    expect(await out("env")).toBe(`hello s3cret job ${node.name} yes hello-world ${node.hostIP} ${node.hostIP}`);
    expect(await out("cfg")).toBe("from a configmap");
    expect(await out("sec")).toBe("s3cret");
    expect(await out("labels")).toBe('app="job"');
    expect(await out("init")).toBe("init-ran");
    expect(await out("uid")).toBe("1000");
    expect((await out("groups")).split(" ")).toEqual(expect.arrayContaining(["1000", "4242"]));
    expect(await out("caps")).toMatch(/CapBnd:\s+0000000000010000/); // SYS_MODULE only
    expect(await out("ro")).toBe("read-only");
    // hostPath /lib/modules is the node's own folder, never the machine's.
    expect((await readFile(join(node.hostRoot, "lib/modules/marker"), "utf8")).trim()).toBe(marker);

    // The token came from the TokenRequest API, bound to this pod: the API server accepts it.
    const token = main?.state.terminated?.message ?? "";
    const review = z
      .looseObject({ status: z.looseObject({ authenticated: z.boolean().optional(), user: z.looseObject({ username: z.string(), extra: z.record(z.string(), z.array(z.string())).optional() }).optional() }) })
      .parse((await raw.request("POST", "/apis/authentication.k8s.io/v1/tokenreviews", { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } })).body);
    expect(review.status.authenticated).toBe(true);
    expect(review.status.user?.username).toBe(`system:serviceaccount:${ns}:default`);
    expect(review.status.user?.extra?.["authentication.kubernetes.io/pod-uid"]).toEqual([done.metadata.uid]);

    // One log file per container, in the CRI format.
    const log = await readFile(join(cluster.logDir, `${node.name}_${ns}_job_init.log`), "utf8");
    expect(log).toMatch(/^\S+ stdout F init-ran$/m);
    expect(await podmanPs(`label=e2e.kmm.sigs.x-k8s.io/pod-uid=${done.metadata.uid}`)).toEqual([]);
  });

  it("reports an image it cannot pull without the pod's pull secret (kwok never makes this pod Running)", async () => {
    await create(pod("no-secret", { imagePullSecrets: [], containers: [{ name: "c", image: privateImage, command: ["sleep", "100"] }] }));
    const waiting = await eventually("ErrImagePull or ImagePullBackOff", async () => {
      const s = (await read("no-secret")).status?.containerStatuses?.[0]?.state.waiting;
      return s !== undefined && (s.reason === "ErrImagePull" || s.reason === "ImagePullBackOff") ? s : undefined;
    });
    expect(waiting.message).toMatch(/unauthorized|authentication required/i);
    expect((await read("no-secret")).status?.phase).toBe("Pending");
  });

  it("restarts a failing container with back-off (restartPolicy Always) and keeps its last state", async () => {
    await create(pod("crash", { containers: [{ name: "c", image, command: ["sh", "-c", "echo bye; exit 3"] }] }));
    const s = await eventually("a restart", async () => {
      const c = (await read("crash")).status?.containerStatuses?.[0];
      return c !== undefined && c.restartCount >= 1 ? c : undefined;
    }, 60_000);
    expect(s.lastState?.terminated?.exitCode).toBe(3);
    expect((await read("crash")).status?.phase).toBe("Running");
    const log = await readFile(join(cluster.logDir, `${node.name}_${ns}_crash_c.log`), "utf8");
    expect(log).toMatch(/^\S+ stdout F bye$/m);
  });

  it("turns Ready when the readiness probe passes", async () => {
    await create(
      pod("probe", {
        containers: [
          {
            name: "c",
            image,
            command: ["sh", "-c", "sleep 3; touch /tmp/ready; exec sleep 1000"],
            readinessProbe: { exec: { command: ["cat", "/tmp/ready"] }, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      }),
    );
    const running = await eventually("container running", async () => {
      const p = await read("probe");
      return p.status?.containerStatuses?.[0]?.state.running !== undefined ? p : undefined;
    });
    expect(running.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("False");
    await eventually("pod Ready", async () => (await read("probe")).status?.conditions?.find((c) => c.type === "Ready")?.status === "True");
  });

  it("on deletion sends SIGTERM, waits the grace period, then SIGKILLs; the pod and its containers go", async () => {
    const trap = "trap 'echo TERM > /out/term; exit 0' TERM; while true; do sleep 0.2; done";
    const ignore = "trap '' TERM; while true; do sleep 0.2; done";
    const out = { name: "out", hostPath: { path: `/var/lib/e2e-term/${ns}`, type: "DirectoryOrCreate" } };
    await create(pod("graceful", { containers: [{ name: "c", image, command: ["sh", "-c", trap], volumeMounts: [{ name: "out", mountPath: "/out" }] }], volumes: [out] }));
    await create(pod("stubborn", { terminationGracePeriodSeconds: 3, containers: [{ name: "c", image, command: ["sh", "-c", ignore] }] }));
    const uids = new Map<string, string>();
    for (const name of ["graceful", "stubborn"]) {
      const p = await eventually(`${name} running`, async () => {
        const r = await read(name);
        return r.status?.phase === "Running" ? r : undefined;
      });
      uids.set(name, p.metadata.uid);
    }
    const gone = async (name: string): Promise<number> => {
      const t0 = Date.now();
      await raw.request("DELETE", `/api/v1/namespaces/${ns}/pods/${name}`);
      await eventually(`${name} deleted`, async () => {
        try {
          await read(name);
          return false;
        } catch (err) {
          return isNotFound(err);
        }
      }, 60_000);
      return Date.now() - t0;
    };
    const [graceful, stubborn] = await Promise.all([gone("graceful"), gone("stubborn")]);
    expect((await readFile(join(node.hostRoot, "var/lib/e2e-term", ns, "term"), "utf8")).trim()).toBe("TERM");
    expect(graceful).toBeLessThan(3000 + 5000);
    expect(stubborn).toBeGreaterThanOrEqual(3000);
    for (const uid of uids.values()) expect(await podmanPs(`label=e2e.kmm.sigs.x-k8s.io/pod-uid=${uid}`)).toEqual([]);
  });

  it("runs a Deployment's pods that tolerate its taint, which the Deployment then counts available", async () => {
    await raw.request("POST", `/apis/apps/v1/namespaces/${ns}/deployments`, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            nodeSelector: { [REAL_NODE_LABEL]: "true" },
            tolerations: [{ key: REAL_NODE_LABEL, operator: "Exists", effect: "NoSchedule" }],
            imagePullSecrets: [{ name: "fleet-registry" }],
            containers: [{ name: "c", image, command: ["sleep", "1000"] }],
          },
        },
      },
    });
    await eventually("Deployment available", async () => {
      const d = z.looseObject({ status: z.looseObject({ availableReplicas: z.number().optional() }).optional() }).parse((await raw.request("GET", `/apis/apps/v1/namespaces/${ns}/deployments/web`)).body);
      return d.status?.availableReplicas === 1;
    }, 90_000);
  });
});
