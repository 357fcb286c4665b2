import { describe, expect, it } from "vitest";
import { mergeScopes, parseChallenge, repositoryScope, validateRealm } from "./auth.ts";
import { parseRetryAfter } from "./transport.ts";

describe("parseChallenge", () => {
  it("reads a distribution bearer challenge", () => {
    expect(
      parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'),
    ).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull,push" },
    });
  });

  it("handles basic, spacing, unquoted and escaped values", () => {
    expect(parseChallenge('Basic realm="kmm"')).toEqual({ scheme: "basic", params: { realm: "kmm" } });
    expect(parseChallenge('bearer  realm = "https://a/t" , service=reg, error="insufficient_scope"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://a/t", service: "reg", error: "insufficient_scope" },
    });
    expect(parseChallenge('Bearer realm="https://a/t",note="say \\"hi\\", ok"')?.params.note).toBe('say "hi", ok');
    expect(parseChallenge("Negotiate")).toEqual({ scheme: "other", name: "Negotiate", params: {} });
    expect(parseChallenge(undefined)).toBeUndefined();
    expect(parseChallenge("")).toBeUndefined();
  });
});

describe("scopes", () => {
  it("merges actions on the same repository", () => {
    expect(mergeScopes([repositoryScope("a", ["push", "pull"]), "repository:a:pull", "repository:b:pull"])).toEqual([
      "repository:a:pull,push",
      "repository:b:pull",
    ]);
    expect(mergeScopes(["repository:a:pull repository:c:push"])).toEqual(["repository:a:pull", "repository:c:push"]);
  });
});

describe("validateRealm", () => {
  it("accepts https, and http only when the registry is insecure", () => {
    expect(validateRealm("https://auth.example/token", false)).toBeInstanceOf(URL);
    expect(validateRealm("http://auth.example/token", false)).toMatch(/plain HTTP.*registryTLS.insecure/);
    expect(validateRealm("http://auth.example/token", true)).toBeInstanceOf(URL);
    expect(validateRealm("file:///etc/passwd", true)).toMatch(/unsupported scheme/);
    expect(validateRealm("not a url", true)).toMatch(/not a URL/);
  });
});

describe("parseRetryAfter", () => {
  it("reads delta-seconds and HTTP dates", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("7", now)).toBe(7000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
