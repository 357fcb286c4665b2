import { describe, expect, it } from "vitest";
import { KubeConnection } from "./connection.ts";
import { ApiError, ObjectRefError, RawClient, isConflict, isNotFound, watchEventSchema } from "./raw.ts";

describe("ApiError", () => {
  it("says which request failed and what the server answered", () => {
    const status = { kind: "Status", code: 404, message: 'configmaps "x" not found', reason: "NotFound" };
    const err = new ApiError("GET", "/api/v1/namespaces/a/configmaps/x", 404, status);
    expect(err.message).toBe('GET /api/v1/namespaces/a/configmaps/x: configmaps "x" not found');
    expect(err).toMatchObject({ code: 404, body: status, name: "ApiError" });
    expect(isNotFound(err)).toBe(true);
    expect(isConflict(err)).toBe(false);
    expect(isConflict(new ApiError("PUT", "/p", 409, {}))).toBe(true);
    expect(new ApiError("GET", "/p", 502, "Bad Gateway").message).toBe("GET /p: Bad Gateway");
    expect(new ApiError("GET", "/p", 500, undefined).message).toBe("GET /p: HTTP 500");
    expect(isNotFound(new Error("404"))).toBe(false);
  });
});

describe("RawClient.objectPath", () => {
  it("refuses objects it cannot place before asking the server anything", async () => {
    // Port 1 refuses connections: a request would fail with ECONNREFUSED, not ObjectRefError.
    const raw = new RawClient(new KubeConnection({ server: "https://127.0.0.1:1" }));
    await expect(raw.objectPath({ kind: "ConfigMap", metadata: { name: "x" } })).rejects.toThrow(ObjectRefError);
    await expect(raw.objectPath({ apiVersion: "v1", kind: "ConfigMap", metadata: {} })).rejects.toThrow(/ConfigMap object has no metadata.name/);
    await expect(raw.objectPath({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } })).rejects.toThrow(/ECONNREFUSED/);
    raw.close();
  });
});

describe("watch events", () => {
  it("accept the five event types and nothing else", () => {
    for (const type of ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]) expect(watchEventSchema.safeParse({ type, object: {} }).success).toBe(true);
    expect(watchEventSchema.safeParse({ type: "SYNC", object: {} }).success).toBe(false);
  });
});
