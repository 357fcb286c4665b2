// The signer end to end, for real: kernel modules built in the test against Debian's headers,
// packed as a kmod image and pushed to Debian's docker-registry (TLS with its own CA, htpasswd
// auth), signed through the CLI entry with an openssl-made key and Debian's sign-file, pulled back
// and checked with modinfo.
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../shared/registry/client.ts";
import { Keychain } from "../../shared/registry/keychain.ts";
import { pullImage } from "../../shared/registry/pull.ts";
import { buildLayer, pushImage } from "../../shared/registry/push.ts";
import { readTar, type TarHeader, type TarWriteEntry } from "../../shared/registry/tar.ts";
import { createTestPki, type TestPki } from "../../shared/registry/testing/pki.ts";
import { startRegistry, type RegistryServer } from "../../shared/registry/testing/registry-server.ts";
import { createLogger } from "../../shared/runtime/logger.ts";
import { buildTestModules, layoutKmodTree, type BuiltModules } from "../../spoke/worker/test-kmods.ts";
import { main } from "./main.ts";
import { appendedSignature } from "./module-signature.ts";
import { findSignFile } from "./sign-file.ts";

const run = promisify(execFile);
const USER = "signer";
const PASSWORD = "s3cret-push";

let built: BuiltModules;
let tmp: string;
let pki: TestPki;
let registry: RegistryServer;
let client: RegistryClient;
let keychain: Keychain;
let dockerConfig: string;
let kernel: string;
let unsigned: string;
/** Entries of the unsigned image's module layer, by path. */
const sourceFiles = new Map<string, TarWriteEntry>();
const keys: Record<"one" | "two", { key: string; cert: string; keyPem: string; serial: string; cn: string }> = {} as never;
const logLines: string[] = [];

async function makeKey(name: "one" | "two"): Promise<void> {
  const key = path.join(tmp, `${name}.priv`);
  const cert = path.join(tmp, `${name}.der`);
  const cn = `kmm-hub test signing key ${name}`;
  // As the seed's procedure: a self-signed certificate in DER and a PEM private key.
  await run("openssl", ["req", "-x509", "-new", "-nodes", "-utf8", "-sha256", "-days", "2", "-batch", "-newkey", "rsa:2048", "-subj", `/CN=${cn}`, "-outform", "DER", "-out", cert, "-keyout", key]);
  const x509 = new X509Certificate(await readFile(cert));
  keys[name] = { key, cert, keyPem: await readFile(key, "utf8"), serial: x509.serialNumber, cn };
}

/** The unsigned kmod image: a base layer, then /opt with the modules and depmod's files. */
async function pushUnsignedImage(): Promise<string> {
  const root = path.join(tmp, "kmod-root");
  await layoutKmodTree(built, root, "/opt");
  const entries: TarWriteEntry[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if ((await stat(full)).isDirectory()) {
        entries.push({ path: rel, type: "directory", mode: 0o755 });
        await walk(full);
      } else {
        const entry: TarWriteEntry = { path: rel, content: await readFile(full), mode: 0o644, mtime: 1_700_000_000 };
        // Owners and modes that the signed copies must keep.
        if (name === "kmm_ci_a.ko") Object.assign(entry, { mode: 0o640, uid: 1000, gid: 27, uname: "builder", gname: "video" });
        entries.push(entry);
        sourceFiles.set(rel, entry);
      }
    }
  };
  await walk(root);
  const extra = `opt/lib/modules/${kernel}/extra`;
  entries.push({ path: `${extra}/current.ko`, type: "symlink", linkname: "kmm_ci_b.ko" });
  const base = buildLayer([
    { path: "etc", type: "directory" },
    { path: "etc/os-release", content: "ID=kmm-test\n" },
  ]);
  const ref = `${registry.host}/kmm/kmm-ci:${kernel}`;
  await pushImage(client, ref, { layers: [base, buildLayer(entries)] }, { keychain });
  return ref;
}

beforeAll(async () => {
  built = await buildTestModules();
  kernel = built.kernelVersion;
  tmp = await mkdtemp(path.join(tmpdir(), "kmm-signer-test-"));
  pki = await createTestPki(tmp);
  registry = await startRegistry({
    tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile },
    auth: { kind: "htpasswd", users: { [USER]: PASSWORD } },
  });
  keychain = Keychain.fromDockerConfig(JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }), "test");
  dockerConfig = path.join(tmp, "config.json");
  await writeFile(dockerConfig, JSON.stringify({ auths: { [registry.host]: { username: USER, password: PASSWORD } } }));
  client = new RegistryClient({ keychain, caBundle: pki.caPem });
  await makeKey("one");
  await makeKey("two");
  unsigned = await pushUnsignedImage();
});

afterAll(async () => {
  client.close();
  await registry.stop();
  await rm(tmp, { recursive: true, force: true });
});

let runs = 0;
/** Runs the CLI entry as a sign Job would; returns its exit status and termination message. */
async function signer(args: string[], key: "one" | "two" = "one"): Promise<{ status: number; message: string }> {
  const terminationLog = path.join(tmp, `termination-${++runs}`);
  const log = createLogger({ name: "kmm-signer", destination: { write: (s: string) => void logLines.push(s) } });
  const status = await main(
    ["--key", keys[key].key, "--cert", keys[key].cert, "--docker-config", dockerConfig, "--ca-file", pki.caFile, "--termination-log", terminationLog, ...args],
    {},
    log,
  );
  return { status, message: await readFile(terminationLog, "utf8").catch(() => "") };
}

const filesArgs = () => ["--kernel", kernel, "--file-to-sign", "/opt/lib/modules/${KERNEL_FULL_VERSION}/extra/kmm_ci_a.ko", "--file-to-sign", `/opt/lib/modules/${kernel}/extra/current.ko`];

async function manifestOf(ref: string) {
  const m = await client.getManifest(ref);
  if (m.kind !== "image") throw new Error("expected an image manifest");
  return m;
}

async function layerHeaders(ref: string, index: number): Promise<{ header: TarHeader; content: Buffer }[]> {
  const m = await manifestOf(ref);
  const layer = m.manifest.layers[index];
  if (layer === undefined) throw new Error(`no layer ${index}`);
  const blob = await client.readBlob(ref, layer);
  const out: { header: TarHeader; content: Buffer }[] = [];
  for await (const { header, body } of readTar(Readable.from([gunzipSync(blob)]))) {
    const chunks: Buffer[] = [];
    for await (const c of body()) chunks.push(c);
    out.push({ header, content: Buffer.concat(chunks) });
  }
  return out;
}

async function pulled(ref: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmp, "pulled-"));
  await pullImage(client, ref, dir);
  return dir;
}

async function modinfo(file: string, field: string): Promise<string> {
  const { stdout } = await run("modinfo", ["-F", field, file]);
  return stdout.trim();
}

const hexSerial = (s: string) => s.replace(/:/g, "").toUpperCase().replace(/^0+/, "");

describe("kmm-signer", () => {
  let signedRef: string;
  let signedDigest: string;

  it("finds Debian's sign-file", async () => {
    expect(await findSignFile()).toMatch(/\/scripts\/sign-file$/);
  });

  it("signs filesToSign with sign-file sha256 and appends exactly one layer with the same paths, modes and owners", async () => {
    signedRef = `${registry.host}/kmm/kmm-ci-signed:${kernel}`;
    const result = await signer(["--unsigned-image", unsigned, "--destination", signedRef, ...filesArgs()]);
    expect(result.status, result.message).toBe(0);
    signedDigest = result.message;
    expect(signedDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The termination message is what the registry serves under the destination tag.
    expect(await client.resolveDigest(signedRef)).toBe(signedDigest);

    const before = await manifestOf(unsigned);
    const after = await manifestOf(signedRef);
    expect(after.manifest.layers.length).toBe(before.manifest.layers.length + 1);
    expect(after.manifest.layers.slice(0, -1)).toEqual(before.manifest.layers);
    const config = await client.readConfig(signedRef, after.manifest);
    const oldConfig = await client.readConfig(unsigned, before.manifest);
    expect(config.rootfs.diff_ids.slice(0, -1)).toEqual(oldConfig.rootfs.diff_ids);
    expect(config.rootfs.diff_ids).toHaveLength(oldConfig.rootfs.diff_ids.length + 1);

    // The added layer holds the two signed modules (the symlink's target, not the symlink) and nothing else.
    const extra = `opt/lib/modules/${kernel}/extra`;
    const added = await layerHeaders(signedRef, -1 + after.manifest.layers.length);
    expect(added.map((e) => e.header.path)).toEqual([`${extra}/kmm_ci_a.ko`, `${extra}/kmm_ci_b.ko`]);
    for (const { header } of added) {
      const src = sourceFiles.get(header.path);
      expect(header.type).toBe("file");
      expect(header.mode).toBe(src?.mode);
      expect([header.uid, header.gid, header.uname, header.gname]).toEqual([src?.uid ?? 0, src?.gid ?? 0, src?.uname ?? "", src?.gname ?? ""]);
      expect(header.mtime).toBe(src?.mtime);
    }
  });

  it("modinfo shows the signer, the key id and sha256 on the signed modules", async () => {
    const dir = await pulled(signedRef);
    const extra = path.join(dir, `opt/lib/modules/${kernel}/extra`);
    for (const m of ["kmm_ci_a.ko", "kmm_ci_b.ko", "current.ko"]) {
      const file = path.join(extra, m);
      expect(await modinfo(file, "signer")).toBe(keys.one.cn);
      expect(hexSerial(await modinfo(file, "sig_key"))).toBe(hexSerial(keys.one.serial));
      expect(await modinfo(file, "sig_hashalgo")).toBe("sha256");
      expect(await modinfo(file, "sig_id")).toBe("PKCS#7");
    }
    // Not in filesToSign: still unsigned.
    expect(await modinfo(path.join(extra, "kmm_ci_c.ko"), "signer")).toBe("");
  });

  it("leaves every file outside filesToSign byte-identical, and the signed ones are the originals plus a signature", async () => {
    const [a, b] = await Promise.all([pulled(unsigned), pulled(signedRef)]);
    const list = async (root: string): Promise<string[]> => {
      const out: string[] = [];
      const walk = async (dir: string) => {
        for (const e of await readdir(dir, { withFileTypes: true })) {
          const full = path.join(dir, e.name);
          if (e.isDirectory()) await walk(full);
          else out.push(path.relative(root, full));
        }
      };
      await walk(root);
      return out.sort();
    };
    const files = await list(a);
    expect(await list(b)).toEqual(files);
    const extra = `opt/lib/modules/${kernel}/extra`;
    const signedFiles = new Set([`${extra}/kmm_ci_a.ko`, `${extra}/kmm_ci_b.ko`, `${extra}/current.ko`]);
    let identical = 0;
    for (const f of files) {
      const [x, y] = await Promise.all([readFile(path.join(a, f)), readFile(path.join(b, f))]);
      if (signedFiles.has(f)) {
        const sig = appendedSignature(y);
        expect(sig?.bodyLength).toBe(x.length);
        expect(y.subarray(0, x.length).equals(x)).toBe(true);
      } else {
        expect(y.equals(x), f).toBe(true);
        identical++;
      }
    }
    expect(identical).toBeGreaterThanOrEqual(5); // kmm_ci_c.ko, os-release and depmod's modules.* files
  });

  it("signing twice changes nothing: same input gives the same digest, and a signed image gets no layer", async () => {
    const again = await signer(["--unsigned-image", unsigned, "--destination", signedRef, ...filesArgs()]);
    expect(again).toEqual({ status: 0, message: signedDigest });
    const copyRef = `${registry.host}/kmm/kmm-ci-resigned:${kernel}`;
    const resigned = await signer(["--unsigned-image", signedRef, "--destination", copyRef, ...filesArgs()]);
    expect(resigned).toEqual({ status: 0, message: signedDigest });
    expect((await manifestOf(copyRef)).manifest.layers).toEqual((await manifestOf(signedRef)).manifest.layers);
    expect(logLines.join("")).toContain("already signed with this key");
  });

  it("replaces a signature made with another key instead of stacking a second one", async () => {
    const otherRef = `${registry.host}/kmm/kmm-ci-other-key:${kernel}`;
    const result = await signer(["--unsigned-image", signedRef, "--destination", otherRef, ...filesArgs()], "two");
    expect(result.status, result.message).toBe(0);
    expect((await manifestOf(otherRef)).manifest.layers).toHaveLength((await manifestOf(signedRef)).manifest.layers.length + 1);
    const dir = await pulled(otherRef);
    const a = path.join(dir, `opt/lib/modules/${kernel}/extra/kmm_ci_a.ko`);
    expect(await modinfo(a, "signer")).toBe(keys.two.cn);
    const original = sourceFiles.get(`opt/lib/modules/${kernel}/extra/kmm_ci_a.ko`)?.content as Buffer;
    expect(appendedSignature(await readFile(a))?.bodyLength).toBe(original.length);
  });

  it("never writes key material to its logs, termination messages or image layers", async () => {
    const keyBody = keys.one.keyPem.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
    const blobs: Buffer[] = [];
    for (const ref of [signedRef]) {
      const m = await manifestOf(ref);
      for (const l of m.manifest.layers) blobs.push(gunzipSync(await client.readBlob(ref, l)));
    }
    const der = Buffer.from(keyBody.join(""), "base64");
    const haystacks = [logLines.join(""), ...blobs.map((b) => b.toString("latin1"))];
    for (const text of haystacks) {
      expect(text).not.toContain("PRIVATE KEY");
      for (const line of keyBody) expect(text).not.toContain(line);
    }
    for (const b of blobs) expect(b.includes(der.subarray(0, 64))).toBe(false);
  });

  it("fails with a message in the termination log when a pattern matches nothing or the key does not fit the certificate", async () => {
    const none = await signer(["--unsigned-image", unsigned, "--destination", `${registry.host}/kmm/x:1`, "--file-to-sign", "/opt/lib/modules/nope/*.ko"]);
    expect(none.status).toBe(1);
    expect(none.message).toMatch(/filesToSign entry \/opt\/lib\/modules\/nope\/\*\.ko matches no file/);
    const mismatch = await main(
      ["--key", keys.two.key, "--cert", keys.one.cert, "--ca-file", pki.caFile, "--docker-config", dockerConfig, "--termination-log", path.join(tmp, "mismatch"), "--unsigned-image", unsigned, "--destination", `${registry.host}/kmm/x:1`, ...filesArgs()],
      {},
      createLogger({ name: "kmm-signer", level: "silent" }),
    );
    expect(mismatch).toBe(1);
    const message = await readFile(path.join(tmp, "mismatch"), "utf8");
    expect(message).toMatch(/does not belong to the certificate/);
    expect(message).not.toContain("PRIVATE KEY");
  });

  it("honours the pull secret: without it the registry refuses, and the message says so", async () => {
    const out = path.join(tmp, "noauth");
    const status = await main(
      ["--key", keys.one.key, "--cert", keys.one.cert, "--ca-file", pki.caFile, "--termination-log", out, "--unsigned-image", unsigned, "--destination", `${registry.host}/kmm/x:1`, ...filesArgs()],
      {},
      createLogger({ name: "kmm-signer", level: "silent" }),
    );
    expect(status).toBe(1);
    expect(await readFile(out, "utf8")).toMatch(/RegistryAuthError: .*pull secret/);
  });

  it("honours TLS settings: an unknown CA is refused unless --skip-tls-verify-pull and --skip-tls-verify", async () => {
    const base = ["--key", keys.one.key, "--cert", keys.one.cert, "--docker-config", dockerConfig, "--unsigned-image", unsigned, "--destination", `${registry.host}/kmm/kmm-ci-skip:1`, ...filesArgs()];
    const refused = path.join(tmp, "tls-refused");
    expect(await main([...base, "--termination-log", refused], {}, createLogger({ name: "s", level: "silent" }))).toBe(1);
    expect(await readFile(refused, "utf8")).toMatch(/certificate/i);
    const skipped = path.join(tmp, "tls-skipped");
    expect(await main([...base, "--termination-log", skipped, "--skip-tls-verify-pull", "--skip-tls-verify"], {}, createLogger({ name: "s", level: "silent" }))).toBe(0);
    expect(await readFile(skipped, "utf8")).toBe(signedDigest);
  });

  it("refuses an image whose layer climbs out of the root", async () => {
    const evilRef = `${registry.host}/kmm/evil:1`;
    await pushImage(client, evilRef, { layers: [buildLayer([{ path: "opt/x.ko", content: "x" }, { path: "opt/../../escape.ko", content: "x" }])] }, { keychain });
    const result = await signer(["--unsigned-image", evilRef, "--destination", `${registry.host}/kmm/evil-signed:1`, "--file-to-sign", "/opt/x.ko"]);
    expect(result.status).toBe(1);
    expect(result.message).toMatch(/UnsafeLayerError/);
  });
});
