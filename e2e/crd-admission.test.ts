// The generated CRDs and admission policy on a real kube-apiserver: every seed example is
// accepted (and what the server stores parses with our zod schemas), and each admission rule
// rejects its example with the rule's message.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ApiException, KubeConfig, KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { managedClusterModuleSchema } from "../shared/api/managedclustermodule.ts";
import { moduleSchema, VERSION_IMMUTABLE_MESSAGE } from "../shared/api/module.ts";
import { MAX_ENV } from "../shared/api/pod-fields.ts";
import {
  invalidMcmNameCase,
  invalidModuleNameCase,
  invalidSpecCases,
  mcmObject,
  moduleObject,
  seedExamples,
  validSpec,
  validSpecCases,
} from "../shared/api/testdata/cases.ts";

const statusSchema = z.object({ message: z.string() });

let client: KubernetesObjectApi;
// 21 characters, so that a 21-character Module name crosses the 41-character limit.
const namespace = `kmm-admission-${randomBytes(4).toString("hex").slice(0, 7)}`;
const created: KubernetesObject[] = [];

function asObject(o: Record<string, unknown>): KubernetesObject {
  return o;
}

function inNamespace(o: Record<string, unknown>, name?: string): KubernetesObject {
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  return asObject({ ...o, metadata: { ...meta, ...(name === undefined ? {} : { name }), namespace } });
}

/**
 * client-node's KubernetesObjectApi turns metadata timestamps into Date objects; the schemas
 * describe the wire form, so compare against that.
 */
function wireForm(o: KubernetesObject): unknown {
  return JSON.parse(JSON.stringify(o));
}

async function create(o: KubernetesObject): Promise<KubernetesObject> {
  const stored = await client.create(o);
  created.push(stored);
  return stored;
}

async function remove(o: KubernetesObject): Promise<void> {
  await client.delete(o);
  const i = created.indexOf(o);
  if (i >= 0) created.splice(i, 1);
}

/** The API server's Status message for a rejected request. */
async function rejection(attempt: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    const accepted = await attempt;
    if (accepted !== null && typeof accepted === "object") created.push(accepted);
    throw new Error("the API server accepted the object");
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = typeof err.body === "string" ? JSON.parse(err.body) : err.body;
    return { code: err.code, message: statusSchema.parse(body).message };
  }
}

beforeAll(async () => {
  const kc = new KubeConfig();
  kc.loadFromFile(inject("fleet").hub.kubeconfig);
  client = KubernetesObjectApi.makeApiClient(kc);
  await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
});

afterAll(async () => {
  for (const o of created.splice(0)) {
    await client.delete(o).catch(() => undefined);
  }
  await client.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }).catch(() => undefined);
});

describe("seed examples are accepted", () => {
  it.each(seedExamples().map((e) => [e.file, e] as const))("%s", async (_file, example) => {
    const isModule = example.object.kind === "Module";
    const object = isModule ? inNamespace(example.object) : asObject(example.object);
    const stored = await create(object);
    try {
      const parsed = isModule ? moduleSchema.parse(wireForm(stored)) : managedClusterModuleSchema.parse(wireForm(stored));
      expect(parsed.spec).toEqual(isModule ? moduleSchema.parse(object).spec : managedClusterModuleSchema.parse(object).spec);
    } finally {
      await remove(stored);
    }
  });

  it("defaults dirName to /opt on the server", async () => {
    const spec = validSpec();
    const stored = await create(inNamespace(moduleObject("dirname-default", namespace, spec)));
    expect(moduleSchema.parse(wireForm(stored)).spec.moduleLoader?.container.modprobe.dirName).toBe("/opt");
    await remove(stored);
  });
});

describe("Module admission rules", () => {
  it.each(invalidSpecCases.map((c, i) => [c.name, c, i] as const))("rejects: %s", async (_name, c, i) => {
    const result = await rejection(client.create(inNamespace(moduleObject(`invalid-${i}`, namespace, c.spec))));
    expect(result.code).toBe(422);
    expect(result.message).toContain(c.message);
  });

  it.each(validSpecCases.map((c, i) => [c.name, c, i] as const))("accepts: %s", async (_name, c, i) => {
    const stored = await create(inNamespace(moduleObject(`valid-${i}`, namespace, c.spec)));
    expect(moduleSchema.safeParse(wireForm(stored)).success).toBe(true);
    await remove(stored);
  });

  it("rejects a Module whose name + namespace exceed 41 characters (ValidatingAdmissionPolicy)", async () => {
    expect(namespace).toHaveLength(21);
    const meta = invalidModuleNameCase.object.metadata as { name: string };
    const object = inNamespace(invalidModuleNameCase.object);
    // A new policy takes a moment to be loaded by the API server; the fleet may just have installed it.
    const deadline = Date.now() + 30_000;
    let result: { code: number; message: string } | undefined;
    while (result === undefined) {
      try {
        await remove(await create(object));
        if (Date.now() > deadline) throw new Error(`a ${meta.name.length + namespace.length}-character Module was accepted`);
        await new Promise((r) => setTimeout(r, 1000));
      } catch (err) {
        if (!(err instanceof ApiException)) throw err;
        result = await rejection(Promise.reject(err));
      }
    }
    expect(result.code).toBe(422);
    expect(result.message).toContain(invalidModuleNameCase.message);
    const fits = await create(inNamespace(moduleObject(meta.name.slice(1), namespace, validSpec())));
    await remove(fits);
  });

  it("refuses adding or removing spec.moduleLoader.container.version, allows changing it", async () => {
    const withVersion = (version: string | undefined): Record<string, unknown> => {
      const spec = validSpec();
      const container = (spec.moduleLoader as { container: Record<string, unknown> }).container;
      if (version !== undefined) container.version = version;
      return spec;
    };
    const versioned = await create(inNamespace(moduleObject("versioned", namespace, withVersion("1.0.0"))));
    const removed = await rejection(client.replace({ ...versioned, spec: withVersion(undefined) } as KubernetesObject));
    expect(removed.code).toBe(422);
    expect(removed.message).toContain(VERSION_IMMUTABLE_MESSAGE);
    const changed = await client.replace({ ...versioned, spec: withVersion("2.0.0") } as KubernetesObject);
    expect(moduleSchema.parse(wireForm(changed)).spec.moduleLoader?.container.version).toBe("2.0.0");

    const plain = await create(inNamespace(moduleObject("unversioned", namespace, withVersion(undefined))));
    const added = await rejection(client.replace({ ...plain, spec: withVersion("1.0.0") } as KubernetesObject));
    expect(added.code).toBe(422);
    expect(added.message).toContain(VERSION_IMMUTABLE_MESSAGE);
  });
});

describe("ManagedClusterModule admission rules", () => {
  it.each(invalidSpecCases.map((c, i) => [c.name, c, i] as const))("rejects in moduleSpec: %s", async (_name, c, i) => {
    const result = await rejection(client.create(asObject(mcmObject(`invalid-${i}`, "kmm", c.spec))));
    expect(result.code).toBe(422);
    expect(result.message).toContain(c.message);
  });

  it("rejects an MCM whose name + spokeNamespace exceed 41 characters", async () => {
    const result = await rejection(client.create(asObject(invalidMcmNameCase.object)));
    expect(result.code).toBe(422);
    expect(result.message).toContain(invalidMcmNameCase.message);
  });

  it("is cluster-scoped", async () => {
    const stored = await create(asObject(mcmObject("scope-check", "kmm", validSpec())));
    expect(stored.metadata?.namespace).toBeUndefined();
    expect(managedClusterModuleSchema.parse(wireForm(stored)).spec.spokeNamespace).toBe("kmm");
    await remove(stored);
  });
});

describe("sizes the CRDs admit (bounded for the API server's CEL cost budget)", () => {
  const withEnv = (n: number) => ({ ...validSpec(), devicePlugin: { container: { image: "registry.example.com/org/dp:v1", env: Array.from({ length: n }, (_, i) => ({ name: `E_${i}`, value: "x" })) } } });

  it(`admits ${MAX_ENV} env entries in a Module and refuses one more`, async () => {
    expect(MAX_ENV).toBe(2048);
    await remove(await create(inNamespace(moduleObject("env-max", namespace, withEnv(MAX_ENV)))));
    const over = await rejection(client.create(inNamespace(moduleObject("env-over", namespace, withEnv(MAX_ENV + 1)))));
    expect(over.code).toBe(422);
    expect(over.message).toContain(`spec.devicePlugin.container.env: Too many: ${MAX_ENV + 1}: must have at most ${MAX_ENV} items`);
  });

  it("field case 06: the device-plugin-only MCM with 560 env entries of 1,000 characters is admitted (the hub then blocks its ManifestWork as too large)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kmm-case06-"));
    try {
      await promisify(execFile)("python3", [join(import.meta.dirname, "..", "hub", "testdata", "field-2026-11", "06-make-large-mcm.py"), dir]);
      const mcm = parse(await readFile(join(dir, "06-large-manifestwork-mcm.yaml"), "utf8")) as Record<string, unknown>;
      const stored = await create(asObject(mcm));
      expect(managedClusterModuleSchema.parse(wireForm(stored)).spec.moduleSpec.devicePlugin?.container.env).toHaveLength(560);
      await remove(stored);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
