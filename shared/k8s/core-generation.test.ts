import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generateCoreTypes, openAPIDocumentPath, OpenAPIDocumentError, schemaConstName } from "../../scripts/gen-k8s-types.ts";
import { probeSchema, resourceRequirementsSchema, volumeSchema } from "./core.generated.ts";

const here = path.dirname(fileURLToPath(import.meta.url));

function doc(schemas: Record<string, unknown>): string {
  return JSON.stringify({ components: { schemas } });
}

describe("gen-k8s-types", () => {
  it("names schemas in camelCase, acronyms included", () => {
    expect(schemaConstName("io.k8s.api.core.v1.HTTPGetAction")).toBe("httpGetActionSchema");
    expect(schemaConstName("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")).toBe("objectMetaSchema");
    expect(schemaConstName("io.k8s.api.core.v1.GRPCAction")).toBe("grpcActionSchema");
  });

  it("is up to date with the Kubernetes OpenAPI document (npm run gen:k8s-types)", () => {
    const generated = generateCoreTypes(readFileSync(openAPIDocumentPath(), "utf8"));
    expect(generated).toBe(readFileSync(path.join(here, "core.generated.ts"), "utf8"));
  });

  it("refuses recursive definitions instead of emitting a broken module", () => {
    const looped = doc({
      "io.k8s.api.core.v1.Container": {
        type: "object",
        properties: { next: { allOf: [{ $ref: "#/components/schemas/io.k8s.api.core.v1.Container" }] } },
      },
    });
    expect(() => generateCoreTypes(looped)).toThrow(OpenAPIDocumentError);
  });

  it("reports a missing definition by name", () => {
    expect(() => generateCoreTypes(doc({}))).toThrow(/io\.k8s\.api\.core\.v1\.Container is missing/);
  });
});

describe("generated core types", () => {
  it("accept what the API server accepts: quantities and int-or-string ports", () => {
    expect(resourceRequirementsSchema.parse({ limits: { cpu: "500m", memory: 1024 } })).toEqual({
      limits: { cpu: "500m", memory: 1024 },
    });
    expect(probeSchema.parse({ httpGet: { port: "http", path: "/healthz" } }).httpGet?.port).toBe("http");
    expect(probeSchema.parse({ tcpSocket: { port: 8080 } }).tcpSocket?.port).toBe(8080);
  });

  it("enforce required fields and types", () => {
    expect(volumeSchema.safeParse({ configMap: { name: "x" } }).success).toBe(false);
    expect(volumeSchema.safeParse({ name: "v", hostPath: { path: 3 } }).success).toBe(false);
    expect(volumeSchema.parse({ name: "v", hostPath: { path: "/lib/modules" } }).hostPath?.path).toBe("/lib/modules");
  });
});
