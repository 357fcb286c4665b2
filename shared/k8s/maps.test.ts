import { describe, expect, it } from "vitest";
import { z } from "zod";
import { csiVolumeSourceSchema, objectMetaSchema } from "./core.generated.ts";
import { hasOwnProtoKey, refusingProtoKey, stringMap } from "./maps.ts";

/** As the API server's JSON reaches us: JSON.parse makes "__proto__" an own key. */
const fromJson = (text: string): unknown => JSON.parse(text);

describe("stringMap", () => {
  it("refuses a __proto__ key at its path instead of dropping it (plain z.record drops it)", () => {
    const input = fromJson('{"__proto__": "x", "a": "b"}');
    expect(Object.keys(z.record(z.string(), z.string()).parse(input))).toEqual(["a"]);
    const result = stringMap(z.string()).safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path)).toEqual([["__proto__"]]);
    expect(result.error?.issues[0]?.message).toContain('"__proto__"');
  });

  it("reads every other map as z.record does, and gives the same JSON Schema (the CRDs)", () => {
    expect(stringMap(z.string()).parse({ a: "b", constructor: "c", "": "d" })).toEqual({ a: "b", constructor: "c", "": "d" });
    expect(stringMap(z.string()).safeParse({ a: 1 }).success).toBe(false);
    expect(z.toJSONSchema(stringMap(z.string()), { io: "input" })).toEqual(z.toJSONSchema(z.record(z.string(), z.string()), { io: "input" }));
  });

  it("guards the generated Kubernetes maps: a CSI volume's volumeAttributes, which Kubernetes stores, is not lost on its way to the spoke", () => {
    const csi = fromJson('{"driver": "csi.example.com", "volumeAttributes": {"__proto__": "kept by Kubernetes", "size": "1Gi"}}');
    const result = csiVolumeSourceSchema.safeParse(csi);
    expect(result.error?.issues.map((i) => i.path.join("."))).toEqual(["volumeAttributes.__proto__"]);
    expect(objectMetaSchema.safeParse(fromJson('{"name": "m", "labels": {"__proto__": "v"}}')).success).toBe(false);
    expect(objectMetaSchema.parse(fromJson('{"name": "m", "labels": {"app": "v"}}')).labels).toEqual({ app: "v" });
  });

  it("takes the messages to give (Kubernetes' own for a label key), one issue each", () => {
    const result = refusingProtoKey(z.record(z.string(), z.string()), ["first", "second"]).safeParse(fromJson('{"__proto__": ""}'));
    expect(result.error?.issues.map((i) => i.message)).toEqual(["first", "second"]);
  });
});

describe("hasOwnProtoKey", () => {
  it("is true only for an object holding __proto__ as its own enumerable key", () => {
    expect(hasOwnProtoKey(fromJson('{"__proto__": 1}'))).toBe(true);
    expect(hasOwnProtoKey({})).toBe(false);
    expect(hasOwnProtoKey({ __proto__: { a: 1 } })).toBe(false);
    expect(hasOwnProtoKey(fromJson('["__proto__"]'))).toBe(false);
    expect(hasOwnProtoKey(null)).toBe(false);
    expect(hasOwnProtoKey("__proto__")).toBe(false);
  });
});
