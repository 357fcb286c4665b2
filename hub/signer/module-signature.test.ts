// The appended-signature reader against modules signed by Debian's real sign-file with openssl keys
// (RSA and ECDSA), and the signer's flag parsing.
import { execFile } from "node:child_process";
import { createPublicKey, X509Certificate } from "node:crypto";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTestModules } from "../../spoke/worker/test-kmods.ts";
import { parseSignerArgs, SignerInputError } from "./config.ts";
import { appendedSignature, isSignedWith, ModuleSignatureError, stripSignature } from "./module-signature.ts";
import { findSignFile, redactPem, signModule } from "./sign-file.ts";

const run = promisify(execFile);
let tmp: string;
let unsigned: Buffer;
const pairs: Record<string, { key: string; cert: string; publicKey: ReturnType<typeof createPublicKey> }> = {};

async function pair(name: string, newkey: string[]): Promise<void> {
  const key = path.join(tmp, `${name}.key`);
  const cert = path.join(tmp, `${name}.pem`);
  await run("openssl", ["req", "-x509", "-new", "-nodes", "-sha256", "-days", "2", "-batch", ...newkey, "-subj", `/CN=${name}`, "-out", cert, "-keyout", key]);
  pairs[name] = { key, cert, publicKey: new X509Certificate(await readFile(cert)).publicKey };
}

async function signed(name: string, content: Buffer = unsigned): Promise<Buffer> {
  const file = path.join(tmp, `m-${name}-${Math.random().toString(36).slice(2)}.ko`);
  await writeFile(file, content);
  const p = pairs[name];
  if (p === undefined) throw new Error(name);
  await signModule(await findSignFile(), p.key, p.cert, file);
  return readFile(file);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "kmm-modsig-test-"));
  const built = await buildTestModules();
  await copyFile(path.join(built.dir, "kmm_ci_c.ko"), path.join(tmp, "c.ko"));
  unsigned = await readFile(path.join(tmp, "c.ko"));
  await pair("rsa", ["-newkey", "rsa:2048"]);
  await pair("rsa2", ["-newkey", "rsa:2048"]);
  await pair("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("appended module signatures", () => {
  it("finds no signature on an unsigned module", () => {
    expect(appendedSignature(unsigned)).toBeUndefined();
    expect(stripSignature(unsigned)).toBe(unsigned);
    expect(isSignedWith(unsigned, pairs.rsa!.publicKey)).toBe(false);
  });

  it.each(["rsa", "ec"])("recognises a %s signature by its own key only, and strips it back to the module", async (name) => {
    const mod = await signed(name);
    const sig = appendedSignature(mod);
    expect(sig?.idType).toBe(2);
    expect(sig?.bodyLength).toBe(unsigned.length);
    expect(stripSignature(mod).equals(unsigned)).toBe(true);
    expect(isSignedWith(mod, pairs[name]!.publicKey)).toBe(true);
    expect(isSignedWith(mod, pairs.rsa2!.publicKey)).toBe(false);
  });

  it("does not accept a signature over different content", async () => {
    const mod = Buffer.from(await signed("rsa"));
    mod[100] = (mod[100] ?? 0) ^ 0xff;
    expect(isSignedWith(mod, pairs.rsa!.publicKey)).toBe(false);
  });

  it("throws for a trailer whose length does not fit, and treats garbage signatures as not ours", () => {
    const magic = Buffer.from("~Module signature appended~\n");
    const info = Buffer.alloc(12);
    info[2] = 2;
    info.writeUInt32BE(1_000_000, 8);
    expect(() => appendedSignature(Buffer.concat([Buffer.alloc(10), info, magic]))).toThrow(ModuleSignatureError);
    info.writeUInt32BE(4, 8);
    const garbage = Buffer.concat([Buffer.alloc(10), Buffer.from([0x30, 0x02, 0x05, 0x00]), info, magic]);
    expect(isSignedWith(garbage, pairs.rsa!.publicKey)).toBe(false);
  });
});

describe("sign-file errors", () => {
  it("never carry PEM blocks", () => {
    expect(redactPem("bad key\n-----BEGIN PRIVATE KEY-----\nMIIabc\n-----END PRIVATE KEY-----\nafter")).toBe("bad key\n[PEM block removed]\nafter");
    expect(redactPem("-----BEGIN RSA PRIVATE KEY-----\nMIIcut")).toBe("[PEM block removed]");
  });

  it("names the module when sign-file fails", async () => {
    const file = path.join(tmp, "x.ko");
    await writeFile(file, unsigned);
    await expect(signModule(await findSignFile(), path.join(tmp, "missing.key"), pairs.rsa!.cert, file)).rejects.toThrow(/sign-file failed on x\.ko/);
  });

  it("refuses a --sign-file that is not executable", async () => {
    await expect(findSignFile(path.join(tmp, "c.ko"))).rejects.toThrow(/not an executable file/);
  });
});

describe("parseSignerArgs", () => {
  const base = ["--unsigned-image", "r.io/a:1", "--destination", "r.io/a:2"];

  it("reads flags with kaniko's names and the defaults of a sign Job", () => {
    const c = parseSignerArgs([...base, "--file-to-sign", "/opt/lib/modules/k/a.ko", "--insecure-pull", "--skip-tls-verify"], {});
    expect(c).toMatchObject({
      dirName: "/opt",
      keyFile: "/run/secrets/key/key.pem",
      certFile: "/run/secrets/cert/cert.pem",
      terminationLog: "/dev/termination-log",
      platform: "linux/amd64",
      pullTLS: { insecure: true, insecureSkipTLSVerify: false },
      pushTLS: { insecure: false, insecureSkipTLSVerify: true },
    });
    expect(parseSignerArgs([...base, "--file-to-sign", "/opt/a.ko"], { KMM_SIGN_FILE: "/x/sign-file", KMM_TERMINATION_LOG: "/t" })).toMatchObject({
      signFile: "/x/sign-file",
      terminationLog: "/t",
    });
  });

  it("expands ${KERNEL_*} for --kernel", () => {
    const c = parseSignerArgs([...base, "--kernel", "6.1.0-18-amd64", "--file-to-sign", "/opt/lib/modules/${KERNEL_FULL_VERSION}/x-${KERNEL_XYZ}.ko"], {});
    expect(c.filesToSign).toEqual(["/opt/lib/modules/6.1.0-18-amd64/x-6.1.0.ko"]);
  });

  it.each([
    [["--file-to-sign", "/usr/lib/a.ko"], /must be under --dir-name \/opt/],
    [["--file-to-sign", "/opt/../etc/a.ko"], /must not contain "\.\." components/],
    [["--file-to-sign", "opt/a.ko"], /must be an absolute path/],
    [[], /at least one --file-to-sign/],
    [["--file-to-sign", "/opt/${KERNEL_FULL_VERSION}/a.ko"], /pass --kernel/],
    [["--file-to-sign", "/opt/a.ko", "--bogus"], /Unknown option '--bogus'/],
  ])("refuses %j", (args, message) => {
    expect(() => parseSignerArgs([...base, ...args], {})).toThrow(SignerInputError);
    expect(() => parseSignerArgs([...base, ...args], {})).toThrow(message);
  });
});
