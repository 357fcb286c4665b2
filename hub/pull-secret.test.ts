import { describe, expect, it } from "vitest";
import { pullSecretKeychain } from "./pull-secret.ts";
import { testMcm } from "./testdata.ts";

const mcm = testMcm(); // imageRepoSecret: pull
const dockerConfig = { ".dockerconfigjson": Buffer.from(JSON.stringify({ auths: { "r.example.com": { auth: Buffer.from("u:p").toString("base64") } } })).toString("base64") };

describe("the pull secret an MCM names", () => {
  it("gives a keychain for a dockerconfigjson Secret", () => {
    const r = pullSecretKeychain(mcm, "hub", () => ({ metadata: { name: "pull", namespace: "hub" }, type: "kubernetes.io/dockerconfigjson", data: dockerConfig }));
    expect(r.problem).toBeUndefined();
    expect(r.keychain?.resolve({ registry: "r.example.com", repository: "a", tag: "b" } as never)).toMatchObject({ username: "u", password: "p" });
  });

  it("warns when it is missing", () => {
    expect(pullSecretKeychain(mcm, "hub", () => undefined).problem).toEqual({ reason: "PullSecretMissing", message: expect.stringContaining("imageRepoSecret pull does not exist in the hub namespace hub") as string });
  });

  it("warns when it is of a type that holds no registry credentials, instead of ignoring it", () => {
    const r = pullSecretKeychain(mcm, "hub", () => ({ metadata: { name: "pull", namespace: "hub" }, type: "Opaque", data: dockerConfig }));
    expect(r.keychain).toBeUndefined();
    expect(r.problem?.reason).toBe("PullSecretInvalid");
    expect(r.problem?.message).toMatch(/hub\/pull is of type Opaque, not kubernetes\.io\/dockerconfigjson/);
  });

  it("says why a dockerconfigjson Secret cannot be used", () => {
    const r = pullSecretKeychain(mcm, "hub", () => ({ metadata: { name: "pull", namespace: "hub" }, type: "kubernetes.io/dockerconfigjson", data: {} }));
    expect(r.problem?.reason).toBe("PullSecretInvalid");
    expect(r.problem?.message).toContain("cannot be used");
  });
});
