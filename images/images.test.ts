// The four images as a cluster would get them: pulled back by digest from the registry the images
// project pushed them to (images/global-setup.ts), unpacked, and run for real in a fresh mount and
// PID namespace with a read-only root and a cleared environment. Also what no layer may hold.
import { execFile } from "node:child_process";
import { chown, cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createGunzip } from "node:zlib";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RegistryClient, readTar } from "../shared/registry/index.ts";
import { buildTestModules, layoutKmodTree } from "../spoke/worker/test-kmods.ts";
import { NONROOT_UID } from "./base.ts";
import { IMAGE_NAMES, ROOT, type ImageName } from "./build.ts";
import { pullAndUnpack, runInImage, type Unpacked } from "./testing/run-image.ts";

const run = promisify(execFile);
const { built, revision, sources } = inject("images");
const NODE = "/usr/local/bin/node";
const unpacked = {} as Record<ImageName, Unpacked>;
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "kmm-images-test-"));
  for (const name of IMAGE_NAMES) unpacked[name] = await pullAndUnpack(built[name].ref);
});
afterAll(async () => {
  for (const u of Object.values(unpacked)) await u.remove();
  await rm(scratch, { recursive: true, force: true });
});

/** The same command on this machine, from the sources the images were built from, with the environment cleared too. */
async function outside(args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, args, { cwd: sources, env: {}, maxBuffer: 16 << 20 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "" };
  }
}

describe("what the images say about themselves", () => {
  it.each(IMAGE_NAMES)("%s is the pushed digest, carries the OCI labels of this build and runs its program from /app", (name) => {
    const u = unpacked[name];
    expect(u.pull.digest).toBe(built[name].digest);
    expect(u.config.Labels?.["org.opencontainers.image.revision"]).toBe(revision);
    expect(u.config.Labels?.["org.opencontainers.image.version"]).toMatch(/^\d+\.\d+\.\d+/);
    expect(u.config.Labels?.["org.opencontainers.image.source"]).toMatch(/^https:\/\//);
    expect(u.config.Entrypoint?.[0]).toBe(NODE);
    expect(u.config.Entrypoint?.[1]).toMatch(/^\/app\/dist\/.+\.js$/);
  });

  it("the four share the base's Debian and Node layers", () => {
    const digests = (name: ImageName): string[] => unpacked[name].pull.manifest.layers.map((l: { digest: string }) => l.digest);
    const [debian, node] = digests("hub");
    for (const name of IMAGE_NAMES) {
      expect(digests(name).slice(0, 2)).toEqual([debian, node]);
    }
  });
});

describe("hub image", () => {
  it("kmm-hub --help prints what it prints outside", async () => {
    const inside = await runInImage(unpacked.hub, [NODE, "/app/dist/hub/cli.js", "--help"]);
    const host = await outside(["hub/cli.ts", "--help"]);
    expect(inside.stderr).toBe("");
    expect({ code: inside.code, stdout: inside.stdout }).toEqual(host);
    expect(host.stdout).toContain("kmm-hub render");
  });

  it("kmm-hub render of examples/render gives the same ManifestWorks as outside", async () => {
    const input = path.join(scratch, "render");
    await cp(path.join(ROOT, "examples", "render"), input, { recursive: true });
    const args = (dir: string) => ["render", "--mcm", `${dir}/mcm.yaml`, "--cluster", `${dir}/clusters.yaml`, "--digests", `${dir}/digests.yaml`];
    const inside = await runInImage(unpacked.hub, [NODE, "/app/dist/hub/cli.js", ...args("/input")], { binds: { "/input": input } });
    const host = await outside(["hub/cli.ts", ...args(input)]);
    expect(host.stdout).toContain("kind: ManifestWork");
    expect({ code: inside.code, stdout: inside.stdout }).toEqual(host);
  });
});

describe("spoke image", () => {
  it("starts and stops with a clear message when there is no kubeconfig and no pod ServiceAccount", async () => {
    const r = await runInImage(unpacked.spoke, unpacked.spoke.config.Entrypoint ?? []);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no API server to talk to: .*KUBECONFIG.*set \$KUBECONFIG or run in a pod/);
  });
});

describe("worker image", () => {
  it("its modprobe -n resolves real modules laid out as a kmod image, dependencies first", async () => {
    const modules = await buildTestModules();
    const kmod = path.join(scratch, "kmod");
    await layoutKmodTree(modules, kmod, "/opt");
    const r = await runInImage(unpacked.worker, ["/sbin/modprobe", "-n", "-v", "-d", "/kmod/opt", "-S", modules.kernelVersion, "kmm_ci_a"], { binds: { "/kmod": kmod } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const extra = `/kmod/opt/lib/modules/${modules.kernelVersion}/extra`;
    expect(r.stdout.trim().split("\n").map((l) => l.trim())).toEqual([`insmod ${extra}/kmm_ci_b.ko`, `insmod ${extra}/kmm_ci_a.ko`]);
  });

  it("runs the worker program as root (it needs CAP_SYS_MODULE): a bad command is a usage error, --help prints the usage", async () => {
    expect(unpacked.worker.config.User ?? "").toMatch(/^(0(:0)?|root)?$/);
    const entrypoint = unpacked.worker.config.Entrypoint ?? [];
    const bad = await runInImage(unpacked.worker, [...entrypoint, "kmod", "frobnicate"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`worker: command: Invalid option: expected one of "load"|"unload"\ntry 'worker --help' for usage\n`);
    const help = await runInImage(unpacked.worker, [...entrypoint, "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: worker [kmod] load|unload");
  });

  it("has cat for the module-loader's readiness probe", async () => {
    const dir = path.join(scratch, "ready");
    await mkdir(dir);
    await run("sh", ["-c", `echo ready > ${dir}/ready`]);
    const r = await runInImage(unpacked.worker, ["cat", "/state/ready"], { binds: { "/state": dir } });
    expect(r).toMatchObject({ code: 0, stdout: "ready\n" });
  });
});

describe("signer image", () => {
  it("its sign-file signs a real module as the non-root user (modinfo shows the signer)", async () => {
    const modules = await buildTestModules();
    const work = path.join(scratch, "sign");
    await mkdir(work);
    await run("openssl", ["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kmm-hub image test/", "-keyout", `${work}/key.pem`, "-out", `${work}/cert.pem`]);
    await cp(path.join(modules.dir, "kmm_ci_c.ko"), path.join(work, "kmm_ci_c.ko"));
    for (const f of ["", "key.pem", "cert.pem", "kmm_ci_c.ko"]) await chown(path.join(work, f), NONROOT_UID, NONROOT_UID);
    const r = await runInImage(unpacked.signer, ["/usr/local/bin/sign-file", "sha256", "/work/key.pem", "/work/cert.pem", "/work/kmm_ci_c.ko"], { binds: { "/work": work } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const { stdout } = await run("modinfo", ["-F", "signer", path.join(work, "kmm_ci_c.ko")]);
    expect(stdout.trim()).toBe("kmm-hub image test");
  });

  it("runs the signer program, which refuses to start without its flags (a usage error) and prints its usage on --help", async () => {
    const entrypoint = unpacked.signer.config.Entrypoint ?? [];
    const bare = await runInImage(unpacked.signer, entrypoint);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^kmm-signer: --unsigned-image is required.*\ntry 'kmm-signer --help' for usage\n/);
    const help = await runInImage(unpacked.signer, [...entrypoint, "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: kmm-signer");
  });
});

describe("non-root and read-only", () => {
  it.each(["hub", "spoke", "signer"] as const)("%s runs as the non-root UID 65532, and its root filesystem can stay read-only", async (name) => {
    expect(unpacked[name].config.User).toBe(`${NONROOT_UID}:${NONROOT_UID}`);
    const probe = "process.stdout.write(String(process.getuid())+':'+String(process.getgid())); try { require('node:fs').writeFileSync('/app/x', ''); } catch (e) { process.stdout.write(' '+e.code) }";
    const r = await runInImage(unpacked[name], [NODE, "-e", probe]);
    expect(r).toMatchObject({ code: 0, stdout: `${NONROOT_UID}:${NONROOT_UID} EROFS` });
  });
});

describe("every layer of every image", () => {
  // Private keys with a body, and token formats of npm, GitHub and AWS. Public certificates are fine.
  const SECRET_CONTENT = [/-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{40}/, /\bnpm_[A-Za-z0-9]{36}\b/, /\bgh[pousr]_[A-Za-z0-9]{36}\b/, /\bAKIA[0-9A-Z]{16}\b/];
  const SECRET_NAMES = /(^|\/)(\.npmrc|\.env|\.git-credentials|\.docker\/config\.json|id_rsa|id_ed25519|kubeconfig|[^/]*\.(pem|key|p12|pfx))$/;

  it("holds nothing world-writable and no secret, token or key", async () => {
    const client = new RegistryClient();
    const seen = new Set<string>();
    const problems: string[] = [];
    let entries = 0;
    try {
      for (const name of IMAGE_NAMES) {
        for (const layer of unpacked[name].pull.manifest.layers) {
          if (seen.has(layer.digest)) continue;
          seen.add(layer.digest);
          const blob = await client.openBlob(built[name].ref, layer, { tls: { insecure: true } });
          for await (const { header, body } of readTar(blob.pipe(createGunzip()))) {
            entries++;
            const where = `${name} ${layer.digest.slice(7, 19)} ${header.path}`;
            if (header.type !== "symlink" && (header.mode & 0o002) !== 0) problems.push(`${where}: world-writable (${header.mode.toString(8)})`);
            // A symlink holds no bytes of its own (openssl's usr/lib/ssl/cert.pem points at the public CA bundle).
            if (header.type !== "symlink" && SECRET_NAMES.test(header.path.replace(/\/$/, ""))) problems.push(`${where}: a credential file name`);
            if (path.posix.basename(header.path).startsWith(".wh.")) problems.push(`${where}: a whiteout (the layers only add files)`);
            if (header.type !== "file") continue;
            const chunks: Buffer[] = [];
            for await (const c of body()) chunks.push(c);
            const text = Buffer.concat(chunks).toString("latin1");
            for (const re of SECRET_CONTENT) if (re.test(text)) problems.push(`${where}: content matches ${re.source}`);
          }
        }
      }
    } finally {
      client.close();
    }
    expect(problems).toEqual([]);
    expect(seen.size).toBeGreaterThanOrEqual(6);
    // Debian's and Node's files and the programs' (~550 entries since the programs ship as bundles, issue 16).
    expect(entries).toBeGreaterThan(400);
  }, 300_000);
});
