import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { moduleSchema, moduleSpecSchema, type ModuleSpec } from "../api/module.ts";
import { KernelVersionError } from "./kernel-version.ts";
import { matchRE2 } from "./regexp.ts";
import {
  applyBuildArgOverrides,
  effectiveBuildArgs,
  invalidKernelMappings,
  KernelMappingError,
  KMM_BUILD_ARGS,
  kmmBuildArgs,
  resolveKernelMapping,
  type ModuleContext,
  type ResolvedKernelMapping,
} from "./kernel-mapping.ts";

const SEEDS = path.join(path.dirname(fileURLToPath(import.meta.url)), "../api/testdata/seeds");

/** A seed Module (shared/api/testdata/seeds, taken from ../shared/seeds) and its context. */
function seed(file: string, namespace = "default"): { spec: ModuleSpec; ctx: ModuleContext } {
  const m = moduleSchema.parse(parseYaml(readFileSync(path.join(SEEDS, file), "utf8")));
  return { spec: m.spec, ctx: { moduleName: m.metadata.name ?? "", moduleNamespace: m.metadata.namespace ?? namespace } };
}

function resolved(spec: ModuleSpec, kernel: string, ctx: ModuleContext): ResolvedKernelMapping {
  const r = resolveKernelMapping(spec, kernel, ctx);
  if (!r.found) throw new Error(`expected a mapping for ${kernel}: ${r.reason}`);
  return r.mapping;
}

/** A Module spec with the given container fields and mappings, validated by the real schema. */
function spec(container: Record<string, unknown>): ModuleSpec {
  return moduleSpecSchema.parse({
    moduleLoader: { container: { modprobe: { moduleName: "kmm_ci_a" }, ...container } },
    selector: { "kubernetes.io/arch": "amd64" },
  });
}

const ctx: ModuleContext = { moduleName: "foo", moduleNamespace: "default" };

describe("resolveKernelMapping on the seed examples", () => {
  describe("annotated Module (seed 003 / 004)", () => {
    const { spec: s, ctx: c } = seed("module-annotated.yaml");

    it("serves the literal kernel from the literal mapping, image unchanged", () => {
      const m = resolved(s, "6.0.15-300.fc37.x86_64", c);
      expect(m.mappingIndex).toBe(0);
      expect(m.matchedBy).toEqual({ literal: "6.0.15-300.fc37.x86_64" });
      expect(m.containerImage).toBe("some.registry/org/my-kmod:6.0.15-300.fc37.x86_64");
      expect(m.build).toBeUndefined();
      expect(m.sign).toBeUndefined();
    });

    it("reads the seed's '^.+\\fc37\\.x86_64$' as RE2 does: \\f is a form feed, so other fc37 kernels fall through to '^.+$'", () => {
      const m = resolved(s, "6.0.16-300.fc37.x86_64", c);
      expect(m.mappingIndex).toBe(2);
      expect(m.containerImage).toBe("some.registry/org/my-kmod:6.0.16-300.fc37.x86_64");
      expect(matchRE2("^.+\\fc37\\.x86_64$", "6.0.16-300.\fc37.x86_64")).toBe(true);
    });

    it("builds and signs any other kernel with the last mapping, variables substituted", () => {
      const m = resolved(s, "6.1.0-18-amd64", c);
      expect(m.mappingIndex).toBe(2);
      expect(m.matchedBy).toEqual({ regexp: "^.+$" });
      expect(m.containerImage).toBe("some.registry/org/my-kmod:6.1.0-18-amd64");
      expect(m.build).toEqual({
        buildArgs: [{ name: "ARG_NAME", value: "some-value" }],
        secrets: [{ name: "build-secret" }],
        baseImageRegistryTLS: { insecure: false, insecureSkipTLSVerify: false },
        dockerfileConfigMap: { name: "my-kmod-dockerfile" },
      });
      expect(m.sign).toEqual({
        certSecret: { name: "cert-secret" },
        keySecret: { name: "key-secret" },
        filesToSign: ["/opt/lib/modules/6.1.0-18-amd64/my_kmod.ko"],
      });
      expect(m.registryTLS).toEqual({ insecure: false, insecureSkipTLSVerify: false });
    });
  });

  it("seed 003 build-then-sign: regexp '^.*\\.x86_64$' serves x86_64 kernels only", () => {
    const { spec: s, ctx: c } = seed("module-build-sign.yaml");
    const m = resolved(s, "4.18.0-348.2.1.el8_5.x86_64", c);
    expect(m.containerImage).toBe("example.org/repository/minimal-driver:final");
    expect(m.sign?.filesToSign).toEqual(["/opt/lib/modules/4.18.0-348.2.1.el8_5.x86_64/kmm_ci_a.ko"]);
    expect(m.build?.dockerfileConfigMap).toEqual({ name: "example-module-dockerfile" });
    expect(resolveKernelMapping(s, "6.1.0-18-arm64", c)).toMatchObject({ found: false, reason: "none of the 1 kernel mappings matches 6.1.0-18-arm64" });
  });

  it("seed 003 in-tree removal per mapping", () => {
    const { spec: s, ctx: c } = seed("module-intree-removal-per-mapping.yaml");
    expect(resolved(s, "6.0.15-300.fc37.x86_64", c).inTreeModulesToRemove).toEqual(["mod_a", "mod_b"]);
    expect(resolveKernelMapping(s, "6.0.16-300.fc37.x86_64", c).found).toBe(false);
  });

  it("seed 003 in-tree removal for all mappings", () => {
    const { spec: s, ctx: c } = seed("module-intree-removal.yaml");
    const kernel = "6.0.15-300.fc37.x86_64";
    const r = resolveKernelMapping(s, kernel, c);
    expect(r.found && r.mapping.inTreeModulesToRemove).toEqual(["mod_a", "mod_b"]);
  });

  it("seed 002's mappings: literal kernels first, then '^.*\\-gke$'", () => {
    const s = spec({
      kernelMappings: [
        { literal: "5.16.11-200.fc35.x86_64", containerImage: "quay.io/vendor/module-sample:fedora" },
        { literal: "5.4.0-1054-gke", containerImage: "quay.io/vendor/module-sample:ubuntu" },
        { regexp: "^.*\\-gke$", containerImage: "quay.io/vendor/module-sample:gke" },
      ],
    });
    expect(resolved(s, "5.16.11-200.fc35.x86_64", ctx).containerImage).toBe("quay.io/vendor/module-sample:fedora");
    expect(resolved(s, "5.4.0-1054-gke", ctx).mappingIndex).toBe(1);
    expect(resolved(s, "5.4.0-1055-gke", ctx).containerImage).toBe("quay.io/vendor/module-sample:gke");
    expect(resolveKernelMapping(s, "5.16.12-200.fc35.x86_64", ctx).found).toBe(false);
  });
});

describe("merge rules", () => {
  const secret = (name: string) => ({ name });

  it("takes the container image when the mapping has none, and substitutes MOD_* and KERNEL_* parts", () => {
    const s = spec({ containerImage: "r.io/${MOD_NAMESPACE}/${MOD_NAME}:${KERNEL_X}.${KERNEL_Y}-${KERNEL_XYZ}", kernelMappings: [{ regexp: "^5\\." }] });
    expect(resolved(s, "5.14.0-70.el9.x86_64", ctx).containerImage).toBe("r.io/default/foo:5.14-5.14.0");
  });

  it("prefers the mapping image over the container image", () => {
    const s = spec({ containerImage: "r.io/c:1", kernelMappings: [{ literal: "6.1.0-18-amd64", containerImage: "r.io/m:${KERNEL_Z}" }] });
    expect(resolved(s, "6.1.0-18-amd64", ctx).containerImage).toBe("r.io/m:0");
  });

  it("merges build: dockerfile from the mapping, args by name, secrets appended, the rest from the container", () => {
    const s = spec({
      build: {
        buildArgs: [{ name: "A", value: "1" }, { name: "B", value: "2" }],
        secrets: [secret("s1")],
        dockerfileConfigMap: { name: "container-dockerfile" },
        baseImageRegistryTLS: { insecure: true },
        kanikoParams: { tag: "v1.9" },
        selector: { builder: "true" },
      },
      kernelMappings: [
        {
          regexp: "^.+$",
          containerImage: "r.io/m:${KERNEL_FULL_VERSION}",
          build: {
            buildArgs: [{ name: "D", value: "4" }, { name: "B", value: "3" }, { name: "C", value: "5" }],
            secrets: [secret("s2")],
            dockerfileConfigMap: { name: "mapping-dockerfile" },
            baseImageRegistryTLS: { insecureSkipTLSVerify: true },
            kanikoParams: { tag: "ignored" },
          },
        },
      ],
    });
    expect(resolved(s, "6.1.0-18-amd64", ctx).build).toEqual({
      buildArgs: [
        { name: "A", value: "1" },
        { name: "B", value: "3" },
        { name: "C", value: "5" },
        { name: "D", value: "4" },
      ],
      secrets: [secret("s1"), secret("s2")],
      dockerfileConfigMap: { name: "mapping-dockerfile" },
      baseImageRegistryTLS: { insecure: true },
      kanikoParams: { tag: "v1.9" },
      selector: { builder: "true" },
    });
  });

  it("uses whichever side sets build or sign when only one does", () => {
    const containerBuild = { dockerfileConfigMap: { name: "df" }, buildArgs: [{ name: "A", value: "1" }] };
    const mappingSign = { keySecret: secret("k"), certSecret: secret("c"), unsignedImage: "r.io/u:${KERNEL_FULL_VERSION}", filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"] };
    const s = spec({ build: containerBuild, kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:x", sign: mappingSign }] });
    const m = resolved(s, "6.1.0-18-amd64", ctx);
    expect(m.build).toEqual(containerBuild);
    expect(m.sign).toEqual({ ...mappingSign, unsignedImage: "r.io/u:6.1.0-18-amd64", filesToSign: ["/opt/lib/modules/6.1.0-18-amd64/a.ko"] });
  });

  it("merges sign: secrets and unsigned image from the mapping, filesToSign appended, TLS from the container", () => {
    const s = spec({
      sign: {
        unsignedImage: "r.io/container-unsigned:${KERNEL_FULL_VERSION}",
        unsignedImageRegistryTLS: { insecure: true },
        keySecret: secret("ck"),
        certSecret: secret("cc"),
        filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"],
      },
      kernelMappings: [
        {
          literal: "6.1.0-18-amd64",
          containerImage: "r.io/m:${KERNEL_FULL_VERSION}",
          sign: { keySecret: secret("mk"), certSecret: secret("mc"), filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/b.ko"], unsignedImageRegistryTLS: { insecureSkipTLSVerify: true } },
        },
        { regexp: "^.+$", containerImage: "r.io/m:${KERNEL_FULL_VERSION}", sign: { keySecret: secret("mk2"), certSecret: secret("mc2"), unsignedImage: "r.io/mapping-unsigned:${MOD_NAME}", filesToSign: ["/x.ko"] } },
      ],
    });
    expect(resolved(s, "6.1.0-18-amd64", ctx).sign).toEqual({
      unsignedImage: "r.io/container-unsigned:6.1.0-18-amd64",
      unsignedImageRegistryTLS: { insecure: true },
      keySecret: secret("mk"),
      certSecret: secret("mc"),
      filesToSign: ["/opt/lib/modules/6.1.0-18-amd64/a.ko", "/opt/lib/modules/6.1.0-18-amd64/b.ko"],
    });
    expect(resolved(s, "5.14.0-70.el9.x86_64", ctx).sign?.unsignedImage).toBe("r.io/mapping-unsigned:foo");
  });

  it("takes registryTLS from the mapping when it has one (even empty), else from the container", () => {
    const s = spec({
      registryTLS: { insecure: true },
      kernelMappings: [
        { literal: "6.1.0-18-amd64", containerImage: "r.io/m:a", registryTLS: {} },
        { literal: "6.1.0-19-amd64", containerImage: "r.io/m:b", registryTLS: { insecureSkipTLSVerify: true } },
        { regexp: "^.+$", containerImage: "r.io/m:c" },
      ],
    });
    expect(resolved(s, "6.1.0-18-amd64", ctx).registryTLS).toEqual({});
    expect(resolved(s, "6.1.0-19-amd64", ctx).registryTLS).toEqual({ insecureSkipTLSVerify: true });
    expect(resolved(s, "6.1.0-20-amd64", ctx).registryTLS).toEqual({ insecure: true });
    expect(resolved(spec({ kernelMappings: [{ regexp: ".", containerImage: "r.io/m:c" }] }), "6.1.0-20-amd64", ctx).registryTLS).toEqual({});
  });

  it("lets the mapping's inTreeModulesToRemove replace the container's, and the deprecated field win over both", () => {
    const s = spec({
      inTreeModulesToRemove: ["c1", "c2"],
      kernelMappings: [
        { literal: "6.1.0-1-amd64", containerImage: "r.io/m:a", inTreeModulesToRemove: ["m1"] },
        { literal: "6.1.0-2-amd64", containerImage: "r.io/m:a", inTreeModulesToRemove: [] },
        { literal: "6.1.0-3-amd64", containerImage: "r.io/m:a", inTreeModuleToRemove: "old" },
        { regexp: "^.+$", containerImage: "r.io/m:a" },
      ],
    });
    expect(resolved(s, "6.1.0-1-amd64", ctx).inTreeModulesToRemove).toEqual(["m1"]);
    expect(resolved(s, "6.1.0-2-amd64", ctx).inTreeModulesToRemove).toEqual([]);
    expect(resolved(s, "6.1.0-3-amd64", ctx).inTreeModulesToRemove).toEqual(["old"]);
    expect(resolved(s, "6.1.0-4-amd64", ctx).inTreeModulesToRemove).toEqual(["c1", "c2"]);
    const deprecatedOnContainer = spec({ inTreeModuleToRemove: "legacy", kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:a", inTreeModulesToRemove: ["m1"] }] });
    expect(resolved(deprecatedOnContainer, "6.1.0-1-amd64", ctx).inTreeModulesToRemove).toEqual(["legacy"]);
    expect(resolved(spec({ kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:a" }] }), "6.1.0-1-amd64", ctx).inTreeModulesToRemove).toBeUndefined();
  });

  it("never mutates the Module spec", () => {
    const s = spec({
      build: { dockerfileConfigMap: { name: "df" }, buildArgs: [{ name: "A", value: "1" }], secrets: [secret("s")] },
      sign: { keySecret: secret("k"), certSecret: secret("c"), filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/a.ko"] },
      kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:${KERNEL_FULL_VERSION}", build: { dockerfileConfigMap: { name: "m" }, buildArgs: [{ name: "A", value: "2" }] }, sign: { keySecret: secret("k2"), certSecret: secret("c2"), filesToSign: ["/b.ko"] } }],
    });
    const before = structuredClone(s);
    const m = resolved(s, "6.1.0-1-amd64", ctx);
    m.build?.buildArgs?.push({ name: "Z", value: "z" });
    m.sign?.filesToSign?.push("/z.ko");
    expect(s).toEqual(before);
  });
});

describe("build args", () => {
  it("lists the four args KMM sets", () => {
    expect([...KMM_BUILD_ARGS]).toEqual(["KERNEL_FULL_VERSION", "KERNEL_VERSION", "MOD_NAME", "MOD_NAMESPACE"]);
    expect(kmmBuildArgs("6.1.0-18-amd64", ctx).map((a) => a.name).sort()).toEqual([...KMM_BUILD_ARGS].sort());
  });

  it("sets KMM's args over the user's, keeping the user's order", () => {
    expect(
      effectiveBuildArgs(
        { dockerfileConfigMap: { name: "df" }, buildArgs: [{ name: "ARG_NAME", value: "v" }, { name: "KERNEL_FULL_VERSION", value: "user-value" }] },
        "6.3.5-200.fc38.x86_64",
        { moduleName: "my-mod", moduleNamespace: "my-namespace" },
      ),
    ).toEqual([
      { name: "ARG_NAME", value: "v" },
      { name: "KERNEL_FULL_VERSION", value: "6.3.5-200.fc38.x86_64" },
      { name: "KERNEL_VERSION", value: "6.3.5-200.fc38.x86_64" },
      { name: "MOD_NAME", value: "my-mod" },
      { name: "MOD_NAMESPACE", value: "my-namespace" },
    ]);
  });

  it("lets the last of repeated override names win", () => {
    expect(applyBuildArgOverrides([{ name: "A", value: "0" }], [{ name: "A", value: "1" }, { name: "A", value: "2" }])).toEqual([{ name: "A", value: "2" }]);
  });
});

describe("errors", () => {
  const mappings = (regexp: string) => [
    { literal: "6.1.0-18-amd64", containerImage: "r.io/m:a" },
    { regexp: "^6\\.", containerImage: "r.io/m:b" },
    { regexp, containerImage: "r.io/m:c" },
  ];

  it("names the mapping and the Module when a regexp is not valid RE2", () => {
    expect(() => resolveKernelMapping(spec({ kernelMappings: mappings("^(.+$") }), "5.14.0-70.el9.x86_64", ctx)).toThrow(
      new KernelMappingError(ctx, 2, "regexp '^(.+$' is not valid RE2: missing closing ): `^(.+$`"),
    );
  });

  it("reports an invalid regexp even when an earlier mapping matches (upstream refuses such a Module)", () => {
    expect(() => resolveKernelMapping(spec({ kernelMappings: mappings("(?=lookahead)") }), "6.1.0-18-amd64", ctx)).toThrow(
      /^kernel mapping 2 of Module default\/foo: regexp '\(\?=lookahead\)' is not valid RE2: invalid or unsupported Perl syntax: `\(\?=`$/,
    );
  });

  it.each([
    ["(a)\\1", /invalid escape sequence: `\\1`/],
    ["\\u0041", /invalid escape sequence: `\\u`/],
    ["\\cA", /invalid escape sequence: `\\c`/],
    ["x{1001}", /invalid repeat count: `\{1001\}`/],
  ])("rejects %j as Go's regexp package would", (regexp, message) => {
    expect(() => resolveKernelMapping(spec({ kernelMappings: mappings(regexp) }), "6.1.0-18-amd64", ctx)).toThrow(message);
  });

  it("lists every invalid regexp for a status condition", () => {
    const s = spec({ kernelMappings: [{ regexp: "(", containerImage: "r.io/m:a" }, { regexp: "ok", containerImage: "r.io/m:a" }, { regexp: "[z-a]", containerImage: "r.io/m:a" }] });
    expect(invalidKernelMappings(s, ctx).map((e) => [e.mappingIndex, e.message])).toEqual([
      [0, "kernel mapping 0 of Module default/foo: regexp '(' is not valid RE2: missing closing ): `(`"],
      [2, "kernel mapping 2 of Module default/foo: regexp '[z-a]' is not valid RE2: invalid character class range: `z-a`"],
    ]);
    expect(invalidKernelMappings(spec({ kernelMappings: mappings("^.+$") }), ctx)).toEqual([]);
  });

  it("names the field and the variable when a template uses an unknown variable", () => {
    const s = spec({ kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:${KERNEL_MAJOR}" }] });
    expect(() => resolveKernelMapping(s, "6.1.0-18-amd64", ctx)).toThrow(
      "kernel mapping 0 of Module default/foo: containerImage 'r.io/m:${KERNEL_MAJOR}': ${KERNEL_MAJOR} is not a variable KMM sets (known variables: ${KERNEL_FULL_VERSION}, ${KERNEL_VERSION}, ${KERNEL_XYZ}, ${KERNEL_X}, ${KERNEL_Y}, ${KERNEL_Z}, ${MOD_NAME}, ${MOD_NAMESPACE})",
    );
    const signed = spec({
      kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:a", sign: { keySecret: { name: "k" }, certSecret: { name: "c" }, filesToSign: ["/ok.ko", "/opt/${KVER}/x.ko"] } }],
    });
    expect(() => resolveKernelMapping(signed, "6.1.0-18-amd64", ctx)).toThrow(/^kernel mapping 0 of Module default\/foo: sign\.filesToSign\[1\] '\/opt\/\$\{KVER\}\/x\.ko': \$\{KVER\} is not a variable/);
  });

  it("refuses an empty kernel version before matching", () => {
    expect(() => resolveKernelMapping(spec({ kernelMappings: mappings("^.+$") }), "", ctx)).toThrow(KernelVersionError);
  });


  it("reports a mapping without any image", () => {
    // Admission refuses this; a Module stored before the rule existed can still carry it.
    const s = spec({ kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:a" }] });
    const mapping = s.moduleLoader?.container.kernelMappings[0];
    if (mapping) delete mapping.containerImage;
    expect(() => resolveKernelMapping(s, "6.1.0-18-amd64", ctx)).toThrow(
      "kernel mapping 0 of Module default/foo: no containerImage, and moduleLoader.container.containerImage is not set either",
    );
  });

  it("finds no mapping for a Module without moduleLoader", () => {
    const s = moduleSpecSchema.parse({ selector: {}, devicePlugin: { container: { image: "r.io/dp:1" } } });
    expect(resolveKernelMapping(s, "6.1.0-18-amd64", ctx)).toMatchObject({ found: false, reason: "the Module has no moduleLoader" });
  });
});

// Field case 05 (kernels without a patch level): literal mappings match the kernel string as given, and a
// kernel is refused only when the template of the mapping that matched needs a part it lacks.
describe("kernel strings of any shape", () => {
  const odd = spec({
    kernelMappings: [
      { literal: "3.14-1-amd64", containerImage: "r.io/storage:legacy" },
      { regexp: "^.+$", containerImage: "r.io/storage:${KERNEL_X}.${KERNEL_Y}-${KERNEL_XYZ}" },
    ],
  });

  it("matches a literal mapping naming a kernel without a patch level", () => {
    expect(resolved(odd, "3.14-1-amd64", ctx)).toMatchObject({ mappingIndex: 0, containerImage: "r.io/storage:legacy", matchedBy: { literal: "3.14-1-amd64" } });
  });

  it("serves an X.Y.Z kernel with the template", () => {
    expect(resolved(odd, "6.1.0-18-amd64", ctx).containerImage).toBe("r.io/storage:6.1-6.1.0");
  });

  it.each([
    ["6.1", "kernel mapping 1 matches, but its containerImage 'r.io/storage:${KERNEL_X}.${KERNEL_Y}-${KERNEL_XYZ}' uses ${KERNEL_XYZ}, which needs a MAJOR.MINOR.PATCH prefix, which the kernel version lacks"],
    ["not-a-kernel", "kernel mapping 1 matches, but its containerImage 'r.io/storage:${KERNEL_X}.${KERNEL_Y}-${KERNEL_XYZ}' uses ${KERNEL_X}, which needs a major version, which the kernel version lacks"],
  ])("refuses %j with the part its template needs", (kernel, reason) => {
    const r = resolveKernelMapping(odd, kernel, ctx);
    expect(r).toMatchObject({ found: false, reason, mappingIndex: 1 });
    expect(r.found ? "" : r.kernel.full).toBe(kernel);
  });

  it("serves a kernel without a patch level when the template needs none", () => {
    const s = spec({ kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:${KERNEL_X}.${KERNEL_Y}-${KERNEL_FULL_VERSION}" }] });
    expect(resolved(s, "6.1", ctx).containerImage).toBe("r.io/m:6.1-6.1");
    expect(resolved(s, "6.1+custom", ctx).containerImage).toBe("r.io/m:6.1-6.1_custom");
  });

  it("refuses a ${KERNEL_Z} of a kernel without one in sign fields too", () => {
    const s = spec({
      kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/m:a", sign: { keySecret: { name: "k" }, certSecret: { name: "c" }, filesToSign: ["/opt/${KERNEL_Z}/m.ko"] } }],
    });
    const r = resolveKernelMapping(s, "6.1", ctx);
    expect(r.found).toBe(false);
    expect(!r.found && r.reason).toContain("sign.filesToSign[0]");
  });
});
