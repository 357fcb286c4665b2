import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "./client.ts";
import { DigestCache } from "./digest-cache.ts";
import {
  DigestMismatchError,
  ImageNotFoundError,
  RegistryAuthError,
  RegistryUnreachableError,
  UnsafeLayerError,
} from "./errors.ts";
import { Keychain } from "./keychain.ts";
import { pullImage } from "./pull.ts";
import { parseReference } from "./reference.ts";
import { buildLayer, pushImage, pushIndex } from "./push.ts";
import { createTestPki, type TestPki } from "./testing/pki.ts";
import { startFaultProxy } from "./testing/fault-proxy.ts";
import {
  skopeoCertDir,
  skopeoInspect,
  skopeoRawManifest,
  startRegistry,
  type RegistryServer,
} from "./testing/registry-server.ts";
import { startTokenServer, type TokenServer } from "./testing/token-server.ts";
import { establishedTo } from "../testing/sockets.ts";

const USER = "kmm";
const PASSWORD = "s3cret-Pa55";
const WRONG_PASSWORD = "not-the-password";

function keychainFor(host: string, username: string, password: string): Keychain {
  const auths = { [host]: { auth: Buffer.from(`${username}:${password}`).toString("base64") } };
  return Keychain.fromSecrets([
    {
      metadata: { name: "pull", namespace: "default" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": Buffer.from(JSON.stringify({ auths })).toString("base64") },
    },
  ]);
}

function smallImage(label: string) {
  return {
    layers: [buildLayer([{ path: "etc/label", content: `${label}\n` }])],
  };
}

let tmp: string;
let pki: TestPki;
let plain: RegistryServer; // HTTP, anonymous
let basic: RegistryServer; // HTTPS (test CA) + htpasswd
let selfSigned: RegistryServer; // HTTPS with a certificate nobody trusts, anonymous
let tokenAuth: RegistryServer; // HTTPS (test CA) + bearer tokens
let tokens: TokenServer;
const clients: RegistryClient[] = [];
const stoppers: (() => Promise<void>)[] = [];

function client(opts: ConstructorParameters<typeof RegistryClient>[0] = {}): RegistryClient {
  const c = new RegistryClient({ retry: { baseDelayMs: 20 }, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "kmm-registry-test-"));
  pki = await createTestPki(tmp);
  tokens = await startTokenServer({
    pki,
    service: "kmm-test-registry",
    issuer: "kmm-test-issuer",
    users: { [USER]: PASSWORD },
    publicPrefix: "public/",
  });
  stoppers.push(() => tokens.stop());
  const tls = { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile };
  // One at a time, so a failure leaves only registries that afterAll knows to stop.
  const started = async (opts: Parameters<typeof startRegistry>[0]) => {
    const r = await startRegistry(opts);
    stoppers.push(() => r.stop());
    return r;
  };
  plain = await started({});
  basic = await started({ tls, auth: { kind: "htpasswd", users: { [USER]: PASSWORD } } });
  selfSigned = await started({ tls: { certFile: pki.selfSignedCertFile, keyFile: pki.selfSignedKeyFile } });
  tokenAuth = await started({
    tls,
    auth: {
      kind: "token",
      realm: tokens.realm,
      service: "kmm-test-registry",
      issuer: "kmm-test-issuer",
      rootCertBundle: pki.tokenCertFile,
    },
  });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(stoppers.map((stop) => stop()));
  await rm(tmp, { recursive: true, force: true });
});

describe("htpasswd (basic) auth over TLS with a custom CA", () => {
  it("pushes and resolves with the pull secret's credentials; skopeo sees the same digest", async () => {
    const c = client({ caBundle: pki.caPem, keychain: keychainFor(basic.host, USER, PASSWORD) });
    const image = `${basic.host}/team/driver:v1`;
    const pushed = await pushImage(c, image, smallImage("basic"));
    expect(await c.resolveDigest(image)).toBe(pushed.digest);
    const certDir = await skopeoCertDir(pki, tmp);
    const inspected = await skopeoInspect(image, ["--cert-dir", certDir, "--creds", `${USER}:${PASSWORD}`]);
    expect(inspected.Digest).toBe(pushed.digest);
  });

  it("keeps at most maxIdle connections idle and closes them after the idle timeout (client-go's pool rules)", async () => {
    const pusher = client({ caBundle: pki.caPem, keychain: keychainFor(basic.host, USER, PASSWORD) });
    const images = Array.from({ length: 6 }, (_, i) => `${basic.host}/team/idle:v${i}`);
    for (const [i, image] of images.entries()) await pushImage(pusher, image, smallImage(`idle-${i}`));
    pusher.close();
    const port = Number(basic.host.split(":")[1]);
    const base = await establishedTo(port);
    const c = client({ caBundle: pki.caPem, keychain: keychainFor(basic.host, USER, PASSWORD), maxConcurrentPerRegistry: 6, idle: { maxIdle: 1, idleTimeoutMs: 300 } });
    await Promise.all(images.map((image) => c.resolveDigest(image)));
    expect(c.transport.peak(basic.host)).toBeGreaterThan(1);
    expect(await establishedTo(port)).toBeLessThanOrEqual(base + 1);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await establishedTo(port)).toBeLessThanOrEqual(base);
    // Asked again, the pool connects again.
    expect(await c.resolveDigest(images[0]!)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it("reports a wrong password clearly, without printing it", async () => {
    const c = client({ caBundle: pki.caPem, keychain: keychainFor(basic.host, USER, WRONG_PASSWORD) });
    const image = `${basic.host}/team/driver:v1`;
    const err = await c.resolveDigest(image).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    const message = (err as Error).message;
    expect(message).toContain("rejected the credentials");
    expect(message).toContain(basic.host);
    expect(message).toContain("team/driver:v1");
    expect(message).toContain("HTTP 401");
    expect(message).not.toContain(WRONG_PASSWORD);
    expect(message).not.toContain(Buffer.from(`${USER}:${WRONG_PASSWORD}`).toString("base64"));
  });

  it("tries every matching pull-secret entry, most specific first, as the kubelet does", async () => {
    const keychain = Keychain.fromSecrets([
      {
        metadata: { name: "two-entries" },
        type: "kubernetes.io/dockercfg",
        data: {
          ".dockercfg": Buffer.from(
            JSON.stringify({
              [`${basic.host}/team`]: { username: USER, password: WRONG_PASSWORD },
              [basic.host]: { username: USER, password: PASSWORD },
            }),
          ).toString("base64"),
        },
      },
    ]);
    expect(keychain.lookup(parseReference(`${basic.host}/team/driver:v1`)).map((c) => c.password)).toEqual([WRONG_PASSWORD, PASSWORD]);
    const c = client({ caBundle: pki.caPem, keychain });
    const right = client({ caBundle: pki.caPem, keychain: keychainFor(basic.host, USER, PASSWORD) });
    expect(await c.resolveDigest(`${basic.host}/team/driver:v1`)).toBe(await right.resolveDigest(`${basic.host}/team/driver:v1`));
  });

  it("asks for a pull secret when there is none", async () => {
    const c = client({ caBundle: pki.caPem });
    await expect(c.resolveDigest(`${basic.host}/team/driver:v1`)).rejects.toThrow(/requires authentication.*add a pull secret/);
  });

  it("rejects the registry's certificate without the CA bundle", async () => {
    const c = client({ keychain: keychainFor(basic.host, USER, PASSWORD) });
    await expect(c.resolveDigest(`${basic.host}/team/driver:v1`)).rejects.toBeInstanceOf(RegistryUnreachableError);
  });
});

describe("bearer token auth", () => {
  it("pulls public repositories anonymously and private ones only with credentials", async () => {
    const writer = client({ caBundle: pki.caPem, keychain: keychainFor(tokenAuth.host, USER, PASSWORD) });
    const pub = await pushImage(writer, `${tokenAuth.host}/public/tool:v1`, smallImage("public"));
    const priv = await pushImage(writer, `${tokenAuth.host}/private/driver:v1`, smallImage("private"));

    const anonymous = client({ caBundle: pki.caPem });
    expect(await anonymous.resolveDigest(`${tokenAuth.host}/public/tool:v1`)).toBe(pub.digest);
    const err = await anonymous.resolveDigest(`${tokenAuth.host}/private/driver:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    expect((err as Error).message).toMatch(/requires authentication.*private\/driver:v1.*HTTP 401/);
    expect(await writer.resolveDigest(`${tokenAuth.host}/private/driver:v1`)).toBe(priv.digest);
  });

  it("caches tokens per scope until they expire", async () => {
    const writer = client({ caBundle: pki.caPem, keychain: keychainFor(tokenAuth.host, USER, PASSWORD) });
    await pushImage(writer, `${tokenAuth.host}/private/cached:v1`, smallImage("cached"));
    let now = Date.now();
    const reader = client({ caBundle: pki.caPem, keychain: keychainFor(tokenAuth.host, USER, PASSWORD), now: () => now });
    const before = tokens.requests.length;
    for (let i = 0; i < 5; i++) await reader.resolveDigest(`${tokenAuth.host}/private/cached:v1`);
    expect(tokens.requests.length - before).toBe(1);
    expect(tokens.requests.at(-1)?.scopes).toEqual(["repository:private/cached:pull"]);
    now += 301_000; // past expires_in (300 s)
    await reader.resolveDigest(`${tokenAuth.host}/private/cached:v1`);
    expect(tokens.requests.length - before).toBe(2);
  });

  it("retries a 401 once with the challenge's scope, then gives up", async () => {
    const anonymous = client({ caBundle: pki.caPem });
    const before = tokens.requests.length;
    await expect(anonymous.resolveDigest(`${tokenAuth.host}/private/driver:v1`)).rejects.toBeInstanceOf(RegistryAuthError);
    expect(tokens.requests.length - before).toBe(2);
  });

  it("reports a wrong password from the token service without printing it", async () => {
    const c = client({ caBundle: pki.caPem, keychain: keychainFor(tokenAuth.host, USER, WRONG_PASSWORD) });
    const err = await c.resolveDigest(`${tokenAuth.host}/private/driver:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    expect((err as Error).message).toMatch(/token service https:\/\/127\.0\.0\.1:\d+ rejected the credentials/);
    expect((err as Error).message).not.toContain(WRONG_PASSWORD);
  });

  it("mounts a blob from another repository of the same registry instead of uploading it", async () => {
    const c = client({ caBundle: pki.caPem, keychain: keychainFor(tokenAuth.host, USER, PASSWORD) });
    const layer = buildLayer([{ path: "data.bin", content: randomBytes(4096) }]);
    const first = await c.pushBlob(`${tokenAuth.host}/private/source:v1`, layer.blob);
    expect(first.how).toBe("uploaded");
    const mounted = await c.pushBlob(`${tokenAuth.host}/private/target:v1`, layer.blob, { mountFrom: "private/source" });
    expect(mounted).toEqual({ digest: layer.digest, size: layer.blob.length, how: "mounted" });
    expect(await c.blobExists(`${tokenAuth.host}/private/target:v1`, layer.digest)).toBe(true);
  });
});

describe("digests", () => {
  it('says "does not exist" for a missing tag, distinct from an unreachable registry', async () => {
    const c = client({ retry: { maxAttempts: 1 } });
    await pushImage(c, `${plain.host}/app/present:v1`, smallImage("present"), { tls: { insecure: true } });
    const missing = await c.resolveDigest(`${plain.host}/app/present:nope`, { tls: { insecure: true } }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ImageNotFoundError);
    expect((missing as Error).message).toContain(`${plain.host}/app/present:nope does not exist`);
    // A GET carries the registry's error body, so its code shows in the message.
    await expect(c.getManifest(`${plain.host}/app/present:nope`, { tls: { insecure: true } })).rejects.toThrow(
      /app\/present:nope does not exist \(.*HTTP 404, MANIFEST_UNKNOWN: manifest unknown\)/,
    );
    const noRepo = await c.resolveDigest(`${plain.host}/app/absent:v1`, { tls: { insecure: true } }).catch((e: unknown) => e);
    expect(noRepo).toBeInstanceOf(ImageNotFoundError);

    const closed = await startRegistry();
    const host = closed.host;
    await closed.stop();
    const unreachable = await c.resolveDigest(`${host}/app/present:v1`, { tls: { insecure: true } }).catch((e: unknown) => e);
    expect(unreachable).toBeInstanceOf(RegistryUnreachableError);
    expect(unreachable).not.toBeInstanceOf(ImageNotFoundError);
    expect((unreachable as Error).message).toContain("registry unreachable");
  });

  it("names each caller's own image when a shared ping or token request fails", async () => {
    const c = client({ retry: { maxAttempts: 1 } });
    const closed = await startRegistry();
    const host = closed.host;
    await closed.stop();
    // One ping serves all three look-ups; each error must still be about its own image.
    const images = ["app/one:v1", "app/two:v2", "other/three:6.1.0-18-amd64"].map((i) => `${host}/${i}`);
    const errors = await Promise.all(images.map((i) => c.resolveDigest(i, { tls: { insecure: true } }).catch((e: unknown) => e)));
    errors.forEach((err, n) => {
      expect(err).toBeInstanceOf(RegistryUnreachableError);
      expect((err as RegistryUnreachableError).image).toBe(images[n]);
      expect((err as Error).message).toContain(`image ${images[n]!}`);
      for (const other of images.filter((_, m) => m !== n)) expect((err as Error).message).not.toContain(other);
    });
    // Token service refusals are shared per repository scope too.
    const tc = client({ caBundle: pki.caPem, retry: { maxAttempts: 1 } });
    const privateImages = [`${tokenAuth.host}/private/x:a`, `${tokenAuth.host}/private/x:b`];
    const refused = await Promise.all(privateImages.map((i) => tc.resolveDigest(i).catch((e: unknown) => e)));
    refused.forEach((err, n) => {
      expect(err).toBeInstanceOf(RegistryAuthError);
      expect((err as Error).message).toContain(`image ${privateImages[n]!}`);
    });
  });

  it("uses plain HTTP only when the registry is marked insecure", async () => {
    const c = client();
    const image = `${plain.host}/app/http:v1`;
    const pushed = await pushImage(c, image, smallImage("http"), { tls: { insecure: true } });
    await expect(c.resolveDigest(image)).rejects.toBeInstanceOf(RegistryUnreachableError);
    expect(await c.resolveDigest(image, { tls: { insecure: true } })).toBe(pushed.digest);
    const inspected = await skopeoInspect(image, ["--tls-verify=false"]);
    expect(inspected.Digest).toBe(pushed.digest);
  });

  it("rejects a self-signed certificate unless insecureSkipTLSVerify", async () => {
    const c = client();
    const image = `${selfSigned.host}/app/self:v1`;
    const err = await pushImage(c, image, smallImage("self")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnreachableError);
    expect((err as Error).message).toMatch(/certificate/i);
    const pushed = await pushImage(c, image, smallImage("self"), { tls: { insecureSkipTLSVerify: true } });
    expect(await c.resolveDigest(image, { tls: { insecureSkipTLSVerify: true } })).toBe(pushed.digest);
  });

  it("pins a multi-arch image to its index digest", async () => {
    const c = client();
    const opts = { tls: { insecure: true } };
    const repo = `${plain.host}/app/multi`;
    const amd = await pushImage(c, `${repo}:amd64`, { ...smallImage("amd64"), platform: { os: "linux", architecture: "amd64" } }, opts);
    const arm = await pushImage(c, `${repo}:arm64`, { ...smallImage("arm64"), platform: { os: "linux", architecture: "arm64" } }, opts);
    const index = await pushIndex(c, `${repo}:v1`, [amd.descriptor, arm.descriptor], opts);
    const digest = await c.resolveDigest(`${repo}:v1`, opts);
    expect(digest).toBe(index.digest);
    expect(digest).not.toBe(amd.digest);
    const raw = await skopeoRawManifest(`${repo}:v1`, ["--tls-verify=false"]);
    expect(raw.equals(index.bytes)).toBe(true);
    const manifest = await c.getManifest(`${repo}:v1`, opts);
    expect(manifest.kind).toBe("index");
    const target = await mkdtemp(path.join(tmp, "multi-"));
    const pulled = await pullImage(c, `${repo}:v1`, target, { ...opts, platform: { os: "linux", architecture: "arm64" } });
    expect(pulled.digest).toBe(index.digest);
    expect(pulled.manifestDigest).toBe(arm.digest);
    expect(await readFile(path.join(target, "etc/label"), "utf8")).toBe("arm64\n");
    await expect(
      pullImage(c, `${repo}:v1`, target, { ...opts, platform: { os: "linux", architecture: "s390x" } }),
    ).rejects.toThrow(/for linux\/s390x does not exist/);
  });

  it("verifies a digest reference instead of re-resolving it", async () => {
    const c = client();
    const opts = { tls: { insecure: true } };
    const pushed = await pushImage(c, `${plain.host}/app/bydigest:v1`, smallImage("bydigest"), opts);
    const before = await plain.countRequests({ pathPrefix: "/v2/app/bydigest/manifests/sha256:" });
    expect(await c.resolveDigest(`${plain.host}/app/bydigest@${pushed.digest}`, opts)).toBe(pushed.digest);
    expect(await plain.countRequests({ pathPrefix: "/v2/app/bydigest/manifests/sha256:" })).toBe(before + 1);
    const other = `sha256:${"0".repeat(64)}`;
    await expect(c.resolveDigest(`${plain.host}/app/bydigest:v1@${other}`, opts)).rejects.toBeInstanceOf(ImageNotFoundError);
  });

  it("falls back to GET and hashes the body when HEAD gives no digest", async () => {
    const c = client();
    const opts = { tls: { insecure: true } };
    const pushed = await pushImage(c, `${plain.host}/app/nohead:v1`, smallImage("nohead"), opts);
    const proxy = await startFaultProxy({ upstream: plain.host, stripHeadDigest: true });
    try {
      const before = await plain.countRequests({ method: "GET", pathPrefix: "/v2/app/nohead/manifests/" });
      expect(await c.resolveDigest(`${proxy.host}/app/nohead:v1`, opts)).toBe(pushed.digest);
      expect(await plain.countRequests({ method: "GET", pathPrefix: "/v2/app/nohead/manifests/" })).toBe(before + 1);
    } finally {
      await proxy.stop();
    }
  });

  it("retries 429 answers after the Retry-After delay", async () => {
    const c = client();
    const opts = { tls: { insecure: true } };
    const pushed = await pushImage(c, `${plain.host}/app/limited:v1`, smallImage("limited"), opts);
    const proxy = await startFaultProxy({
      upstream: plain.host,
      throttle: { count: 1, retryAfterSeconds: 1, match: (_m, p) => p.includes("/manifests/") },
    });
    try {
      const started = Date.now();
      expect(await c.resolveDigest(`${proxy.host}/app/limited:v1`, opts)).toBe(pushed.digest);
      expect(proxy.throttled).toHaveLength(1);
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(c.transport.counters.retries).toBe(1);
    } finally {
      await proxy.stop();
    }
  });
});

describe("digest cache", () => {
  it("gives a moved tag its new digest after the refresh interval", async () => {
    const c = client();
    const opts = { tls: { insecure: true } };
    let now = 1_000_000;
    const cache = new DigestCache({ client: c, refreshIntervalMs: 60_000, now: () => now });
    const image = `${plain.host}/app/moving:latest`;
    const v1 = await pushImage(c, image, smallImage("one"), opts);
    expect(await cache.resolve(image, opts)).toBe(v1.digest);
    const v2 = await pushImage(c, image, smallImage("two"), opts);
    expect(v2.digest).not.toBe(v1.digest);
    now += 59_000;
    expect(await cache.resolve(image, opts)).toBe(v1.digest);
    now += 2_000;
    expect(await cache.resolve(image, opts)).toBe(v2.digest);
    const v3 = await pushImage(c, image, smallImage("three"), opts);
    cache.invalidate(image);
    expect(await cache.resolve(image, opts)).toBe(v3.digest);
  });

  it("coalesces concurrent look-ups and bounds concurrency per registry", async () => {
    const c = client({ maxConcurrentPerRegistry: 3 });
    const opts = { tls: { insecure: true } };
    const cache = new DigestCache({ client: c, refreshIntervalMs: 60_000 });
    const refs: string[] = [];
    for (let i = 0; i < 12; i++) {
      const ref = `${plain.host}/app/many:t${i}`;
      await pushImage(c, ref, smallImage(`many-${i}`), opts);
      refs.push(ref);
    }
    const before = await plain.countRequests({ method: "HEAD", pathPrefix: "/v2/app/many/manifests/" });
    const results = await Promise.all(Array.from({ length: 600 }, (_, i) => cache.resolve(refs[i % refs.length] ?? "", opts)));
    expect(new Set(results).size).toBe(12);
    expect(await plain.countRequests({ method: "HEAD", pathPrefix: "/v2/app/many/manifests/" }) - before).toBe(12);
    expect(c.transport.peak(plain.host)).toBeLessThanOrEqual(3);
    expect(c.transport.peak(plain.host)).toBeGreaterThan(1);
  });

  it("caches 'does not exist' until invalidated, and does not cache an unreachable registry", async () => {
    const c = client({ retry: { maxAttempts: 1 } });
    const opts = { tls: { insecure: true } };
    const cache = new DigestCache({ client: c, refreshIntervalMs: 60_000 });
    const image = `${plain.host}/app/later:v1`;
    await expect(cache.resolve(image, opts)).rejects.toBeInstanceOf(ImageNotFoundError);
    const heads = await plain.countRequests({ method: "HEAD", pathPrefix: "/v2/app/later/" });
    await expect(cache.resolve(image, opts)).rejects.toBeInstanceOf(ImageNotFoundError);
    expect(await plain.countRequests({ method: "HEAD", pathPrefix: "/v2/app/later/" })).toBe(heads);
    const pushed = await pushImage(c, image, smallImage("later"), opts);
    cache.invalidate(image);
    expect(await cache.resolve(image, opts)).toBe(pushed.digest);
  });
});

describe("push and pull", () => {
  it("round-trips an image byte for byte (chunked and monolithic uploads)", async () => {
    const c = client({ caBundle: pki.caPem, keychain: keychainFor(basic.host, USER, PASSWORD) });
    const module = randomBytes(300_000);
    const firmware = randomBytes(1234);
    const layers = [
      buildLayer([
        { path: "opt", type: "directory" },
        { path: "opt/lib/modules/6.1.0-test/kmm_ci_a.ko", content: module, mode: 0o644 },
        { path: `opt/${"deep/".repeat(30)}file.txt`, content: "long path\n" },
        { path: "opt/link-to-module", type: "symlink", linkname: "lib/modules/6.1.0-test/kmm_ci_a.ko" },
        { path: "bin/tool", content: "#!/bin/sh\necho hi\n", mode: 0o755 },
      ]),
      buildLayer([
        { path: "firmware/fw.bin", content: firmware },
        { path: "bin/.wh.tool", content: "" },
      ]),
    ];
    const image = `${basic.host}/team/roundtrip:v1`;
    for (const [i, layer] of layers.entries()) {
      const pushedBlob = await c.pushBlob(image, layer.blob, i === 0 ? { chunkSize: 64 * 1024 } : {});
      expect(pushedBlob.how).toBe("uploaded");
    }
    // 300 kB in 64 KiB chunks: five PATCHes, then the closing PUT.
    expect(await basic.countRequests({ method: "PATCH", pathPrefix: "/v2/team/roundtrip/blobs/uploads/" })).toBe(5);
    const pushed = await pushImage(c, image, { layers });
    const target = await mkdtemp(path.join(tmp, "pull-"));
    const result = await pullImage(c, image, target);
    expect(result.digest).toBe(pushed.digest);
    expect(result.config.rootfs.diff_ids).toEqual(layers.map((l) => l.diffId));
    expect((await readFile(path.join(target, "opt/lib/modules/6.1.0-test/kmm_ci_a.ko"))).equals(module)).toBe(true);
    expect((await readFile(path.join(target, "firmware/fw.bin"))).equals(firmware)).toBe(true);
    expect(await readFile(path.join(target, `opt/${"deep/".repeat(30)}file.txt`), "utf8")).toBe("long path\n");
    expect(await readlink(path.join(target, "opt/link-to-module"))).toBe("lib/modules/6.1.0-test/kmm_ci_a.ko");
    expect(existsSync(path.join(target, "bin/tool"))).toBe(false);

    // The blob pulled back is the blob pushed.
    const blob = await c.readBlob(image, { digest: layers[1]?.digest ?? "", size: layers[1]?.blob.length ?? 0 });
    expect(blob.equals(layers[1]?.blob ?? Buffer.alloc(0))).toBe(true);
  });

  it("refuses a layer with ../ entries and writes nothing outside the target", async () => {
    const c = client();
    const opts = { tls: { insecure: true } };
    const image = `${plain.host}/app/evil:v1`;
    await pushImage(c, image, { layers: [buildLayer([{ path: "ok.txt", content: "fine" }, { path: "../escaped.txt", content: "evil" }])] }, opts);
    const parent = await mkdtemp(path.join(tmp, "evil-"));
    const target = path.join(parent, "rootfs");
    const err = await pullImage(c, image, target, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsafeLayerError);
    expect((err as Error).message).toContain("../escaped.txt");
    expect(existsSync(path.join(parent, "escaped.txt"))).toBe(false);
  });

  it("fails verification when a blob does not match its digest", async () => {
    const c = client();
    const opts = { tls: { insecure: true } };
    const image = `${plain.host}/app/verify:v1`;
    const layer = buildLayer([{ path: "a", content: "a" }]);
    await c.pushBlob(image, layer.blob, opts);
    // Ask for the right blob but announce a smaller size: the stream must fail.
    const stream = await c.openBlob(image, { digest: layer.digest, size: layer.blob.length - 1 }, opts);
    await expect((async () => { for await (const _ of stream) { /* drain */ } })()).rejects.toBeInstanceOf(DigestMismatchError);
  });
});
