// Issue 13, kinds 2 and 3, on a real kube-apiserver. Kind 2: every Kubernetes type a Module copies
// into pods is validated at admission as Kubernetes validates it: for each invalid case the spoke's
// own DaemonSet builder makes the DaemonSet, the API server refuses it (dry run) with Kubernetes'
// message, and refuses the Module and the MCM at admission with the same words. Kind 3: upstream
// KMM's webhook rules, enforced by the CRDs. Valid neighbours are admitted, and so are their DaemonSets.
import { randomBytes } from "node:crypto";
import { ApiException, KubeConfig, KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import type { Module } from "../shared/api/module.ts";
import { moduleSchema, upstreamRuleProblems, VERSION_IMMUTABLE_MESSAGE } from "../shared/api/module.ts";
import { mcmObject, moduleObject, validSpec } from "../shared/api/testdata/cases.ts";
import { invalidPodFieldCases, validPodFieldCases, type PodFieldCase } from "../shared/api/testdata/pod-field-cases.ts";
import { resolveKernelMapping } from "../shared/kernel-mapping/kernel-mapping.ts";
import { devicePluginDaemonSet, moduleLoaderDaemonSet } from "../spoke/daemonset.ts";
import { settings } from "../spoke/testdata.ts";

const statusSchema = z.object({ message: z.string() });
const KERNEL = "6.1.0-18-amd64";

let client: KubernetesObjectApi;
const namespace = `kmm-podfields-${randomBytes(3).toString("hex")}`;
const created: KubernetesObject[] = [];

async function refusal(attempt: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    const accepted = await attempt;
    if (accepted !== null && typeof accepted === "object") created.push(accepted);
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body: unknown = typeof err.body === "string" ? JSON.parse(err.body) : err.body;
    return { code: err.code, message: statusSchema.parse(body).message };
  }
  throw new Error("the API server accepted the object");
}

/** The Module as the spoke's builders see it after the API server's defaulting (dirName /opt). */
function asStoredModule(name: string, spec: Record<string, unknown>): Module {
  const module = structuredClone(moduleObject(name, namespace, spec)) as unknown as Module;
  const modprobe = module.spec.moduleLoader?.container.modprobe as { dirName?: string } | undefined;
  if (modprobe !== undefined) modprobe.dirName ??= "/opt";
  return { ...module, metadata: { ...module.metadata, uid: "00000000-0000-0000-0000-000000000001" } };
}

/** The DaemonSet the spoke would apply for this Module, in this test's namespace. */
function daemonSet(which: "devicePlugin" | "moduleLoader", module: Module): KubernetesObject {
  if (which === "devicePlugin") {
    const ds = devicePluginDaemonSet(module, settings);
    if (ds === undefined) throw new Error("the case has no device plugin");
    return { ...ds, metadata: { ...ds.metadata, ownerReferences: [] } } as KubernetesObject;
  }
  const resolution = resolveKernelMapping(module.spec, KERNEL, { moduleName: module.metadata.name ?? "", moduleNamespace: namespace });
  if (!resolution.found) throw new Error(resolution.reason);
  const ds = moduleLoaderDaemonSet({ module, mapping: resolution.mapping, settings });
  return { ...ds, metadata: { ...ds.metadata, ownerReferences: [] } } as KubernetesObject;
}

beforeAll(async () => {
  const kc = new KubeConfig();
  kc.loadFromFile(inject("fleet").hub.kubeconfig);
  client = KubernetesObjectApi.makeApiClient(kc);
  await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } });
});

afterAll(async () => {
  for (const o of created.splice(0)) await client.delete(o).catch(() => undefined);
  await client.delete({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }).catch(() => undefined);
});

const cases = (kind: 2 | 3) => invalidPodFieldCases.filter((c) => c.kind === kind && c.controllerOnly === undefined).map((c, i) => [c.name, c, i] as const);

function expectRefusal(result: { code: number; message: string }, c: PodFieldCase, field: string): void {
  expect(result.code).toBe(422);
  expect(result.message).toContain(`${field}: `);
  expect(result.message).toContain(c.expect);
  if (c.serverDetail !== undefined) expect(result.message).toContain(c.serverDetail);
}

describe.each([2, 3] as const)("issue 13 kind %i", (kind) => {
  it.each(cases(kind))("Module refused at admission: %s", async (_name, c, i) => {
    expectRefusal(await refusal(client.create(moduleObject(`k${kind}-${i}`, namespace, c.spec))), c, c.field);
  });

  it.each(cases(kind))("MCM refused at admission: %s", async (_name, c, i) => {
    const mcm = mcmObject(`${namespace}-k${kind}-${i}`, "kmm", c.spec) as KubernetesObject;
    expectRefusal(await refusal(client.create(mcm)), c, c.field.replace(/^spec\./, "spec.moduleSpec."));
  });
});

describe("Kubernetes' rules left to the controllers (CEL cost): admitted, and the stored object's problems name the field", () => {
  const controllerOnly = invalidPodFieldCases.filter((c) => c.controllerOnly === true).map((c, i) => [c.name, c, i] as const);
  it.each(controllerOnly)("%s", async (_name, c, i) => {
    const stored = await client.create(moduleObject(`ctl-${i}`, namespace, c.spec));
    created.push(stored);
    const mcm = await client.create(mcmObject(`${namespace}-ctl-${i}`, "kmm", c.spec));
    created.push(mcm);
    const problems = upstreamRuleProblems(moduleSchema.parse(JSON.parse(JSON.stringify(stored))).spec);
    expect(problems.find((p) => `spec.${p.field}` === c.field)?.message).toContain(c.expect);
  });
});

describe("Kubernetes refuses the spoke's DaemonSet for the same input, with the same words", () => {
  const withDaemonSet = invalidPodFieldCases.filter((c) => c.daemonSet !== undefined).map((c, i) => [c.name, c, i] as const);
  it.each(withDaemonSet)("%s", async (_name, c, i) => {
    const ds = daemonSet(c.daemonSet ?? "devicePlugin", asStoredModule(`ds-${i}`, c.spec));
    const result = await refusal(client.create(ds, undefined, "All"));
    // A quantity that is not one fails decoding (400) before validation (422).
    expect([400, 422]).toContain(result.code);
    expect(result.message).toContain(c.kubernetes ?? c.expect);
  });
});

describe("valid neighbours are admitted, and so are their DaemonSets", () => {
  it.each(validPodFieldCases.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, i) => {
    const stored = await client.create(moduleObject(`valid-${i}`, namespace, c.spec));
    created.push(stored);
    const mcm = await client.create(mcmObject(`${namespace}-valid-${i}`, "kmm", c.spec));
    created.push(mcm);
    const module = asStoredModule(`valid-${i}`, c.spec);
    for (const which of ["moduleLoader", "devicePlugin"] as const) {
      if (module.spec[which] === undefined) continue;
      await client.create(daemonSet(which, module), undefined, "All");
    }
  });
});

describe("version transitions of an MCM's moduleSpec (upstream's update rule)", () => {
  it("refuses adding or removing version, allows changing it", async () => {
    const spec = (version?: string) => {
      const s = validSpec();
      const container = (s.moduleLoader as { container: Record<string, unknown> }).container;
      if (version !== undefined) container.version = version;
      return s;
    };
    const versioned = await client.create(mcmObject(`${namespace}-versioned`, "kmm", spec("1.0.0")));
    created.push(versioned);
    const withSpec = (o: KubernetesObject, moduleSpec: Record<string, unknown>) =>
      ({ ...o, spec: { ...(o as { spec: Record<string, unknown> }).spec, moduleSpec } }) as KubernetesObject;
    const removed = await refusal(client.replace(withSpec(versioned, spec())));
    expect(removed.code).toBe(422);
    expect(removed.message).toContain(VERSION_IMMUTABLE_MESSAGE);
    const changed = await client.replace(withSpec(versioned, spec("2.0.0")));
    expect(JSON.stringify(changed)).toContain('"version":"2.0.0"');

    const plain = await client.create(mcmObject(`${namespace}-plain`, "kmm", spec()));
    created.push(plain);
    const added = await refusal(client.replace(withSpec(plain, spec("1.0.0"))));
    expect(added.code).toBe(422);
    expect(added.message).toContain(VERSION_IMMUTABLE_MESSAGE);
  });
});
