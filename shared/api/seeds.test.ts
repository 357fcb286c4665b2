import { describe, expect, it } from "vitest";
import { managedClusterModuleSchema } from "./managedclustermodule.ts";
import { moduleSchema } from "./module.ts";
import { seedExamples } from "./testdata/cases.ts";

describe("seed examples (shared/api/testdata/seeds)", () => {
  const examples = seedExamples();

  it("covers the Module and ManagedClusterModule examples of the seeds", () => {
    const kinds = examples.map((e) => e.object.kind);
    expect(kinds.filter((k) => k === "Module")).toHaveLength(8);
    expect(kinds.filter((k) => k === "ManagedClusterModule")).toHaveLength(1);
  });

  it.each(examples.map((e) => [e.file, e] as const))("%s parses with the zod schema", (_file, example) => {
    const schema = example.object.kind === "Module" ? moduleSchema : managedClusterModuleSchema;
    const result = schema.safeParse(example.object);
    expect(result.error?.issues ?? []).toEqual([]);
  });

  it("keeps every field of the annotated example (nothing stripped as unknown)", () => {
    const annotated = examples.find((e) => e.file === "module-annotated.yaml");
    if (annotated === undefined) throw new Error("module-annotated.yaml missing");
    const parsed = moduleSchema.parse(annotated.object);
    // The parsed object equals the input except for defaults the API server would also fill in.
    expect(parsed).toEqual(annotated.object);
    const mappings = parsed.spec.moduleLoader?.container.kernelMappings ?? [];
    expect(mappings[2]?.sign?.filesToSign).toEqual(["/opt/lib/modules/${KERNEL_FULL_VERSION}/my_kmod.ko"]);
    expect(parsed.spec.devicePlugin?.volumes?.[0]?.configMap?.name).toBe("some-configmap");
  });

  it("fills dirName with /opt when it is left out, as the CRD default does", () => {
    const firmware = examples.find((e) => e.file === "module-firmware.yaml");
    if (firmware === undefined) throw new Error("module-firmware.yaml missing");
    expect(moduleSchema.parse(firmware.object).spec.moduleLoader?.container.modprobe.dirName).toBe("/opt");
  });
});
