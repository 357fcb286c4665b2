import { describe, expect, it } from "vitest";
import { Keychain, keyMatches, PullSecretError } from "./keychain.ts";
import { parseReference } from "./reference.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function configJsonSecret(auths: Record<string, unknown>, name = "pull") {
  return {
    metadata: { name, namespace: "ns" },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": b64(JSON.stringify({ auths })) },
  };
}

function dockercfgSecret(cfg: Record<string, unknown>) {
  return { metadata: { name: "legacy" }, type: "kubernetes.io/dockercfg", data: { ".dockercfg": b64(JSON.stringify(cfg)) } };
}

const user = (n: string) => ({ auth: b64(`${n}:pw-${n}`) });

describe("keyMatches (kubelet keyring rules)", () => {
  it.each([
    ["reg.io", "reg.io/a/b", true],
    ["reg.io", "other.io/a", false],
    ["reg.io:5000", "reg.io:5000/a", true],
    ["reg.io:5000", "reg.io/a", false],
    ["reg.io", "reg.io:5000/a", false],
    ["*.reg.io", "eu.reg.io/a", true],
    ["*.reg.io", "reg.io/a", false],
    ["*.reg.io", "a.eu.reg.io/a", false],
    ["*.*.io", "a.reg.io/x", true],
    ["r?g.io", "reg.io/x", true],
    ["[a-c]b.io", "bb.io/x", true],
    ["[a-c]b.io", "db.io/x", false],
    ["reg.io/team", "reg.io/team/app", true],
    ["reg.io/team", "reg.io/other/app", false],
    // The kubelet compares paths as string prefixes, so this matches too.
    ["reg.io/team", "reg.io/teammate/app", true],
    ["[bad", "x/y", false],
  ])("%s vs %s → %s", (glob, target, expected) => {
    expect(keyMatches(glob, target)).toBe(expected);
  });
});

describe("Keychain.fromDockerConfig", () => {
  it("reads a config.json with auths, and the legacy .dockercfg map", () => {
    const json = Keychain.fromDockerConfig(JSON.stringify({ auths: { "reg.io:5000": user("a") } }), "config.json");
    expect(json.resolve(parseReference("reg.io:5000/x:1"))).toEqual({ username: "a", password: "pw-a" });
    const legacy = Keychain.fromDockerConfig(JSON.stringify({ "legacy.io": { username: "b", password: "pw-b" } }), ".dockercfg");
    expect(legacy.resolve(parseReference("legacy.io/x:1"))).toEqual({ username: "b", password: "pw-b" });
  });

  it("names the file when the text is not a docker config", () => {
    expect(() => Keychain.fromDockerConfig("{", "/run/secrets/registry/config.json")).toThrow(/config\.json: not JSON/);
    expect(() => Keychain.fromDockerConfig(JSON.stringify({ auths: 3 }), "f.json")).toThrow(PullSecretError);
  });
});

describe("Keychain", () => {
  it("reads dockerconfigjson and dockercfg secrets and ignores other types", () => {
    const keychain = Keychain.fromSecrets([
      configJsonSecret({ "https://reg.io/v2/": user("a") }),
      dockercfgSecret({ "legacy.io": { username: "b", password: "pw-b" } }),
      { metadata: { name: "opaque" }, type: "Opaque", data: { token: b64("x") } },
    ]);
    expect(keychain.resolve(parseReference("reg.io/x/y:1"))).toEqual({ username: "a", password: "pw-a" });
    expect(keychain.resolve(parseReference("legacy.io/x"))).toEqual({ username: "b", password: "pw-b" });
    expect(keychain.resolve(parseReference("nobody.io/x"))).toBeUndefined();
  });

  it("prefers the most specific path and returns all matches in order", () => {
    const keychain = Keychain.fromSecrets([
      configJsonSecret({ "reg.io": user("host"), "reg.io/team": user("team"), "reg.io/team/app": user("app"), "*.io": user("glob") }),
    ]);
    expect(keychain.lookup(parseReference("reg.io/team/app:1")).map((c) => c.username)).toEqual(["app", "team", "host", "glob"]);
    expect(keychain.lookup(parseReference("reg.io/other:1")).map((c) => c.username)).toEqual(["host", "glob"]);
  });

  it("matches Docker Hub images against docker.io keys and falls back to index.docker.io", () => {
    const legacy = Keychain.fromSecrets([configJsonSecret({ "https://index.docker.io/v1/": user("hub") })]);
    expect(legacy.resolve(parseReference("busybox"))?.username).toBe("hub");
    expect(legacy.resolve(parseReference("someone/app"))?.username).toBe("hub");
    expect(legacy.resolve(parseReference("quay.io/someone/app"))).toBeUndefined();
    const modern = Keychain.fromSecrets([configJsonSecret({ "docker.io": user("modern") })]);
    expect(modern.resolve(parseReference("library/busybox"))?.username).toBe("modern");
  });

  it("explains malformed secrets without printing their content", () => {
    const bad = { metadata: { name: "bad", namespace: "ns" }, type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": b64("{nope") } };
    expect(() => Keychain.fromSecrets([bad])).toThrow(PullSecretError);
    expect(() => Keychain.fromSecrets([bad])).toThrow("pull secret ns/bad: data is not base64-encoded JSON");
    const missing = { metadata: { name: "m" }, type: "kubernetes.io/dockercfg", data: {} };
    expect(() => Keychain.fromSecrets([missing])).toThrow("no .dockercfg key");
    const noColon = configJsonSecret({ "reg.io": { auth: b64("justuser") } }, "nocolon");
    expect(() => Keychain.fromSecrets([noColon])).toThrow(/does not decode to username:password/);
  });
});
