import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseKubeDocuments } from "../shared/yaml/read.ts";
import { ManifestWork } from "../shared/ocm/index.ts";
import { main, type CliIO } from "./cli.ts";
import { KERNEL_VERSIONS_CLAIM } from "./names.ts";
import { DIGEST_A } from "./testdata.ts";

const run = promisify(execFile);
let dir: string;

const mcmYaml = `apiVersion: hub.kmm.sigs.x-k8s.io/v1beta1
kind: ManagedClusterModule
metadata:
  name: kmod
spec:
  spokeNamespace: kmm
  selector:
    wants-kmod: "true"
  moduleSpec:
    selector:
      kmm: "true"
    moduleLoader:
      container:
        modprobe:
          moduleName: kmod
        build:
          dockerfileConfigMap:
            name: df
        kernelMappings:
          - regexp: '^6\\.'
            containerImage: registry.example.com/kmm/\${MOD_NAME}:\${KERNEL_FULL_VERSION}
`;

function cluster(name: string, labels: Record<string, string>, kernels?: string): unknown {
  return {
    apiVersion: "cluster.open-cluster-management.io/v1",
    kind: "ManagedCluster",
    metadata: { name, labels },
    spec: { hubAcceptsClient: true },
    status: kernels === undefined ? {} : { clusterClaims: [{ name: KERNEL_VERSIONS_CLAIM, value: kernels }] },
  };
}

function capture(): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    out: (s: string) => { io.stdout += s; },
    err: (s: string) => { io.stderr += s; },
    readFile: async (p: string) => (await import("node:fs/promises")).readFile(p, "utf8"),
  };
  return io;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kmm-hub-render-"));
  await writeFile(join(dir, "mcm.yaml"), mcmYaml);
  await writeFile(
    join(dir, "clusters.yaml"),
    [cluster("spoke1", { "wants-kmod": "true" }, "6.1.0-18-amd64\n6.1.0-20-amd64"), cluster("spoke2", { "wants-kmod": "false" }, "6.1.0-18-amd64")].map((c) => stringify(c)).join("---\n"),
  );
  await writeFile(join(dir, "list.yaml"), stringify({ apiVersion: "v1", kind: "List", items: [cluster("spoke3", { "wants-kmod": "true" })] }));
  await writeFile(
    join(dir, "digests.yaml"),
    stringify({ "registry.example.com/kmm/kmod:6.1.0-18-amd64": DIGEST_A, "registry.example.com/kmm/kmod:6.1.0-20-amd64": `sha256:${"c".repeat(64)}` }),
  );
  await writeFile(join(dir, "bad-digests.yaml"), stringify({ "registry.example.com/kmm/kmod:6.1.0-18-amd64": "sha256:nothex" }));
  await writeFile(join(dir, "bad-mcm.yaml"), mcmYaml.replace("  spokeNamespace: kmm\n", ""));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("kmm-hub render", () => {
  it("renders the README's example in examples/render", async () => {
    const ex = join(import.meta.dirname, "..", "examples", "render");
    const io = capture();
    const code = await main(["render", "--mcm", join(ex, "mcm.yaml"), "--cluster", join(ex, "clusters.yaml"), "--digests", join(ex, "digests.yaml")], io);
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    const works = parseKubeDocuments(io.stdout).map((d) => ManifestWork.parse(d.toJS()));
    expect(works.map((w) => `${w.metadata.namespace ?? ""}/${w.metadata.name ?? ""}`)).toEqual(["edge-1/gpu-driver"]);
    const module = works[0]!.spec!.workload!.manifests![0] as unknown as { spec: { moduleLoader: { container: { kernelMappings: { literal: string; containerImage: string }[] } } } };
    expect(module.spec.moduleLoader.container.kernelMappings.map((k) => k.literal)).toEqual(["5.14.0-427.13.1.el9_4.x86_64", "5.14.0-503.11.1.el9_5.x86_64"]);
    for (const k of module.spec.moduleLoader.container.kernelMappings) expect(k.containerImage).toMatch(/^registry\.example\.com\/drivers\/gpu-driver@sha256:[0-9a-f]{64}$/);
  });

  it("prints the ManifestWorks of the selected clusters, pinned with the digest map", async () => {
    const io = capture();
    const code = await main(["render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "clusters.yaml"), "--digests", join(dir, "digests.yaml")], io);
    expect(io.stderr).toBe("");
    expect(code).toBe(0);
    const works = parseKubeDocuments(io.stdout).map((d) => ManifestWork.parse(d.toJS()));
    expect(works.map((w) => `${w.metadata.namespace ?? ""}/${w.metadata.name ?? ""}`)).toEqual(["spoke1/kmod"]);
    const module = works[0]!.spec!.workload!.manifests![0] as unknown as { spec: { moduleLoader: { container: { kernelMappings: unknown[]; build?: unknown } } } };
    expect(module.spec.moduleLoader.container.build).toBeUndefined();
    expect(module.spec.moduleLoader.container.kernelMappings).toEqual([
      { literal: "6.1.0-18-amd64", containerImage: `registry.example.com/kmm/kmod@${DIGEST_A}`, inTreeModulesToRemove: [] },
      { literal: "6.1.0-20-amd64", containerImage: `registry.example.com/kmm/kmod@sha256:${"c".repeat(64)}`, inTreeModulesToRemove: [] },
    ]);
  });

  it("exits 2 and explains which clusters got no ManifestWork (no digest, no claim)", async () => {
    const io = capture();
    const code = await main(["render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "clusters.yaml"), "--cluster", join(dir, "list.yaml")], io);
    expect(code).toBe(2);
    expect(io.stdout).toBe("");
    expect(io.stderr).toContain("cluster spoke1: no ManifestWork (RegistryError): kernel 6.1.0-18-amd64: no digest for registry.example.com/kmm/kmod:6.1.0-18-amd64");
    expect(io.stderr).toContain("cluster spoke3: no ManifestWork (Pending)");
  });

  it("exits 1 with a message naming the file and field for invalid input", async () => {
    let io = capture();
    expect(await main(["render", "--mcm", join(dir, "bad-mcm.yaml"), "--cluster", join(dir, "clusters.yaml")], io)).toBe(1);
    expect(io.stderr).toContain("bad-mcm.yaml: not a valid ManagedClusterModule: spec.spokeNamespace");
    io = capture();
    expect(await main(["render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "clusters.yaml"), "--digests", join(dir, "bad-digests.yaml")], io)).toBe(1);
    expect(io.stderr).toContain("bad-digests.yaml: registry.example.com/kmm/kmod:6.1.0-18-amd64");
    io = capture();
    expect(await main(["render", "--mcm", join(dir, "missing.yaml"), "--cluster", join(dir, "clusters.yaml")], io)).toBe(1);
    expect(io.stderr).toContain("cannot read ManagedClusterModule file");
    io = capture();
    expect(await main(["render", "--cluster", join(dir, "clusters.yaml")], io)).toBe(1);
    expect(io.stderr).toContain("render needs --mcm FILE");
    io = capture();
    expect(await main(["render", "--bogus"], io)).toBe(1);
    expect(io.stderr).toMatch(/^kmm-hub: Unknown option '--bogus'.*\ntry 'kmm-hub --help' for usage\n$/);
    io = capture();
    expect(await main(["frobnicate"], io)).toBe(1);
    expect(io.stderr).toBe("kmm-hub: unknown command \"frobnicate\"\ntry 'kmm-hub --help' for usage\n");
  });

  it("an invalid regexp is bad input: one line, exit 1 (not once per cluster and kernel, exit 2)", async () => {
    await writeFile(join(dir, "bad-regexp-mcm.yaml"), mcmYaml.replace("'^6\\.'", "'^6\\.(('"));
    const io = capture();
    expect(await main(["render", "--mcm", join(dir, "bad-regexp-mcm.yaml"), "--cluster", join(dir, "clusters.yaml"), "--digests", join(dir, "digests.yaml")], io)).toBe(1);
    expect(io.stdout).toBe("");
    expect(io.stderr).toBe("kmm-hub: kernel mapping 0 of Module kmm/kmod: regexp '^6\\.((' is not valid RE2: missing closing ): `^6\\.((`\n");
  });

  it("a cluster whose kernels a mapping matches but its template cannot serve says why on its own line", async () => {
    await writeFile(join(dir, "z-mcm.yaml"), mcmYaml.replace("${KERNEL_FULL_VERSION}", "${KERNEL_Z}"));
    await writeFile(join(dir, "short-kernels.yaml"), stringify(cluster("spoke5", { "wants-kmod": "true" }, "6.1")));
    const io = capture();
    expect(await main(["render", "--mcm", join(dir, "z-mcm.yaml"), "--cluster", join(dir, "short-kernels.yaml"), "--digests", join(dir, "digests.yaml")], io)).toBe(2);
    const [clusterLine] = io.stderr.split("\n");
    expect(clusterLine).toMatch(/^cluster spoke5: no ManifestWork \(Pending\): no kernel of spoke5 is served: kernel 6\.1: kernel mapping 0 matches, but its containerImage .* uses \$\{KERNEL_Z\}, which needs a patch level/);
    expect(clusterLine).not.toContain("no kernel mapping");
  });

  it("runs when started through a symbolic link, as npx kmm-hub and installed bins start it", async () => {
    const link = join(dir, "kmm-hub");
    await symlink(join(import.meta.dirname, "cli.ts"), link);
    const { stdout } = await run(process.execPath, ["--disable-warning=ExperimentalWarning", link, "--help"]);
    expect(stdout).toMatch(/^usage:\n {2}kmm-hub run/);
  });

  it("prints the usage and exits 0 for --help and -h after a command", async () => {
    for (const argv of [["render", "--help"], ["render", "-h"], ["run", "--help"], ["run", "-h"], ["--help"]]) {
      const io = capture();
      expect(await main(argv, io)).toBe(0);
      expect(io.stdout).toContain("kmm-hub render --mcm FILE");
      expect(io.stderr).toBe("");
    }
  });

  it("reads the inputs as kubectl does (YAML 1.1): an unquoted yes where a string belongs is refused with a hint", async () => {
    await writeFile(join(dir, "yes-mcm.yaml"), mcmYaml.replace('wants-kmod: "true"', "wants-kmod: yes"));
    const io = capture();
    expect(await main(["render", "--mcm", join(dir, "yes-mcm.yaml"), "--cluster", join(dir, "clusters.yaml")], io)).toBe(1);
    expect(io.stderr).toContain("yes-mcm.yaml: not a valid ManagedClusterModule: spec.selector.wants-kmod: Invalid input: expected string, received boolean");
    expect(io.stderr).toContain("quote such values");
    expect(io.stdout).toBe("");
    // Dates and base-60 forms stay strings, as in go-yaml v2.
    await writeFile(join(dir, "date-mcm.yaml"), mcmYaml.replace('wants-kmod: "true"', "wants-kmod: 2024-01-01\n    slot: 5:30"));
    await writeFile(join(dir, "date-clusters.yaml"), stringify(cluster("spoke9", { "wants-kmod": "2024-01-01", slot: "5:30" }, "6.1.0-18-amd64")));
    const dated = capture();
    expect(await main(["render", "--mcm", join(dir, "date-mcm.yaml"), "--cluster", join(dir, "date-clusters.yaml"), "--digests", join(dir, "digests.yaml")], dated)).toBe(0);
    expect(dated.stderr).toBe("");
    expect(dated.stdout).toContain("namespace: spoke9");
  });

  it("refuses a ManagedCluster given twice (one name, two ManifestWorks for one namespace), naming both places", async () => {
    const io = capture();
    expect(await main(["render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "clusters.yaml"), "--cluster", join(dir, "clusters.yaml"), "--digests", join(dir, "digests.yaml")], io)).toBe(1);
    expect(io.stdout).toBe("");
    expect(io.stderr).toBe(`kmm-hub: ManagedCluster spoke1 is given twice (${join(dir, "clusters.yaml")}, document 1 and ${join(dir, "clusters.yaml")}, document 1); give each cluster once\n`);
  });

  it("says on stderr when no ManagedCluster is selected or none is given (nothing to render)", async () => {
    const io = capture();
    expect(await main(["render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "list.yaml")], io)).toBe(2);
    expect(io.stderr).not.toContain("nothing to render");
    await writeFile(join(dir, "unselected.yaml"), stringify(cluster("spoke4", { "wants-kmod": "false" }, "6.1.0-18-amd64")));
    await writeFile(join(dir, "empty.yaml"), "");
    const none = capture();
    expect(await main(["render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "unselected.yaml")], none)).toBe(0);
    expect(none.stdout).toBe("");
    expect(none.stderr).toBe(`kmm-hub: none of the 1 ManagedCluster(s) in ${join(dir, "unselected.yaml")} has the labels of the ManagedClusterModule's spec.selector {"wants-kmod":"true"}: nothing to render\n`);
    const empty = capture();
    expect(await main(["render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "empty.yaml")], empty)).toBe(0);
    expect(empty.stderr).toBe(`kmm-hub: ${join(dir, "empty.yaml")} holds no ManagedCluster: nothing to render\n`);
  });

  it("refuses to run with a bad config file, naming the field", async () => {
    await writeFile(join(dir, "bad-config.yaml"), "digestRefreshInterval: soon\n");
    const io = capture();
    expect(await main(["run", "--config", join(dir, "bad-config.yaml"), "--namespace", "kmm-hub"], io)).toBe(1);
    expect(io.stderr).toContain("digestRefreshInterval");
  });

  it("refuses to run without a usable kubeconfig in one line, naming the file (no stack trace)", async () => {
    await writeFile(join(dir, "bad-kubeconfig.yaml"), "apiVersion: v1\nkind: Config\nclusters: oops\n");
    for (const [file, says] of [["missing-kubeconfig.yaml", "cannot read kubeconfig"], ["bad-kubeconfig.yaml", "is not a valid kubeconfig: clusters"]] as const) {
      const io = capture();
      expect(await main(["run", "--kubeconfig", join(dir, file), "--namespace", "kmm-hub"], io)).toBe(1);
      expect(io.stderr).toContain(join(dir, file));
      expect(io.stderr).toContain(says);
      expect(io.stderr).toMatch(/^kmm-hub: [^\n]*\n$/);
    }
  });

  it("refuses a missing or non-PEM --registry-ca before starting, naming the flag and the file", async () => {
    await writeFile(join(dir, "not-a-ca.pem"), "hello\n");
    for (const [file, says] of [["missing-ca.pem", "cannot read it: ENOENT"], ["not-a-ca.pem", "not a PEM file of CA certificates"]] as const) {
      const io = capture();
      expect(await main(["run", "--registry-ca", join(dir, file), "--kubeconfig", join(dir, "missing-kubeconfig.yaml"), "--namespace", "kmm-hub"], io)).toBe(1);
      expect(io.stderr).toContain(`kmm-hub: --registry-ca ${join(dir, file)}: ${says}`);
      expect(io.stderr).toMatch(/^kmm-hub: [^\n]*\n$/);
    }
  });

  it("refuses a bad --health-probe-bind-address or --metrics-bind-address before starting, naming the flags", async () => {
    const io = capture();
    expect(await main(["run", "--health-probe-bind-address", "127.0.0.2:http", "--namespace", "kmm-hub"], io)).toBe(1);
    expect(io.stderr).toContain("invalid configuration in the command-line flags:\n  healthProbeBindAddress: \"127.0.0.2:http\" is not a bind address");
    const io2 = capture();
    expect(await main(["run", "--metrics-bind-address", "$(POD_IP):8443", "--namespace", "kmm-hub"], io2)).toBe(1);
    expect(io2.stderr).toContain("metrics.bindAddress");
  });

  it("as a program: `render | head -c 100` ends quietly, `render > /dev/full` says so in one line (issue 13 kind 8)", async () => {
    const many = Array.from({ length: 300 }, (_, i) => stringify(cluster(`spoke-${i}`, { "wants-kmod": "true" }, "6.1.0-18-amd64"))).join("---\n");
    await writeFile(join(dir, "many.yaml"), many);
    const render = `"${process.execPath}" hub/cli.ts render --mcm "${join(dir, "mcm.yaml")}" --cluster "${join(dir, "many.yaml")}" --digests "${join(dir, "digests.yaml")}"`;
    const cwd = join(import.meta.dirname, "..");
    const piped = await run("bash", ["-c", `set -o pipefail; ${render} 2>"${join(dir, "pipe.err")}" | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`], { cwd });
    expect(["0", "141"]).toContain(piped.stdout.trim());
    expect(await readFile(join(dir, "pipe.err"), "utf8")).toBe("");
    const full = await run("bash", ["-c", `${render} >/dev/full; echo "rc=$?" >&2`], { cwd });
    expect(full.stderr).toBe("kmm-hub: cannot write output: no space left on device\nrc=1\n");
  });

  it("works as a program (the npm bin entry)", async () => {
    const args = ["hub/cli.ts", "render", "--mcm", join(dir, "mcm.yaml"), "--cluster", join(dir, "clusters.yaml"), "--digests", join(dir, "digests.yaml")];
    const { stdout } = await run(process.execPath, args, { cwd: join(import.meta.dirname, "..") });
    expect(stdout).toContain(`registry.example.com/kmm/kmod@${DIGEST_A}`);
    const failed = await run(process.execPath, args.slice(0, 6), { cwd: join(import.meta.dirname, "..") }).then(
      () => undefined,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(2);
  });
});
