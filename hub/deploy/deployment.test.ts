// The shipped hub Deployment agrees with what it deploys: the config schema, the ports that config
// opens, the heap settings, the ServiceAccount of rbac.yaml, and leader election for >1 replica.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseKubeDocuments } from "../../shared/yaml/read.ts";
import { z } from "zod";
import { parseConfig } from "../../shared/runtime/config.ts";
import { HEAP_SETTINGS, nodeCommand, processEnv } from "../../shared/runtime/node-options.ts";

const NAMESPACE = "kmm-hub";

const objectSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().min(1), namespace: z.string().optional(), labels: z.record(z.string(), z.string()).optional() }),
});

function readObjects(file: string): z.infer<typeof objectSchema>[] {
  return parseKubeDocuments(readFileSync(new URL(file, import.meta.url), "utf8")).map((doc, i) => {
    expect(doc.errors, `${file} document ${i + 1}`).toEqual([]);
    return objectSchema.parse(doc.toJS());
  });
}

const portRef = z.union([z.number().int(), z.string().min(1)]);
const probeSchema = z.looseObject({ httpGet: z.looseObject({ path: z.string(), port: portRef }) });
const containerSchema = z.looseObject({
  name: z.string(),
  image: z.string(),
  command: z.array(z.string()),
  args: z.array(z.string()),
  env: z.array(z.looseObject({ name: z.string(), value: z.string().optional(), valueFrom: z.looseObject({ fieldRef: z.looseObject({ fieldPath: z.string() }).optional() }).optional() })),
  ports: z.array(z.looseObject({ name: z.string(), containerPort: z.number().int() })),
  livenessProbe: probeSchema,
  readinessProbe: probeSchema,
  resources: z.looseObject({
    requests: z.looseObject({ memory: z.string(), cpu: z.string().optional() }),
    limits: z.looseObject({ memory: z.string() }),
  }),
  securityContext: z.looseObject({
    allowPrivilegeEscalation: z.literal(false),
    readOnlyRootFilesystem: z.literal(true),
    capabilities: z.looseObject({ drop: z.array(z.string()) }),
  }),
  volumeMounts: z.array(z.looseObject({ name: z.string(), mountPath: z.string(), readOnly: z.boolean().optional() })),
});
const deploymentSchema = objectSchema.extend({
  kind: z.literal("Deployment"),
  spec: z.looseObject({
    replicas: z.number().int().min(1),
    selector: z.looseObject({ matchLabels: z.record(z.string(), z.string()) }),
    template: z.looseObject({
      metadata: z.looseObject({ labels: z.record(z.string(), z.string()) }),
      spec: z.looseObject({
        serviceAccountName: z.string(),
        securityContext: z.looseObject({ runAsNonRoot: z.literal(true), seccompProfile: z.looseObject({ type: z.literal("RuntimeDefault") }) }),
        topologySpreadConstraints: z.array(z.looseObject({ topologyKey: z.string(), whenUnsatisfiable: z.string() })).optional(),
        containers: z.array(containerSchema).length(1),
        volumes: z.array(z.looseObject({ name: z.string(), configMap: z.looseObject({ name: z.string() }).optional() })),
      }),
    }),
  }),
});
const configMapSchema = objectSchema.extend({ kind: z.literal("ConfigMap"), data: z.record(z.string(), z.string()) });
const serviceSchema = objectSchema.extend({
  kind: z.literal("Service"),
  spec: z.looseObject({ selector: z.record(z.string(), z.string()), ports: z.array(z.looseObject({ name: z.string(), port: z.number().int(), targetPort: portRef })) }),
});

const objects = readObjects("./deployment.yaml");
const rbac = readObjects("./rbac.yaml");
const deployment = deploymentSchema.parse(objects.find((o) => o.kind === "Deployment"));
const pod = deployment.spec.template.spec;
const container = pod.containers[0]!;

/** The ConfigMap key that the --config argument reads, through the container's volume mounts. */
function configFile(): { map: z.infer<typeof configMapSchema>; key: string } {
  const args = container.args;
  const path = args[args.indexOf("--config") + 1];
  expect(args).toContain("--config");
  if (path === undefined) throw new Error("--config has no value");
  const mount = container.volumeMounts.find((m) => path.startsWith(`${m.mountPath}/`));
  if (mount === undefined) throw new Error(`--config ${path} is not under any volume mount`);
  const volume = pod.volumes.find((v) => v.name === mount.name);
  const mapName = volume?.configMap?.name;
  if (mapName === undefined) throw new Error(`volume ${mount.name} is not a ConfigMap`);
  const map = configMapSchema.parse(objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === mapName));
  return { map, key: path.slice(mount.mountPath.length + 1) };
}

const { map: configMap, key: configKey } = configFile();
const configText = configMap.data[configKey];
const config = parseConfig(configText ?? "", "hub", `ConfigMap ${configMap.metadata.name} key ${configKey}`);

function bindPort(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

function containerPort(ref: number | string): number {
  if (typeof ref === "number") return ref;
  const p = container.ports.find((x) => x.name === ref);
  if (p === undefined) throw new Error(`no container port named ${ref}`);
  return p.containerPort;
}

describe("hub/deploy/deployment.yaml", () => {
  it("puts every object in the kmm-hub namespace", () => {
    expect(objects.map((o) => o.kind).sort()).toEqual(["ConfigMap", "Deployment", "Service"]);
    for (const o of objects) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(NAMESPACE);
  });

  it("ships a config file the hub accepts, with probes, secure metrics and leader election on", () => {
    expect(configText).toBeDefined();
    expect(config.healthProbeBindAddress).not.toBe("0");
    expect(config.metrics.bindAddress).not.toBe("0");
    expect(config.metrics.secureServing).toBe(true);
    expect(config.metrics.enableAuthnAuthz).toBe(true);
    expect(config.leaderElection.enabled).toBe(true);
  });

  it("probes and exposes the ports that config opens", () => {
    const probePort = bindPort(config.healthProbeBindAddress);
    expect(probePort).toBe(8081);
    expect(container.livenessProbe.httpGet).toMatchObject({ path: "/healthz" });
    expect(container.readinessProbe.httpGet).toMatchObject({ path: "/readyz" });
    expect(containerPort(container.livenessProbe.httpGet.port)).toBe(probePort);
    expect(containerPort(container.readinessProbe.httpGet.port)).toBe(probePort);
    const metricsPort = bindPort(config.metrics.bindAddress);
    expect(metricsPort).toBe(8443);
    expect(containerPort("metrics")).toBe(metricsPort);
    const service = serviceSchema.parse(objects.find((o) => o.kind === "Service"));
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports.map((p) => containerPort(p.targetPort))).toEqual([metricsPort]);
  });

  it("runs with the heap settings and memory limit of node-options.ts", () => {
    const env = new Map(container.env.map((e) => [e.name, e]));
    for (const e of processEnv(HEAP_SETTINGS.hub)) expect(env.get(e.name)?.value).toBe(e.value);
    expect(container.resources.limits.memory).toBe(`${HEAP_SETTINGS.hub.containerLimitMiB}Mi`);
    const request = /^(\d+)Mi$/.exec(container.resources.requests.memory);
    expect(Number(request?.[1])).toBeGreaterThan(0);
    expect(Number(request?.[1])).toBeLessThanOrEqual(HEAP_SETTINGS.hub.containerLimitMiB);
    // The hub finds its namespace (pull secrets, Lease) through POD_NAMESPACE.
    expect(env.get("POD_NAMESPACE")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.namespace");
    // The Lease names the leading pod (shared/runtime/manager.ts defaultIdentity).
    expect(env.get("POD_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
  });

  it("runs the built hub CLI's run command; its images are the bare names that images/manifests.ts replaces by digests", () => {
    expect([...container.command, ...container.args.slice(0, 2)]).toEqual([...nodeCommand(HEAP_SETTINGS.hub, "dist/hub/cli.js"), "run"]);
    expect(container.image).toBe("kmm-hub");
    expect(container.env.find((e) => e.name === "RELATED_IMAGE_SIGN")?.value).toBe("kmm-hub-signer");
  });

  it("runs as the ServiceAccount that rbac.yaml grants, in the same namespace", () => {
    const sa = rbac.filter((o) => o.kind === "ServiceAccount");
    expect(sa.map((o) => [o.metadata.namespace, o.metadata.name])).toEqual([[NAMESPACE, pod.serviceAccountName]]);
    const bound = rbac.flatMap((o) => {
      const subjects = z.object({ subjects: z.array(z.looseObject({ kind: z.string(), name: z.string(), namespace: z.string().optional() })).optional() }).parse(o).subjects ?? [];
      return subjects.filter((s) => s.kind === "ServiceAccount").map((s) => `${s.namespace ?? ""}/${s.name}`);
    });
    expect(bound.length).toBeGreaterThan(0);
    expect(new Set(bound)).toEqual(new Set([`${NAMESPACE}/${pod.serviceAccountName}`]));
  });

  it("runs several replicas only with leader election, spread over nodes", () => {
    expect(deployment.spec.replicas).toBeGreaterThan(1);
    expect(config.leaderElection.enabled).toBe(true);
    const spread = pod.topologySpreadConstraints?.find((c) => c.topologyKey === "kubernetes.io/hostname");
    expect(spread?.whenUnsatisfiable).toBe("ScheduleAnyway");
  });

  it("selects its own pods, with the restricted pod security profile", () => {
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(container.securityContext.capabilities.drop).toEqual(["ALL"]);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });
});
