// The field cases of November 2026 that concern the hub and `kmm-hub render` (inputs in
// hub/testdata/field-2026-11), each with its right value, plus the kinds they stand for.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { MAX_ENV } from "../shared/api/pod-fields.ts";
import { ManifestWork } from "../shared/ocm/index.ts";
import { main, type CliIO } from "./cli.ts";
import { clusterOutcome } from "./manifestwork.ts";
import { MAX_MANIFESTWORK_BYTES } from "./names.ts";
import { parseMcm, toJson, toYaml } from "./render.ts";

const ROOT = join(import.meta.dirname, "..");
const CASES = join(import.meta.dirname, "testdata", "field-2026-11");
const EXAMPLES = join(ROOT, "examples", "render");
const c = (f: string): string => join(CASES, f);

function capture(): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    out: (s: string) => {
      io.stdout += s;
    },
    err: (s: string) => {
      io.stderr += s;
    },
    readFile: (p: string) => readFile(p, "utf8"),
  };
  return io;
}

interface ModuleView {
  spec: { selector: Record<string, string>; moduleLoader?: { container: { kernelMappings: { literal: string; containerImage: string }[] } }; devicePlugin?: { container: { env?: { name: string; value: string }[] } } };
}

function worksOf(yamlText: string, version: "1.1" | "1.2" = "1.2"): { name: string; module: ModuleView }[] {
  return parseAllDocuments(yamlText, { version }).map((d) => {
    const w = ManifestWork.parse(d.toJS());
    return { name: `${w.metadata.namespace ?? ""}/${w.metadata.name ?? ""}`, module: w.spec!.workload!.manifests![0] as unknown as ModuleView };
  });
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "kmm-hub-field-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("case 05: kernel strings without a patch level", () => {
  it("renders the literal and the X.Y.Z kernels, names the two refused kernels on stderr and exits 2", async () => {
    const io = capture();
    const code = await main(["render", "--mcm", c("05-odd-kernels-mcm.yaml"), "--cluster", c("05-odd-kernels-clusters.yaml"), "--digests", c("05-odd-kernels-digests.yaml")], io);
    expect(code).toBe(2);
    const [work, ...more] = worksOf(io.stdout);
    expect(more).toEqual([]);
    expect(work?.name).toBe("edge-odd/storage-driver");
    expect(work?.module.spec.moduleLoader?.container.kernelMappings.map((k) => [k.literal, k.containerImage])).toEqual([
      ["3.14-1-amd64", `registry.example.com/drivers/storage-driver@sha256:${"6".repeat(64)}`],
      ["6.1.0-18-amd64", `registry.example.com/drivers/storage-driver@sha256:${"7".repeat(64)}`],
    ]);
    const template = "'registry.example.com/drivers/storage-driver:${KERNEL_X}.${KERNEL_Y}-${KERNEL_XYZ}'";
    expect(io.stderr.split("\n").filter((l) => l !== "")).toEqual([
      `cluster edge-odd: kernel 6.1 skipped: kernel mapping 1 matches, but its containerImage ${template} uses \${KERNEL_XYZ}, which needs a MAJOR.MINOR.PATCH prefix, which the kernel version lacks`,
      `cluster edge-odd: kernel not-a-kernel skipped: kernel mapping 1 matches, but its containerImage ${template} uses \${KERNEL_X}, which needs a major version, which the kernel version lacks`,
    ]);
  });
});

describe("case 06: OCM's size limit on every path", () => {
  let mcmTag: string;
  let mcmDigest: string;
  beforeAll(async () => {
    await promisify(execFile)("python3", [c("06-make-large-mcm.py"), tmp]);
    mcmTag = join(tmp, "06-large-manifestwork-mcm.yaml");
    mcmDigest = join(tmp, "06-large-manifestwork-mcm-digest.yaml");
  });

  it("the case's MCM (560 env entries of 1,000 characters) is valid input: the CRDs admit up to MAX_ENV entries", async () => {
    const mcm = parseMcm(await readFile(mcmTag, "utf8"), mcmTag);
    expect(mcm.spec.moduleSpec.devicePlugin?.container.env).toHaveLength(560);
    expect(MAX_ENV).toBe(2048);
  });

  it("render blocks the device-plugin-only ManifestWork as ManifestWorkTooLarge and exits 2", async () => {
    const io = capture();
    const code = await main(["render", "--mcm", mcmTag, "--cluster", c("06-clusters.yaml"), "--digests", c("06-digests.yaml")], io);
    expect(code).toBe(2);
    expect(io.stdout).toBe("");
    expect(io.stderr).toMatch(/^cluster edge-big: no ManifestWork \(ManifestWorkTooLarge\): the manifests of ManifestWork edge-big\/big-plugin take 5\d{5} bytes, over OCM's limit of 512000/);
  });

  it("the controller's outcome for the same MCM (image by digest, no registry) is blocked too", async () => {
    const mcm = parseMcm(await readFile(mcmDigest, "utf8"), mcmDigest);
    const o = clusterOutcome(mcm, "edge-big", [], new Map());
    expect(o.kind).toBe("blocked");
    expect(o.kind === "blocked" && o.reason).toBe("ManifestWorkTooLarge");
    expect(MAX_MANIFESTWORK_BYTES).toBe(512_000);
  });
});

describe("case 15: render output read as YAML 1.1", () => {
  it("quotes on and no, so kubectl's YAML 1.1 reader gets the same strings", async () => {
    const io = capture();
    const code = await main(["render", "--mcm", c("15-render-yaml11-mcm.yaml"), "--cluster", c("15-clusters.yaml"), "--digests", c("15-digests.yaml")], io);
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    expect(io.stdout).toContain('feature.example/accel-enabled: "on"');
    expect(io.stdout).toContain('value: "no"');
    for (const version of ["1.1", "1.2"] as const) {
      const [work] = worksOf(io.stdout, version);
      expect(work?.module.spec.selector).toEqual({ "feature.example/accel-enabled": "on" });
      expect(work?.module.spec.devicePlugin?.container.env).toEqual([{ name: "LEGACY_MODE", value: "no" }]);
    }
  });

  it("-o json prints one List with the same ManifestWorks", async () => {
    const args = ["render", "--mcm", c("15-render-yaml11-mcm.yaml"), "--cluster", c("15-clusters.yaml"), "--digests", c("15-digests.yaml")];
    const yamlIo = capture();
    await main(args, yamlIo);
    const io = capture();
    expect(await main([...args, "-o", "json"], io)).toBe(0);
    const list = JSON.parse(io.stdout) as { kind: string; items: unknown[] };
    expect(list.kind).toBe("List");
    expect(list.items).toEqual(parseAllDocuments(yamlIo.stdout).map((d) => d.toJS() as unknown));
    const bad = capture();
    expect(await main([...args, "-o", "xml"], bad)).toBe(1);
    expect(bad.stderr).toContain("-o must be yaml or json");
  });

  it("any string reads back as itself under YAML 1.1 and 1.2 readers (property)", () => {
    const ambiguous = fc.constantFrom("on", "off", "yes", "no", "y", "n", "Y", "NO", "true", "null", "~", "0755", "0o17", "0x1F", "1:20", "1e3", "1_000", ".inf", "2001-12-14", "2001-12-14 21:59:43.10 -5", "<<", "=", "", "+1", "-.5");
    const value = fc.oneof(ambiguous, fc.string({ maxLength: 20 }), fc.string({ maxLength: 8, unit: "binary" }));
    fc.assert(
      fc.property(fc.dictionary(value, value, { maxKeys: 5 }), fc.array(value, { maxLength: 4 }), (labels, args) => {
        const objects = [{ metadata: { labels }, args }, { value: args[0] ?? "no" }];
        const text = toYaml(objects);
        for (const version of ["1.1", "1.2"] as const) {
          expect(parseAllDocuments(text, { version }).map((d) => d.toJS() as unknown)).toEqual(objects);
        }
        expect(JSON.parse(toJson(objects))).toEqual({ apiVersion: "v1", kind: "List", items: objects });
      }),
      { numRuns: 50 },
    );
  });
});

describe("case 16: output lost at exit", () => {
  it("`kmm-hub render … | slow reader` gets all 60 ManifestWorks, and exit 0", async () => {
    // A real pipe (child_process would give a socket pair, whose larger buffer hides the fault) whose
    // reader starts only once kmm-hub has exited, or after 8 s if kmm-hub waits for it (as it must):
    // the output beyond the pipe's 64 KiB must still arrive, and the exit status must be kmm-hub's.
    const render = [process.execPath, "hub/cli.ts", "render", "--mcm", join(EXAMPLES, "mcm.yaml"), "--cluster", c("16-sixty-clusters.yaml"), "--digests", join(EXAMPLES, "digests.yaml")];
    const status = join(tmp, "16-status");
    const script = `{ "$@"; echo $? > "${status}"; } | { for i in $(seq 80); do [ -s "${status}" ] && break; sleep 0.1; done; cat; }; exit $(cat "${status}")`;
    const { stdout } = await promisify(execFile)("bash", ["-c", script, "render", ...render], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    expect(stdout.length).toBeGreaterThan(64 * 1024);
    const works = worksOf(stdout);
    expect(works).toHaveLength(60);
    expect(works.map((w) => w.name).at(-1)).toBe("edge-060/gpu-driver");
  });
});
