import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { z } from "zod";
import type { TestPki } from "./pki.ts";
import { freePort } from "../../testing/ports.ts";
import { toYaml } from "../../yaml/write.ts";

// Starts Debian's docker-registry (the CNCF distribution registry, 2.8) on a
// free loopback port with its own config and storage, for tests and the
// benchmark. TLS, htpasswd auth and token auth are options; plain HTTP is
// what you get without `tls`.

const run = promisify(execFile);
export const REGISTRY_BINARY = process.env.KMM_TEST_REGISTRY_BINARY ?? "/usr/bin/docker-registry";

export type RegistryAuthConfig =
  | { kind: "htpasswd"; users: Record<string, string> }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface RegistryServerOptions {
  /** Serve HTTPS with this certificate; plain HTTP when absent. */
  tls?: { certFile: string; keyFile: string };
  auth?: RegistryAuthConfig;
}

export interface RegistryServer {
  /** 127.0.0.1:<port>, the registry part of image references. */
  host: string;
  url: string;
  /** Everything the registry wrote to stdout/stderr (access log included). */
  log(): string;
  /**
   * Number of requests the registry logged for a method and path prefix (access log),
   * after a marker request shows the log has caught up with earlier requests.
   */
  countRequests(filter?: { method?: string; pathPrefix?: string }): Promise<number>;
  stop(): Promise<void>;
}

async function waitUntilServing(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}:\n${output()}`);
    const answered = await new Promise<boolean>((resolve) => {
      const lib = url.startsWith("https:") ? https : http;
      const req = lib.get(`${url}/v2/`, { rejectUnauthorized: false, timeout: 1000 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.once("error", () => resolve(false));
      req.once("timeout", () => req.destroy());
    });
    if (answered) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer on ${url} within 20 s:\n${output()}`);
}

/** Writes an htpasswd file with bcrypt entries through apache2-utils' htpasswd. */
async function writeHtpasswd(file: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    const { stdout } = await run("htpasswd", ["-Bbn", user, password]);
    lines.push(stdout.trim());
  }
  await writeFile(file, `${lines.join("\n")}\n`);
}

/** Starts a registry; a port taken between picking it and binding it is retried with another. */
export async function startRegistry(opts: RegistryServerOptions = {}): Promise<RegistryServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRegistryOnce(opts);
    } catch (err) {
      if (attempt >= 5 || !(err instanceof Error) || !err.message.includes("address already in use")) throw err;
    }
  }
}

/**
 * Writes the registry's config (and htpasswd file) into `dir`, storage under `dir/data`; returns
 * the config file for `docker-registry serve`. For callers that run the registry themselves (the
 * local fleet keeps it in its process group).
 */
export async function writeRegistryConfig(dir: string, host: string, opts: RegistryServerOptions): Promise<string> {
  const httpSection: Record<string, unknown> = {
    addr: host,
    secret: "kmm-hub-test-secret",
    headers: { "X-Content-Type-Options": ["nosniff"] },
  };
  if (opts.tls) httpSection.tls = { certificate: opts.tls.certFile, key: opts.tls.keyFile };
  let auth: Record<string, unknown> | undefined;
  if (opts.auth?.kind === "htpasswd") {
    const file = path.join(dir, "htpasswd");
    await writeHtpasswd(file, opts.auth.users);
    auth = { htpasswd: { realm: "kmm-hub-test", path: file } };
  } else if (opts.auth?.kind === "token") {
    auth = {
      token: {
        realm: opts.auth.realm,
        service: opts.auth.service,
        issuer: opts.auth.issuer,
        rootcertbundle: opts.auth.rootCertBundle,
      },
    };
  }
  const config = {
    version: 0.1,
    log: { level: "info", formatter: "text", accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: path.join(dir, "data") },
      delete: { enabled: true },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: httpSection,
    ...(auth ? { auth } : {}),
  };
  const configFile = path.join(dir, "config.yml");
  await writeFile(configFile, toYaml([config]));
  return configFile;
}

async function startRegistryOnce(opts: RegistryServerOptions): Promise<RegistryServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kmm-registry-"));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `${opts.tls ? "https" : "http"}://${host}`;
  const configFile = await writeRegistryConfig(dir, host, opts);

  const chunks: string[] = [];
  const child = spawn(REGISTRY_BINARY, ["serve", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.setEncoding("utf8").on("data", (d: string) => chunks.push(d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => chunks.push(d));
  const output = () => chunks.join("");
  // If the test process dies without afterAll, the registry must not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  let markers = 0;
  try {
    await waitUntilServing(url, child, output);
  } catch (err) {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    host,
    url,
    log: output,
    async countRequests(filter = {}) {
      const marker = `/v2/kmm-log-marker/manifests/m${++markers}`;
      await new Promise<void>((resolve) => {
        const lib = url.startsWith("https:") ? https : http;
        const req = lib.request(`${url}${marker}`, { method: "HEAD", rejectUnauthorized: false }, (res) => {
          res.resume();
          resolve();
        });
        req.once("error", () => resolve());
        req.end();
      });
      const deadline = Date.now() + 5_000;
      while (!output().includes(`${marker} HTTP/`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      // Access log lines are in combined log format: "METHOD /path HTTP/1.1" status ...
      const re = /"([A-Z]+) (\/\S*) HTTP\/[\d.]+" (\d{3})/g;
      let count = 0;
      for (const m of output().matchAll(re)) {
        if (filter.method !== undefined && m[1] !== filter.method) continue;
        if (filter.pathPrefix !== undefined && !(m[2] ?? "").startsWith(filter.pathPrefix)) continue;
        count++;
      }
      return count;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A directory (under `parent`) for `skopeo --cert-dir`: it trusts the CA file in it. */
export async function skopeoCertDir(pki: TestPki, parent: string): Promise<string> {
  const dir = await mkdtemp(path.join(parent, "skopeo-certs-"));
  await writeFile(path.join(dir, "ca.crt"), pki.caPem);
  return dir;
}

const SkopeoInspectSchema = z.looseObject({ Digest: z.string(), Architecture: z.string().optional(), Os: z.string().optional() });

/** `skopeo inspect` of an image: the digest (of the tag's top-level manifest) and platform skopeo sees. */
export async function skopeoInspect(image: string, args: string[]): Promise<z.infer<typeof SkopeoInspectSchema>> {
  const { stdout } = await run("skopeo", ["inspect", ...args, `docker://${image}`], { maxBuffer: 16 << 20 });
  return SkopeoInspectSchema.parse(JSON.parse(stdout));
}

/** `skopeo inspect --raw`: the manifest bytes exactly as served. */
export async function skopeoRawManifest(image: string, args: string[]): Promise<Buffer> {
  const { stdout } = await run("skopeo", ["inspect", "--raw", ...args, `docker://${image}`], {
    maxBuffer: 16 << 20,
    encoding: "buffer",
  });
  return stdout;
}
