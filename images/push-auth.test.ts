// buildImages pushes to a registry that wants a private CA and a password (as the e2e fleet's):
// certDir (buildah --cert-dir), creds (through a private temporary auth file) or authFile. The
// images come from the build the images project already made, so this costs pushes only.
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestPki, type TestPki } from "../shared/registry/testing/pki.ts";
import { skopeoCertDir, startRegistry, type RegistryServer } from "../shared/registry/testing/registry-server.ts";
import { IMAGE_NAMES, buildImages } from "./build.ts";

const { built, revision, sources } = inject("images");
const USER = "pusher";
const PASSWORD = "s3cret-push-Pa55";
let dir: string;
let pki: TestPki;
let registry: RegistryServer;
let certDir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kmm-images-auth-test-"));
  await mkdir(path.join(dir, "pki"));
  pki = await createTestPki(path.join(dir, "pki"));
  registry = await startRegistry({ tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile }, auth: { kind: "htpasswd", users: { [USER]: PASSWORD } } });
  certDir = await skopeoCertDir(pki, dir);
});
afterAll(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("push to a registry with TLS from a private CA and htpasswd auth", () => {
  it("with creds and certDir: the same digests as the plain push, and no secret in the log or left on disk", async () => {
    const lines: string[] = [];
    const before = await readdir(tmpdir());
    const result = await buildImages({ root: sources, revision, registry: `${registry.host}/creds`, tlsVerify: true, push: true, certDir, creds: `${USER}:${PASSWORD}`, log: (l) => lines.push(l) });
    for (const name of IMAGE_NAMES) expect(`${name} ${result.images[name].ref}`).toBe(`${name} ${registry.host}/creds/${built[name].ref.split("/").at(-1) ?? ""}`);
    expect(lines.join("\n")).not.toContain(PASSWORD);
    expect(lines.join("\n")).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString("base64"));
    expect((await readdir(tmpdir())).filter((f) => f.startsWith("kmm-images-auth-") && !before.includes(f))).toEqual([]);
  }, 900_000);

  it("with an authFile", async () => {
    const authFile = path.join(dir, "auth.json");
    await writeFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") } } }), { mode: 0o600 });
    const result = await buildImages({ root: sources, revision, registry: `${registry.host}/authfile`, tlsVerify: true, push: true, certDir, authFile });
    for (const name of IMAGE_NAMES) expect(result.images[name].digest).toBe(built[name].digest);
  }, 900_000);

  it("without the CA the push fails on the certificate, with wrong creds on the password; neither message holds the password", async () => {
    const noCa = buildImages({ root: sources, revision, registry: `${registry.host}/noca`, tlsVerify: true, push: true, creds: `${USER}:${PASSWORD}` });
    await expect(noCa).rejects.toThrow(/certificate|x509/i);
    await noCa.catch((err: unknown) => expect(String(err)).not.toContain(PASSWORD));
    const wrong = buildImages({ root: sources, revision, registry: `${registry.host}/wrong`, tlsVerify: true, push: true, certDir, creds: `${USER}:not-${PASSWORD}` });
    await expect(wrong).rejects.toThrow(/unauthori[sz]ed|authentication required|401/i);
    await wrong.catch((err: unknown) => expect(String(err)).not.toContain(PASSWORD));
  }, 900_000);

  it("refuses authFile together with creds", async () => {
    await expect(buildImages({ registry: "127.0.0.1:1/x", push: true, authFile: "/nonexistent", creds: "a:b" })).rejects.toThrow(/either authFile or creds/);
  }, 900_000);
});
