import { describe, expect, it } from "vitest";
import {
  feedbackValues,
  integerFeedback,
  jsonPathsFeedback,
  ManifestWork,
  manifestWork,
  manifestStatus,
  stringFeedback,
  type ManifestWorkObject,
} from "./manifestwork.ts";
import { isConditionTrue, OcmObjectInvalidError } from "./model.ts";

const moduleId = { group: "kmm.sigs.x-k8s.io", resource: "modules", name: "my-mcm", namespace: "kmm-spoke" };

// What the hub reads back once the work agent on spoke1 applied the Module and scraped its status.
const appliedWork: unknown = {
  apiVersion: "work.open-cluster-management.io/v1",
  kind: "ManifestWork",
  metadata: {
    name: "my-mcm",
    namespace: "spoke1",
    labels: { "kmm.node.kubernetes.io/managedclustermodule.name": "my-mcm" },
    ownerReferences: [
      { apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: "my-mcm", uid: "5b1c", controller: true },
    ],
    generation: 2,
    resourceVersion: "1234",
  },
  spec: {
    workload: {
      manifests: [
        {
          apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
          kind: "Module",
          metadata: { name: "my-mcm", namespace: "kmm-spoke" },
          spec: { selector: { "node-wants-my-mcm": "true" } },
        },
      ],
    },
    deleteOption: { propagationPolicy: "Foreground" },
    manifestConfigs: [
      {
        resourceIdentifier: moduleId,
        feedbackRules: [
          {
            type: "JSONPaths",
            jsonPaths: [
              { name: "desired", path: ".status.moduleLoader.desiredNumber" },
              { name: "available", path: ".status.moduleLoader.availableNumber" },
              { name: "node", path: ".status.conditions[0].type" },
            ],
          },
        ],
        updateStrategy: { type: "ServerSideApply", serverSideApply: { fieldManager: "work-agent", force: true } },
      },
    ],
  },
  status: {
    conditions: [
      { type: "Applied", status: "True", reason: "AppliedManifestWorkComplete", message: "done", lastTransitionTime: "2026-11-23T14:00:00Z", observedGeneration: 2 },
      { type: "Available", status: "True", reason: "ResourcesAvailable", message: "ok", lastTransitionTime: "2026-11-23T14:00:01Z" },
    ],
    resourceStatus: {
      manifests: [
        {
          resourceMeta: { ordinal: 0, group: "kmm.sigs.x-k8s.io", version: "v1beta1", kind: "Module", resource: "modules", name: "my-mcm", namespace: "kmm-spoke" },
          statusFeedback: {
            values: [
              { name: "desired", fieldValue: { type: "Integer", integer: 3 } },
              { name: "available", fieldValue: { type: "Integer", integer: 2 } },
              { name: "node", fieldValue: { type: "String", string: "Ready" } },
            ],
          },
          conditions: [
            { type: "Applied", status: "True", reason: "AppliedManifestComplete", message: "Apply manifest complete", lastTransitionTime: "2026-11-23T14:00:00Z" },
          ],
        },
      ],
    },
  },
};

describe("ManifestWork schema", () => {
  it("parses a ManifestWork as the work agent reports it", () => {
    const w = ManifestWork.parse(appliedWork);
    expect(w.metadata.namespace).toBe("spoke1");
    expect(w.spec?.workload?.manifests?.[0]).toMatchObject({ kind: "Module", spec: { selector: { "node-wants-my-mcm": "true" } } });
    expect(isConditionTrue(w.status?.conditions, "Applied")).toBe(true);
    expect(isConditionTrue(w.status?.conditions, "Degraded")).toBe(false);
  });

  it("keeps unknown fields of embedded manifests (they are whole objects for the spoke)", () => {
    const w = ManifestWork.parse(appliedWork);
    expect(w.spec?.workload?.manifests?.[0]?.["spec"]).toEqual({ selector: { "node-wants-my-mcm": "true" } });
  });

  it("reads feedback values by resource identifier", () => {
    const w = ManifestWork.parse(appliedWork);
    const values = feedbackValues(w, moduleId);
    expect(integerFeedback(values, "desired")).toBe(3);
    expect(integerFeedback(values, "available")).toBe(2);
    expect(integerFeedback(values, "node")).toBeUndefined();
    expect(stringFeedback(values, "node")).toBe("Ready");
    expect(feedbackValues(w, { ...moduleId, namespace: "other" }).size).toBe(0);
    expect(manifestStatus(w, { ...moduleId, group: "" })).toBeUndefined();
  });

  it.each([
    ["a manifest without kind", (w: ManifestWorkObject) => { (w.spec?.workload?.manifests?.[0] as Record<string, unknown>)["kind"] = undefined; }, "spec.workload.manifests[0].kind"],
    ["an unknown propagation policy", (w: ManifestWorkObject) => { (w.spec?.deleteOption as Record<string, unknown>)["propagationPolicy"] = "Never"; }, "spec.deleteOption.propagationPolicy"],
    ["a feedback value whose payload does not match its type", (w: ManifestWorkObject) => {
      const v = w.status?.resourceStatus?.manifests?.[0]?.statusFeedback?.values?.[0];
      if (v) v.fieldValue = { type: "Integer", string: "3" } as unknown as typeof v.fieldValue;
    }, "status.resourceStatus.manifests[0].statusFeedback.values[0].fieldValue.integer"],
    ["a condition with an invalid status", (w: ManifestWorkObject) => { const c = w.status?.conditions?.[0]; if (c) (c as Record<string, unknown>)["status"] = "Yes"; }, "status.conditions[0].status"],
    ["the wrong apiVersion", (w: ManifestWorkObject) => { (w as Record<string, unknown>)["apiVersion"] = "work.open-cluster-management.io/v1alpha1"; }, "apiVersion"],
  ])("rejects %s, naming the object and field", (_name, mutate, field) => {
    const broken = structuredClone(appliedWork) as ManifestWorkObject;
    mutate(broken);
    expect(() => ManifestWork.parse(broken)).toThrow(OcmObjectInvalidError);
    expect(() => ManifestWork.parse(broken)).toThrow(new RegExp(`ManifestWork spoke1/my-mcm is not valid: .*${field.replace(/[[\].]/g, "\\$&")}`));
  });
});

describe("manifestWork()", () => {
  it("builds a ManifestWork the schema accepts, with TypeMeta, owner and feedback rules", () => {
    const w = manifestWork({
      name: "my-mcm",
      namespace: "spoke1",
      labels: { "kmm.node.kubernetes.io/managedclustermodule.name": "my-mcm" },
      ownerReferences: [{ apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: "my-mcm", uid: "u1", controller: true }],
      manifests: [{ apiVersion: "kmm.sigs.x-k8s.io/v1beta1", kind: "Module", metadata: { name: "my-mcm", namespace: "kmm-spoke" } }],
      manifestConfigs: [
        { resourceIdentifier: moduleId, feedbackRules: [jsonPathsFeedback({ desired: ".status.moduleLoader.desiredNumber" })] },
      ],
    });
    expect(w).toEqual({
      apiVersion: "work.open-cluster-management.io/v1",
      kind: "ManifestWork",
      metadata: {
        name: "my-mcm",
        namespace: "spoke1",
        labels: { "kmm.node.kubernetes.io/managedclustermodule.name": "my-mcm" },
        ownerReferences: [{ apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: "my-mcm", uid: "u1", controller: true }],
      },
      spec: {
        workload: { manifests: [{ apiVersion: "kmm.sigs.x-k8s.io/v1beta1", kind: "Module", metadata: { name: "my-mcm", namespace: "kmm-spoke" } }] },
        manifestConfigs: [
          {
            resourceIdentifier: moduleId,
            feedbackRules: [{ type: "JSONPaths", jsonPaths: [{ name: "desired", path: ".status.moduleLoader.desiredNumber" }] }],
          },
        ],
      },
    });
  });

  it("refuses a manifest without TypeMeta", () => {
    expect(() =>
      manifestWork({ name: "w", namespace: "spoke1", manifests: [{ metadata: { name: "x" } } as never] }),
    ).toThrow(/ManifestWork spoke1\/w is not valid/);
  });
});

describe("ManifestWork model class", () => {
  it("fills in TypeMeta and validates through the zod schema", () => {
    const w = new ManifestWork({ metadata: { name: "w", namespace: "spoke1" }, spec: { workload: { manifests: [] } } });
    expect(w.toJSON()).toEqual({
      apiVersion: "work.open-cluster-management.io/v1",
      kind: "ManifestWork",
      metadata: { name: "w", namespace: "spoke1" },
      spec: { workload: { manifests: [] } },
    });
    expect(() => { w.validate(); }).not.toThrow();
    expect(ManifestWork.is(w.toJSON())).toBe(true);
    expect(ManifestWork.is({ apiVersion: "v1", kind: "ConfigMap" })).toBe(false);

    const bad = new ManifestWork({ metadata: { name: "w" }, spec: { deleteOption: { propagationPolicy: "Never" as never } } });
    expect(() => { bad.validate(); }).toThrow(/ManifestWork w is not valid: .*propagationPolicy/);
  });
});
