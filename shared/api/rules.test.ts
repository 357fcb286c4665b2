import { describe, expect, it } from "vitest";
import { managedClusterModuleSchema, MCM_NAME_LENGTH_MESSAGE } from "./managedclustermodule.ts";
import {
  hasTagOrDigest,
  moduleLoaderContainerSpecSchema,
  moduleSchema,
  MODULE_NAME_LENGTH_MESSAGE,
  versionTransitionAllowed,
} from "./module.ts";
import {
  invalidMcmNameCase,
  invalidModuleNameCase,
  invalidSpecCases,
  mcmObject,
  moduleObject,
  validSpec,
  validSpecCases,
} from "./testdata/cases.ts";

function messages(result: { error?: { issues: { message: string }[] } | undefined }): string[] {
  return result.error?.issues.map((i) => i.message) ?? [];
}

describe("admission rules in zod", () => {
  it.each(invalidSpecCases.map((c) => [c.name, c] as const))("Module rejects: %s", (_name, c) => {
    expect(messages(moduleSchema.safeParse(moduleObject("m", "default", c.spec)))).toContain(c.message);
  });

  it.each(invalidSpecCases.map((c) => [c.name, c] as const))("MCM moduleSpec rejects: %s", (_name, c) => {
    expect(messages(managedClusterModuleSchema.safeParse(mcmObject("m", "kmm", c.spec)))).toContain(c.message);
  });

  it.each(validSpecCases.map((c) => [c.name, c] as const))("accepts: %s", (_name, c) => {
    expect(messages(moduleSchema.safeParse(moduleObject("m", "default", c.spec)))).toEqual([]);
    expect(messages(managedClusterModuleSchema.safeParse(mcmObject("m", "kmm", c.spec)))).toEqual([]);
  });

  it("limits Module name + namespace to 41 characters", () => {
    expect(messages(moduleSchema.safeParse(invalidModuleNameCase.object))).toEqual([MODULE_NAME_LENGTH_MESSAGE]);
    expect(messages(moduleSchema.safeParse(moduleObject("a".repeat(20), "b".repeat(21), validSpec())))).toEqual([]);
  });

  it("limits MCM name + spokeNamespace to 41 characters", () => {
    expect(messages(managedClusterModuleSchema.safeParse(invalidMcmNameCase.object))).toEqual([MCM_NAME_LENGTH_MESSAGE]);
    expect(messages(managedClusterModuleSchema.safeParse(mcmObject("a".repeat(20), "b".repeat(21), validSpec())))).toEqual(
      [],
    );
  });

  it("reports the offending field's path", () => {
    const result = moduleSchema.safeParse(invalidSpecCases.find((c) => c.name === "sign without filesToSign")?.spec);
    expect(result.success).toBe(false);
    const spec = validSpec();
    const loader = spec.moduleLoader as { container: { sign?: unknown } };
    loader.container.sign = { keySecret: { name: "k" }, certSecret: { name: "c" } };
    const issue = moduleSchema.safeParse(moduleObject("m", "default", spec)).error?.issues[0];
    expect(issue?.path).toEqual(["spec", "moduleLoader", "container", "sign", "filesToSign"]);
  });
});

describe("hasTagOrDigest", () => {
  it.each([
    ["quay.io/org/kmod:v1", true],
    ["quay.io/org/kmod:${KERNEL_FULL_VERSION}", true],
    ["localhost:5000/kmod:6.0.15", true],
    [`quay.io/org/kmod@sha256:${"0123456789abcdef".repeat(4)}`, true],
    [`localhost:5000/kmod:v1@sha256:${"f".repeat(64)}`, true],
    ["quay.io/org/kmod", false],
    ["localhost:5000/org/kmod", false],
    ["quay.io/org/kmod@sha256:xyz", false],
    ["quay.io/org/kmod:", false],
  ])("%s → %s", (image, expected) => {
    expect(hasTagOrDigest(image)).toBe(expected);
  });
});

describe("versionTransitionAllowed (the CRD's transition rule)", () => {
  const container = (version?: string) =>
    moduleLoaderContainerSpecSchema.parse({
      modprobe: { moduleName: "a" },
      kernelMappings: [{ literal: "6.1.0", containerImage: "r.example.com/a:v1" }],
      ...(version === undefined ? {} : { version }),
    });

  it("allows changing a version and keeping none", () => {
    expect(versionTransitionAllowed(container("1"), container("2"))).toBe(true);
    expect(versionTransitionAllowed(container(), container())).toBe(true);
    expect(versionTransitionAllowed(undefined, container("1"))).toBe(true);
  });

  it("refuses adding or removing a version", () => {
    expect(versionTransitionAllowed(container(), container("1"))).toBe(false);
    expect(versionTransitionAllowed(container("1"), container())).toBe(false);
    expect(versionTransitionAllowed(container("1"), container(""))).toBe(false);
  });
});
