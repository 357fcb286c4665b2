// The hub's shipped manifests (hub/deploy/rbac.yaml, hub/deploy/deployment.yaml, and the one install
// file npm run images -- --manifests renders from them) as the hub API server sees them: server-side
// apply with dryRun=All runs defaulting, schema validation and admission on every object, and stores
// nothing. e2e/install-chain.test.ts applies the install file for real.
import { randomBytes } from "node:crypto";
import { ApiException } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { z } from "zod";
import { ApiError, RawClient } from "../shared/kube/raw.ts";
import { HUB_INSTALL_FILES, hubManifests } from "../images/manifests.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor } from "./support/clients.ts";
import { applyManifests, readManifests, type ManifestObject } from "./support/manifests.ts";

const fleet = inject("fleet");
const hub = clientsFor(fleet.hub.kubeconfig);
const hubRaw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
const NAMESPACE = "kmm-hub";
const suffix = randomBytes(3).toString("hex");
// A namespace enforcing the "restricted" Pod Security Standard, to admit the hub's pod template.
const restrictedNs = `e2e-hub-psa-${suffix}`;

const rbac = await readManifests(new URL("../hub/deploy/rbac.yaml", import.meta.url));
const deployment = await readManifests(new URL("../hub/deploy/deployment.yaml", import.meta.url));

const storedSchema = z.looseObject({
  kind: z.string(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional(), uid: z.string().optional() }),
});

async function storedObject(obj: ManifestObject): Promise<boolean> {
  try {
    await hubRaw.get(obj);
    return true;
  } catch (err: unknown) {
    if (err instanceof ApiError && err.code === 404) return false;
    throw err;
  }
}

beforeAll(async () => {
  await hub.core.createNamespace({ body: { metadata: { name: NAMESPACE } } }).catch((e: unknown) => {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  });
  await hub.core.createNamespace({ body: { metadata: { name: restrictedNs, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } } });
});

afterAll(async () => {
  await hub.core.deleteNamespace({ name: restrictedNs }).catch(() => undefined);
  hubRaw.close();
});

describe("hub/deploy manifests on the hub API server", () => {
  it("accepts every object of rbac.yaml and deployment.yaml (dry run)", async () => {
    const objects = [...rbac, ...deployment];
    const answers = (await applyManifests(hubRaw, objects, { dryRun: true })).map((a) => storedSchema.parse(a));
    expect(answers.map((a) => `${a.kind}/${a.metadata.namespace ?? ""}/${a.metadata.name}`)).toEqual(
      objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`),
    );
    // The server processed them (it assigns a uid to what it would create) …
    for (const a of answers) expect(a.metadata.uid, `${a.kind} ${a.metadata.name}`).toMatch(/\S/);
    // … and stored none of deployment.yaml (rbac.yaml may be applied for real by hub.test.ts).
    for (const o of deployment) expect(await storedObject(o), `${o.kind} ${o.metadata.name} stored`).toBe(false);
  });

  it("accepts the one install file in one pass, in its order: namespace, CRD, RBAC, config, Deployment, Service (dry run)", async () => {
    const digest = (c: string) => `sha256:${c.repeat(64)}`;
    const text = await hubManifests({ hub: `registry.example.com/kmm/kmm-hub@${digest("a")}`, signer: `registry.example.com/kmm/kmm-hub-signer@${digest("b")}` });
    const objects: ManifestObject[] = parseKubeDocuments(text)
      .map((d) => d.toJS() as unknown)
      .filter((v) => v !== null)
      .map((v) => storedSchema.extend({ apiVersion: z.string() }).parse(v));
    const fromFiles = (await Promise.all(HUB_INSTALL_FILES.map((f) => readManifests(new URL(`../${f}`, import.meta.url))))).flat();
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(fromFiles.map((o) => `${o.kind}/${o.metadata.name}`));
    expect(objects.slice(0, 2).map((o) => o.kind)).toEqual(["Namespace", "CustomResourceDefinition"]);
    const answers = (await applyManifests(hubRaw, objects, { dryRun: true })).map((a) => storedSchema.parse(a));
    expect(answers.map((a) => `${a.kind}/${a.metadata.name}`)).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`));
    for (const o of deployment) expect(await storedObject(o), `${o.kind} ${o.metadata.name} stored`).toBe(false);
  });

  it("defaults the Deployment as the shipped replicas and rolling update need", async () => {
    const dep = deployment.find((o) => o.kind === "Deployment");
    expect(dep).toBeDefined();
    const [answer] = await applyManifests(hubRaw, [dep!], { dryRun: true });
    const spec = z
      .object({ spec: z.looseObject({ replicas: z.number(), strategy: z.looseObject({ type: z.string() }), template: z.looseObject({ spec: z.looseObject({ serviceAccountName: z.string() }) }) }) })
      .parse(answer).spec;
    expect(spec.replicas).toBe(2);
    expect(spec.strategy.type).toBe("RollingUpdate");
    expect(spec.template.spec.serviceAccountName).toBe("kmm-hub");
  });

  it("refuses a broken Deployment, so the dry run does validate", async () => {
    const dep = deployment.find((o) => o.kind === "Deployment")!;
    const broken = { ...dep, spec: { ...z.looseObject({ spec: z.looseObject({}) }).parse(dep).spec, replicas: -1 } };
    const err = await applyManifests(hubRaw, [broken], { dryRun: true }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe(422);
  });

  it("admits the hub's pod template under the restricted Pod Security Standard", async () => {
    const dep = z
      .object({ spec: z.object({ template: z.looseObject({ metadata: z.looseObject({}), spec: z.looseObject({ serviceAccountName: z.string() }) }) }) })
      .parse(deployment.find((o) => o.kind === "Deployment"));
    // Pod admission looks the pod's ServiceAccount up.
    await hub.core.createNamespacedServiceAccount({ namespace: restrictedNs, body: { metadata: { name: dep.spec.template.spec.serviceAccountName } } });
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { ...dep.spec.template.metadata, name: "kmm-hub", namespace: restrictedNs }, spec: dep.spec.template.spec };
    const [answer] = await applyManifests(hubRaw, [pod], { dryRun: true });
    expect(storedSchema.parse(answer).kind).toBe("Pod");
    // The namespace does enforce: without the pod-level securityContext the same pod is refused.
    const { securityContext: _dropped, ...loose } = dep.spec.template.spec;
    const refused = await applyManifests(hubRaw, [{ ...pod, spec: loose }], { dryRun: true }).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).code).toBe(403);
    expect((refused as ApiError).message).toContain("restricted");
  });
});
