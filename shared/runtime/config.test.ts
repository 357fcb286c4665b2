import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "./config.ts";

// The example from the upstream KMM operator guide (seed 003), as shipped.
const upstreamExample = `
healthProbeBindAddress: :8081
job:
  gcDelay: 1h
leaderElection:
  enabled: true
  resourceID: kmm.sigs.x-k8s.io
webhook:
  disableHTTP2: true  # CVE-2023-44487
  port: 9443
metrics:
  enableAuthnAuthz: true
  disableHTTP2: true  # CVE-2023-44487
  bindAddress: 0.0.0.0:8443
  secureServing: true
worker:
  runAsUser: 0
  seLinuxType: spc_t
  setFirmwareClassPath: /var/lib/firmware
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "kmm-config-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err: unknown) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("operator configuration", () => {
  it("accepts the upstream example and converts durations", () => {
    const c = parseConfig(upstreamExample, "spoke");
    expect(c.healthProbeBindAddress).toBe(":8081");
    expect(c.job.gcDelay).toBe(3_600_000);
    expect(c.leaderElection).toMatchObject({ enabled: true, resourceID: "kmm.sigs.x-k8s.io" });
    expect(c.webhook).toMatchObject({ disableHTTP2: true, port: 9443 });
    expect(c.metrics).toMatchObject({ enableAuthnAuthz: true, disableHTTP2: true, bindAddress: "0.0.0.0:8443", secureServing: true });
    expect(c.worker).toEqual({ runAsUser: 0, seLinuxType: "spc_t", firmwareHostPath: "/var/lib/firmware", firmwareClassPath: "/var/lib/firmware" });
  });

  it("fills upstream defaults (and ours) for an empty file, per edition", () => {
    const hub = parseConfig("", "hub");
    expect(hub).toEqual({
      healthProbeBindAddress: ":8081",
      job: { gcDelay: 0 },
      leaderElection: { enabled: true, resourceID: "kmm-hub.sigs.x-k8s.io", leaseDuration: 15_000, renewDeadline: 10_000, retryPeriod: 2000 },
      webhook: { disableHTTP2: true, port: 9443 },
      metrics: { bindAddress: "0.0.0.0:8443", disableHTTP2: true, enableAuthnAuthz: true, secureServing: true },
      worker: { runAsUser: 0, seLinuxType: "spc_t", firmwareHostPath: "/var/lib/firmware" },
      maxConcurrentReconciles: 1,
      digestRefreshInterval: 600_000,
      logLevel: "info",
    });
    expect(parseConfig("{}\n", "spoke").leaderElection.resourceID).toBe("kmm.sigs.x-k8s.io");
    expect(parseConfig("leaderElection: {}\n", "hub").leaderElection.leaseDuration).toBe(15_000);
  });

  it("accepts the hub sample of upstream, our additions, and legacy flat keys", () => {
    const c = parseConfig(
      `healthProbeBindAddress: 127.0.0.1:0
metricsBindAddress: "0"
webhookPort: 9444
job: {gcDelay: "0s"}
leaderElection: {enabled: false, resourceID: x, leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 4s, namespace: kmm-hub}
worker: {firmwareHostPath: /lib/firmware}
maxConcurrentReconciles: 8
digestRefreshInterval: 1h30m
logLevel: debug
`,
      "hub",
    );
    expect(c.metrics.bindAddress).toBe("0");
    expect(c.webhook.port).toBe(9444);
    expect(c.leaderElection).toEqual({ enabled: false, resourceID: "x", leaseDuration: 30_000, renewDeadline: 20_000, retryPeriod: 4000, namespace: "kmm-hub" });
    expect(c.worker.firmwareHostPath).toBe("/lib/firmware");
    expect(c.maxConcurrentReconciles).toBe(8);
    expect(c.digestRefreshInterval).toBe(5_400_000);
  });

  it.each([
    ["job:\n  gcDelay: 1day\n", /job\.gcDelay: invalid duration "1day": unknown unit "day"/],
    ["job:\n  gcDelay: -5m\n", /job\.gcDelay: must be at least 0 ms/],
    ["leaderElection:\n  enabled: \"yes\"\n", /leaderElection\.enabled: .*expected boolean/i],
    ["leaderElection:\n  enable: true\n", /leaderElection\.enable: unknown field/],
    ["metrics:\n  bindAddress: localhost\n", /metrics\.bindAddress: "localhost" is not a bind address/],
    ["metrics:\n  bindAddress: \":99999\"\n", /metrics\.bindAddress/],
    ["webhook:\n  port: 70000\n", /webhook\.port: .*65535/],
    ["worker:\n  runAsUser: -1\n", /worker\.runAsUser/],
    ["worker:\n  firmwareHostPath: lib/firmware\n", /worker\.firmwareHostPath: must be an absolute path/],
    ["maxConcurrentReconciles: 0\n", /maxConcurrentReconciles: .*>=1/],
    ["leaderElection:\n  leaseDuration: 5s\n", /leaderElection\.leaseDuration: must be longer than leaderElection\.renewDeadline/],
    ["leaderElection:\n  retryPeriod: 9s\n", /leaderElection\.renewDeadline: must be longer than 1\.2/],
    ["metrics:\n  certFile: /tls.crt\n", /metrics\.certFile: certFile and keyFile must be given together/],
    ["- a\n- b\n", /\(top level\): .*expected object/i],
    ["job: [\n", /not valid YAML/],
    ["job: {}\njob: {}\n", /not valid YAML: Map keys must be unique at line 2/],
  ])("refuses %j with a message naming the field", (text, why) => {
    const err = errorOf(() => parseConfig(text, "hub", "test.yaml"));
    expect(err.message).toMatch(/^invalid configuration in test\.yaml/);
    expect(err.message).toMatch(why);
  });

  it("reads YAML as upstream KMM's sigs.k8s.io/yaml does (YAML 1.1): yes and off are booleans, 0o17 is a string", () => {
    const c = parseConfig("leaderElection:\n  enabled: off\n  namespace: 0o17\nmetrics:\n  disableHTTP2: yes\n", "hub");
    expect(c.leaderElection.enabled).toBe(false);
    expect(c.leaderElection.namespace).toBe("0o17");
    expect(c.metrics.disableHTTP2).toBe(true);
    expect(() => parseConfig("leaderElection:\n  namespace: no\n", "hub", "t.yaml")).toThrow(/leaderElection\.namespace: .*expected string/i);
  });

  it("reports every problem at once", () => {
    const err = errorOf(() => parseConfig("job: {gcDelay: x}\nworker: {runAsUser: -3}\nbogus: 1\n", "hub", "f.yaml"));
    expect(err.message).toContain("job.gcDelay");
    expect(err.message).toContain("worker.runAsUser");
    expect(err.message).toContain("bogus: unknown field");
  });

  it("loads files, and names the file when it cannot be read", async () => {
    const good = join(dir, "good.yaml");
    const bad = join(dir, "bad.yaml");
    await writeFile(good, upstreamExample);
    await writeFile(bad, "job:\n  gcDelay: soon\n");
    expect((await loadConfig(good, "hub")).job.gcDelay).toBe(3_600_000);
    await expect(loadConfig(bad, "hub")).rejects.toThrow(new RegExp(`invalid configuration in ${bad}:\\n  job.gcDelay: invalid duration "soon"`));
    await expect(loadConfig(join(dir, "missing.yaml"), "hub")).rejects.toThrow(/cannot read configuration file .*missing\.yaml: ENOENT/);
    expect((await loadConfig(undefined, "hub")).leaderElection.resourceID).toBe("kmm-hub.sigs.x-k8s.io");
  });
});
