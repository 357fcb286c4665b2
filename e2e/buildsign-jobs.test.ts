// The build and sign Jobs of hub/buildsign as the hub API server sees them, sent by the hub's own
// ServiceAccount under the shipped hub/deploy/rbac.yaml: created for real in the hub namespace
// (schema, defaulting, OwnerReferencesPermissionEnforcement), refused in any other namespace, and
// the sign Job's pod admitted under the "restricted" Pod Security Standard.
import { randomBytes } from "node:crypto";
import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { managedClusterModuleSchema, type ManagedClusterModule } from "../shared/api/index.ts";
import { ApiError, RawClient } from "../shared/kube/raw.ts";
import { resolveKernelMapping } from "../shared/kernel-mapping/kernel-mapping.ts";
import { buildJob } from "../hub/buildsign/build-job.ts";
import type { Job } from "../hub/buildsign/job.ts";
import { signJob } from "../hub/buildsign/sign-job.ts";
import { moduleContext } from "../hub/manifestwork.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor } from "./support/clients.ts";
import { applyManifests, readManifests } from "./support/manifests.ts";
import { serviceAccountConnection } from "./support/service-account.ts";

const fleet = inject("fleet");
const hub = clientsFor(fleet.hub.kubeconfig);
const hubAdmin = await connectionFrom(fleet.hub.kubeconfig);
const adminRaw = new RawClient(hubAdmin);
const NAMESPACE = "kmm-hub";
const KERNEL = "6.1.0-18-amd64";
const suffix = randomBytes(3).toString("hex");
const mcmName = `e2e-bs-${suffix}`;
const restrictedNs = `e2e-bs-psa-${suffix}`;
let hubRaw: RawClient;
let mcm: ManagedClusterModule;

const storedJob = z.looseObject({
  metadata: z.looseObject({ name: z.string(), uid: z.string(), ownerReferences: z.array(z.looseObject({ name: z.string() })).optional() }),
  spec: z.looseObject({ template: z.looseObject({ metadata: z.looseObject({ labels: z.record(z.string(), z.string()) }) }) }),
});

function jobs(): { build: Job; sign: Job } {
  const r = resolveKernelMapping(mcm.spec.moduleSpec, KERNEL, moduleContext(mcm));
  if (!r.found) throw new Error(r.reason);
  const build = buildJob({
    mcm,
    mapping: r.mapping,
    namespace: NAMESPACE,
    dockerfile: { key: "dockerfile", text: "FROM debian:12\n" },
    secretVersions: { pull: "1", "build-token": "1" },
    relatedImageBuild: "gcr.io/kaniko-project/executor:v1.23.2",
  }).job;
  const sign = signJob({
    mcm,
    mapping: r.mapping,
    namespace: NAMESPACE,
    secretVersions: { key: "1", cert: "1", pull: "1" },
    relatedImageSign: "ghcr.io/kmm-hub/kmm-signer:0.1.0",
    unsignedDigest: `sha256:${"a".repeat(64)}`,
  }).job;
  return { build, sign };
}

beforeAll(async () => {
  await hub.core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch((e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  });
  await hub.core.createNamespace({ body: { metadata: { name: restrictedNs, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } } });
  await applyManifests(adminRaw, await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url)));
  const stored = await adminRaw.request("POST", "/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules", {
    apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1",
    kind: "ManagedClusterModule",
    metadata: { name: mcmName },
    spec: {
      spokeNamespace: "kmm-e2e",
      selector: { "wants-bs": "true" },
      moduleSpec: {
        selector: { "kmm-e2e": "true" },
        imageRepoSecret: { name: "pull" },
        tolerations: [{ key: "dedicated", operator: "Equal", value: "builds", effect: "NoSchedule" }],
        moduleLoader: {
          container: {
            modprobe: { moduleName: "kmm_ci_a" },
            kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/kmm/kmm-ci:${KERNEL_FULL_VERSION}" }],
            build: { dockerfileConfigMap: { name: "kmm-ci-dockerfile" }, secrets: [{ name: "build-token" }], selector: { "kmm-builder": "true" } },
            sign: { keySecret: { name: "key" }, certSecret: { name: "cert" }, filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmm_ci_a.ko"] },
          },
        },
      },
    },
  });
  mcm = managedClusterModuleSchema.parse(stored.body);
  hubRaw = new RawClient(await serviceAccountConnection({ core: hub.core, admin: hubAdmin, namespace: NAMESPACE, serviceAccount: "kmm-hub" }));
});

afterAll(async () => {
  for (const job of Object.values(jobs())) {
    await adminRaw.request("DELETE", `/apis/batch/v1/namespaces/${NAMESPACE}/jobs/${job.metadata.name ?? ""}?propagationPolicy=Background`).catch(() => undefined);
  }
  await adminRaw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${mcmName}`).catch(() => undefined);
  await hub.core.deleteNamespace({ name: restrictedNs }).catch(() => undefined);
  hubRaw.close();
  adminRaw.close();
});

describe("build and sign Jobs on the hub API server, as the kmm-hub ServiceAccount", () => {
  it("creates both Jobs in the hub namespace, owned by the MCM, and finds them by their labels", async () => {
    for (const built of Object.values(jobs())) {
      // Suspended: the Job controller starts no pod (the images are not reachable from the fleet).
      const job = { ...built, spec: { ...built.spec, suspend: true } };
      const stored = storedJob.parse((await hubRaw.request("POST", `/apis/batch/v1/namespaces/${NAMESPACE}/jobs`, job)).body);
      expect(stored.metadata.name).toBe(job.metadata.name);
      expect(stored.metadata.ownerReferences?.map((o) => o.name)).toEqual([mcmName]);
      // The Job controller's own labels join ours on the pod template.
      expect(stored.spec.template.metadata.labels).toMatchObject(job.spec.template.metadata.labels);
      // Creating it again is refused: a second hub instance never starts a second Job.
      const again = await hubRaw.request("POST", `/apis/batch/v1/namespaces/${NAMESPACE}/jobs`, job).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((again as ApiError).code).toBe(409);
    }
    const q = new URLSearchParams({ labelSelector: `app.kubernetes.io/managed-by=kmm-hub,kmm.node.kubernetes.io/module.name=${mcmName}` });
    const listed = z.object({ items: z.array(z.looseObject({ metadata: z.looseObject({ name: z.string() }) })) }).parse((await hubRaw.request("GET", `/apis/batch/v1/namespaces/${NAMESPACE}/jobs?${q.toString()}`)).body);
    expect(listed.items.map((i) => i.metadata.name).sort()).toEqual(Object.values(jobs()).map((j) => j.metadata.name).sort());
    // It may read the Jobs' pods and the Dockerfile ConfigMaps of its namespace.
    await hubRaw.request("GET", `/api/v1/namespaces/${NAMESPACE}/pods`);
    await hubRaw.request("GET", `/api/v1/namespaces/${NAMESPACE}/configmaps`);
  });

  it("is refused Jobs, pods and ConfigMaps anywhere else (403)", async () => {
    const elsewhere = { ...jobs().build, metadata: { ...jobs().build.metadata, namespace: "default" } };
    for (const [method, path, body] of [
      ["POST", "/apis/batch/v1/namespaces/default/jobs", elsewhere],
      ["GET", "/api/v1/namespaces/default/pods", undefined],
      ["GET", "/api/v1/namespaces/default/configmaps", undefined],
      ["DELETE", `/api/v1/namespaces/${NAMESPACE}/pods/anything`, undefined],
    ] as const) {
      const err = await hubRaw.request(method, path, body).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, `${method} ${path}`).toBeInstanceOf(ApiError);
      expect((err as ApiError).code, `${method} ${path}`).toBe(403);
    }
  });

  it("admits the sign Job's pod under the restricted Pod Security Standard", async () => {
    const { sign } = jobs();
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "sign-psa", namespace: restrictedNs },
      spec: sign.spec.template.spec,
    };
    const answer = await adminRaw.request("POST", `/api/v1/namespaces/${restrictedNs}/pods?dryRun=All`, pod);
    expect(z.looseObject({ kind: z.literal("Pod") }).parse(answer.body).kind).toBe("Pod");
  });
});
