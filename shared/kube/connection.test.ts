import { execFileSync } from "node:child_process";
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  InClusterConfigError,
  KubeConnection,
  KubeconfigError,
  MissingKubeconfigEntryError,
  NoConnectionError,
  TokenFileError,
  UnsupportedAuthError,
  UnsupportedKubeconfigError,
  defaultConnection,
  inClusterConnection,
  loadKubeconfigFile,
} from "./connection.ts";

const CA = "-----BEGIN CERTIFICATE-----\nCA-PEM\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nCLIENT-PEM\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN EC PRIVATE KEY-----\nKEY-PEM\n-----END EC PRIVATE KEY-----\n";
const b64 = (s: string): string => Buffer.from(s).toString("base64");

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kmm-connection-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(rel: string, text: string): Promise<string> {
  const p = join(dir, rel);
  await mkdir(join(p, ".."), { recursive: true });
  await writeFile(p, text);
  return p;
}

describe("loadKubeconfigFile", () => {
  it("reads inline base64 data, a static token and the context's namespace from a YAML kubeconfig", async () => {
    const path = await write(
      "config",
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: main",
        "clusters:",
        "- name: prod",
        "  cluster:",
        "    server: https://10.0.0.1:6443",
        `    certificate-authority-data: ${b64(CA)}`,
        "    tls-server-name: api.prod.example",
        "users:",
        "- name: admin",
        "  user:",
        `    client-certificate-data: ${b64(CERT)}`,
        `    client-key-data: ${b64(KEY)}`,
        "- name: bot",
        "  user:",
        "    token: s3cret",
        "contexts:",
        "- name: main",
        "  context: {cluster: prod, user: admin, namespace: kmm}",
        "- name: robot",
        "  context: {cluster: prod, user: bot}",
      ].join("\n"),
    );
    const main = await loadKubeconfigFile(path);
    expect(main).toMatchObject({ server: "https://10.0.0.1:6443", ca: CA, cert: CERT, key: KEY, tlsServerName: "api.prod.example", insecureSkipTlsVerify: false, namespace: "kmm" });
    expect(await main.bearerToken()).toBeUndefined();

    const robot = await loadKubeconfigFile(path, { context: "robot" });
    expect(robot).toMatchObject({ server: "https://10.0.0.1:6443", cert: undefined, key: undefined, namespace: "default" });
    expect(await robot.bearerToken()).toBe("s3cret");
  });

  it("reads the kubeconfig as client-go's sigs.k8s.io/yaml does (YAML 1.1): insecure-skip-tls-verify: yes is true, a context named 0o17 a string", async () => {
    const path = await write(
      "config-yaml11",
      ["apiVersion: v1", "kind: Config", "current-context: 0o17", "clusters:", "- name: c", "  cluster:", "    server: https://10.0.0.1:6443", "    insecure-skip-tls-verify: yes", "users:", "- name: u", "  user:", "    token: t", "contexts:", "- name: 0o17", "  context: {cluster: c, user: u}"].join("\n"),
    );
    expect(await loadKubeconfigFile(path)).toMatchObject({ server: "https://10.0.0.1:6443", insecureSkipTlsVerify: true });
  });

  it("reads certificate, key, CA and token files, resolving relative paths against the kubeconfig's directory", async () => {
    await write("pki/ca.crt", CA);
    await write("pki/client.crt", CERT);
    const absKey = await write("elsewhere/client.key", KEY);
    await write("kube/token", "file-token\n");
    const path = await write(
      "kube/config",
      JSON.stringify({
        "current-context": "c",
        clusters: [{ name: "k", cluster: { server: "https://[fd00::1]:6443", "certificate-authority": "../pki/ca.crt", "insecure-skip-tls-verify": true } }],
        users: [
          { name: "u", user: { "client-certificate": "../pki/client.crt", "client-key": absKey } },
          { name: "sa", user: { tokenFile: "token" } },
        ],
        contexts: [
          { name: "c", context: { cluster: "k", user: "u" } },
          { name: "sa", context: { cluster: "k", user: "sa" } },
        ],
      }),
    );
    const conn = await loadKubeconfigFile(path);
    expect(conn).toMatchObject({ server: "https://[fd00::1]:6443", ca: CA, cert: CERT, key: KEY, insecureSkipTlsVerify: true });
    const sa = await loadKubeconfigFile(path, { context: "sa" });
    expect(sa.tokenFile).toBe(join(dir, "kube", "token"));
    expect(await sa.bearerToken()).toBe("file-token");
  });

  it("inline data wins over a file path for the same item", async () => {
    const path = await write(
      "config",
      JSON.stringify({
        "current-context": "c",
        clusters: [{ name: "k", cluster: { server: "https://h:1", "certificate-authority": "does-not-exist.crt", "certificate-authority-data": b64(CA) } }],
        users: [{ name: "u", user: {} }],
        contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
      }),
    );
    expect((await loadKubeconfigFile(path)).ca).toBe(CA);
  });

  it("re-reads a token file at most once a minute, and at once after the server rejected the token", async () => {
    const tokenPath = await write("token", "one");
    const path = await write(
      "config",
      JSON.stringify({
        "current-context": "c",
        clusters: [{ name: "k", cluster: { server: "https://h:1" } }],
        users: [{ name: "u", user: { tokenFile: tokenPath } }],
        contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
      }),
    );
    const conn = await loadKubeconfigFile(path);
    const t0 = Date.now();
    expect(await conn.bearerToken(t0)).toBe("one");
    await writeFile(tokenPath, "two\n");
    expect(await conn.bearerToken(t0 + 30_000)).toBe("one");
    expect(await conn.bearerToken(t0 + 61_000)).toBe("two");
    await writeFile(tokenPath, "three");
    expect(await conn.bearerToken(t0 + 62_000)).toBe("two");
    expect(conn.tokenRejected()).toBe(true);
    expect(await conn.bearerToken(t0 + 62_000)).toBe("three");
  });

  it("keeps serving the cached token while the token file cannot be read, and retries the file on the next call", async () => {
    const tokenPath = await write("token", "one");
    const conn = new KubeConnection({ server: "https://h:1", tokenFile: tokenPath });
    const t0 = 1_000_000;
    expect(await conn.bearerToken(t0)).toBe("one");

    await rm(tokenPath);
    expect(await conn.bearerToken(t0 + 61_000)).toBe("one");
    expect(conn.tokenFileError).toBeInstanceOf(TokenFileError);
    expect(conn.tokenFileError).toMatchObject({ file: tokenPath });
    expect(String(conn.tokenFileError)).toContain(`cannot read the bearer token file ${tokenPath}`);
    // Not a minute later: the failed read did not count as a refresh.
    await writeFile(tokenPath, "two\n");
    expect(await conn.bearerToken(t0 + 61_001)).toBe("two");
    expect(conn.tokenFileError).toBeUndefined();

    // Unreadable (a directory where the file was), then after the server rejected the token.
    await rm(tokenPath);
    await mkdir(tokenPath);
    expect(await conn.bearerToken(t0 + 122_000)).toBe("two");
    expect(String(conn.tokenFileError)).toMatch(/EISDIR/);
    expect(conn.tokenRejected()).toBe(true);
    expect(await conn.bearerToken(t0 + 122_001)).toBe("two");
    await rm(tokenPath, { recursive: true });
    await writeFile(tokenPath, "three");
    expect(await conn.bearerToken(t0 + 122_002)).toBe("three");
  });

  it("fails with a TokenFileError naming the file when no token was ever read", async () => {
    const tokenPath = join(dir, "never-written");
    const conn = new KubeConnection({ server: "https://h:1", tokenFile: tokenPath });
    const err: unknown = await conn.bearerToken().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenFileError);
    expect(err).toMatchObject({ file: tokenPath });
    expect(String(err)).toContain(`cannot read the bearer token file ${tokenPath}`);
  });

  it("reads the token file once for all requests that find the cache stale at the same time", async () => {
    // A FIFO hands its content to one reader only: any second read would get an empty token.
    const fifo = join(dir, "token-fifo");
    execFileSync("mkfifo", [fifo]);
    const conn = new KubeConnection({ server: "https://h:1", tokenFile: fifo });
    const all = Promise.all(Array.from({ length: 8 }, () => conn.bearerToken(5_000)));
    const state = { settled: false };
    void all.finally(() => {
      state.settled = true;
    });
    let written = false;
    // Non-blocking writer opens: each one also releases a reader waiting for a writer, so a broken
    // implementation fails the assertion below instead of hanging.
    while (!state.settled) {
      let fd: number | undefined;
      try {
        fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      } catch {
        // ENXIO: no reader has the FIFO open yet
      }
      if (fd !== undefined) {
        if (!written) writeSync(fd, "fifo-token\n");
        written = true;
        closeSync(fd);
      }
      await delay(5);
    }
    expect(await all).toEqual(Array.from({ length: 8 }, () => "fifo-token"));
    // Served from the cache now: a read would block on the FIFO with no writer.
    expect(await conn.bearerToken(6_000)).toBe("fifo-token");
  });

  it("refuses a cluster reached through proxy-url instead of ignoring it, naming the cluster", async () => {
    const path = await write(
      "proxied",
      JSON.stringify({
        "current-context": "c",
        clusters: [{ name: "behind-proxy", cluster: { server: "https://h:1", "proxy-url": "socks5://127.0.0.1:1080" } }],
        users: [{ name: "u", user: { token: "t" } }],
        contexts: [{ name: "c", context: { cluster: "behind-proxy", user: "u" } }],
      }),
    );
    const err: unknown = await loadKubeconfigFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedKubeconfigError);
    expect(err).toBeInstanceOf(KubeconfigError);
    expect(String(err)).toContain(`kubeconfig ${path}: cluster "behind-proxy" sets proxy-url, which is not supported`);
  });

  it("refuses exec plugins, auth providers and basic auth, naming the user and what to use instead", async () => {
    const users = {
      "exec-user": { exec: { apiVersion: "client.authentication.k8s.io/v1", command: "aws" } },
      "gcp-user": { "auth-provider": { name: "gcp" } },
      "basic-user": { username: "admin", password: "pw" },
    };
    for (const [name, user] of Object.entries(users)) {
      const path = await write(
        `${name}.yaml`,
        JSON.stringify({
          "current-context": "c",
          clusters: [{ name: "k", cluster: { server: "https://h:1" } }],
          users: [{ name, user }],
          contexts: [{ name: "c", context: { cluster: "k", user: name } }],
        }),
      );
      const err: unknown = await loadKubeconfigFile(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsupportedAuthError);
      expect(String(err)).toContain(`user "${name}"`);
      expect(String(err)).toMatch(/not supported; use a ServiceAccount token \(token or tokenFile\) or a client certificate/);
    }
  });

  it("names the missing context, cluster or user", async () => {
    const base = {
      clusters: [{ name: "k", cluster: { server: "https://h:1" } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [
        { name: "ok", context: { cluster: "k", user: "u" } },
        { name: "no-cluster", context: { cluster: "gone-cluster", user: "u" } },
        { name: "no-user", context: { cluster: "k", user: "gone-user" } },
      ],
    };
    const path = await write("config", JSON.stringify({ ...base, "current-context": "gone-context" }));
    const cases = [
      { context: undefined, entry: "context", name: "gone-context" },
      { context: "no-cluster", entry: "cluster", name: "gone-cluster" },
      { context: "no-user", entry: "user", name: "gone-user" },
    ] as const;
    for (const c of cases) {
      const err: unknown = await loadKubeconfigFile(path, { context: c.context }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MissingKubeconfigEntryError);
      expect(err).toMatchObject({ entry: c.entry, entryName: c.name });
      expect(String(err)).toContain(`${c.entry} "${c.name}" is not defined`);
    }
    await expect(loadKubeconfigFile(path, { context: "ok" })).resolves.toBeInstanceOf(KubeConnection);
  });

  it("reports unreadable, malformed and incomplete kubeconfigs with the file name", async () => {
    await expect(loadKubeconfigFile(join(dir, "nope"))).rejects.toThrow(new RegExp(`cannot read kubeconfig ${join(dir, "nope")}`));
    const bad = await write("bad", "clusters: [\n");
    await expect(loadKubeconfigFile(bad)).rejects.toThrow(/is not valid YAML/);
    const noServer = await write("no-server", JSON.stringify({ "current-context": "c", clusters: [{ name: "k", cluster: {} }] }));
    await expect(loadKubeconfigFile(noServer)).rejects.toThrow(/no-server is not a valid kubeconfig: clusters\.0\.cluster\.server/);
    const noCurrent = await write("no-current", JSON.stringify({ clusters: [] }));
    await expect(loadKubeconfigFile(noCurrent)).rejects.toThrow(/has no current-context/);
    const missingCa = await write(
      "missing-ca",
      JSON.stringify({
        "current-context": "c",
        clusters: [{ name: "k", cluster: { server: "https://h:1", "certificate-authority": "ca.crt" } }],
        contexts: [{ name: "c", context: { cluster: "k" } }],
      }),
    );
    await expect(loadKubeconfigFile(missingCa)).rejects.toThrow(new RegExp(`cannot read certificate-authority ${join(dir, "ca.crt")}`));
    const missingToken = await write(
      "missing-token",
      JSON.stringify({
        "current-context": "c",
        clusters: [{ name: "k", cluster: { server: "https://h:1" } }],
        users: [{ name: "u", user: { tokenFile: "no-token" } }],
        contexts: [{ name: "c", context: { cluster: "k", user: "u" } }],
      }),
    );
    await expect(loadKubeconfigFile(missingToken)).rejects.toThrow(KubeconfigError);
    const badUrl = await write(
      "bad-url",
      JSON.stringify({ "current-context": "c", clusters: [{ name: "k", cluster: { server: "ftp://h" } }], contexts: [{ name: "c", context: { cluster: "k" } }] }),
    );
    await expect(loadKubeconfigFile(badUrl)).rejects.toThrow(/must start with https:\/\//);
  });
});

describe("inClusterConnection", () => {
  async function serviceAccount(files: Record<string, string>): Promise<string> {
    const sa = join(dir, "sa");
    await mkdir(sa, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(join(sa, name), text);
    return sa;
  }

  it("uses the service host and port, the mounted token, CA and namespace", async () => {
    const sa = await serviceAccount({ token: "pod-token", "ca.crt": CA, namespace: "kmm-operator-system\n" });
    const conn = await inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }, serviceAccountDir: sa });
    expect(conn).toMatchObject({ server: "https://10.96.0.1:443", ca: CA, namespace: "kmm-operator-system", tokenFile: join(sa, "token") });
    expect(await conn.bearerToken()).toBe("pod-token");
    const v6 = await inClusterConnection({ env: { KUBERNETES_SERVICE_HOST: "fd00:10:96::1", KUBERNETES_SERVICE_PORT: "6443" }, serviceAccountDir: sa });
    expect(v6.server).toBe("https://[fd00:10:96::1]:6443");
  });

  it("explains what is missing outside a pod or without a mounted token", async () => {
    await expect(inClusterConnection({ env: {}, serviceAccountDir: dir })).rejects.toThrow(InClusterConfigError);
    await expect(inClusterConnection({ env: {}, serviceAccountDir: dir })).rejects.toThrow(/KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set/);
    const env = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    await expect(inClusterConnection({ env, serviceAccountDir: join(dir, "none") })).rejects.toThrow(/cannot read the service account CA .*automountServiceAccountToken/);
    const noToken = await serviceAccount({ "ca.crt": CA });
    await expect(inClusterConnection({ env, serviceAccountDir: noToken })).rejects.toThrow(/cannot read the service account token/);
  });
});

describe("defaultConnection", () => {
  const kubeconfig = (server: string): string =>
    JSON.stringify({ "current-context": "c", clusters: [{ name: "k", cluster: { server } }], contexts: [{ name: "c", context: { cluster: "k" } }] });

  it("takes the first file of $KUBECONFIG, then ~/.kube/config, then the pod's service account", async () => {
    const first = await write("first", kubeconfig("https://first:1"));
    const second = await write("second", kubeconfig("https://second:1"));
    await write("home/.kube/config", kubeconfig("https://home:1"));
    const home = join(dir, "home");
    expect((await defaultConnection({ env: { KUBECONFIG: `${first}${delimiter}${second}` }, home })).server).toBe("https://first:1");
    expect((await defaultConnection({ env: {}, home })).server).toBe("https://home:1");

    const sa = join(dir, "sa");
    await write("sa/token", "t");
    await write("sa/ca.crt", CA);
    const inCluster = await defaultConnection({ env: { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" }, home: join(dir, "nohome"), serviceAccountDir: sa });
    expect(inCluster.server).toBe("https://10.0.0.1:443");
  });

  it("skips $KUBECONFIG entries that do not exist, as kubectl does, and names them all when none exists", async () => {
    const second = await write("second", kubeconfig("https://second:1"));
    const third = await write("third", kubeconfig("https://third:1"));
    await write("home/.kube/config", kubeconfig("https://home:1"));
    const home = join(dir, "home");
    const gone = join(dir, "gone");
    expect((await defaultConnection({ env: { KUBECONFIG: `${gone}${delimiter}${delimiter}${second}${delimiter}${third}` }, home })).server).toBe("https://second:1");

    const err: unknown = await defaultConnection({ env: { KUBECONFIG: `${gone}${delimiter}${join(dir, "gone2")}` }, home }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoConnectionError);
    expect(String(err)).toContain(`none of the files in $KUBECONFIG exists (${gone}, ${join(dir, "gone2")})`);
  });

  it("says what it tried when nothing works", async () => {
    const err: unknown = await defaultConnection({ env: {}, home: join(dir, "nohome"), serviceAccountDir: join(dir, "nosa") }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoConnectionError);
    expect(String(err)).toMatch(/\$KUBECONFIG is not set, .*nohome\/\.kube\/config does not exist, and not running in a pod.*pass --kubeconfig/);
  });

  it("advises only what the program takes: no --kubeconfig for a program without that flag (the spoke edition)", async () => {
    const none: unknown = await defaultConnection({ env: {}, home: join(dir, "nohome"), serviceAccountDir: join(dir, "nosa"), kubeconfigFlag: false }).catch((e: unknown) => e);
    expect(String(none)).toMatch(/; set \$KUBECONFIG or run in a pod$/);
    const gone: unknown = await defaultConnection({ env: { KUBECONFIG: join(dir, "gone") }, kubeconfigFlag: false }).catch((e: unknown) => e);
    expect(String(gone)).toMatch(/fix \$KUBECONFIG$/);
    expect(String(none) + String(gone)).not.toContain("--kubeconfig");
  });
});

describe("KubeConnection", () => {
  it("withServer keeps TLS and credentials and changes only the address", async () => {
    const conn = new KubeConnection({ server: "https://a:1", ca: CA, token: "t", tlsServerName: "api", namespace: "ns" });
    const moved = conn.withServer("https://127.0.0.1:9");
    expect(moved).toMatchObject({ server: "https://127.0.0.1:9", ca: CA, tlsServerName: "api", namespace: "ns" });
    expect(await moved.bearerToken()).toBe("t");
    expect(moved.tokenRejected()).toBe(false);
  });

  it("refuses a token and a token file together", () => {
    expect(() => new KubeConnection({ server: "https://a:1", token: "t", tokenFile: "/x" })).toThrow(/a token or a token file, not both/);
  });
});
