import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ObjectStore } from "./store.ts";

describe("ObjectStore", () => {
  it("lists one namespace from its index, and agrees with a plain map after any sequence of changes", () => {
    const key = fc.tuple(fc.constantFrom("", "a", "b", "c"), fc.constantFrom("x", "y", "z")).map(([ns, n]) => `${ns}/${n}`);
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key, value: fc.integer() }),
      fc.record({ kind: fc.constant("delete" as const), key }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const store = new ObjectStore<number>();
        const model = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === "set") {
            store.set(o.key, o.value);
            model.set(o.key, o.value);
          } else expect(store.delete(o.key)).toBe(model.delete(o.key));
        }
        expect(store.size).toBe(model.size);
        expect(new Map(store.entries())).toEqual(model);
        for (const ns of ["", "a", "b", "c"]) {
          const expected = [...model].filter(([k]) => k.startsWith(`${ns}/`)).map(([, v]) => v).sort();
          expect(store.inNamespace(ns).sort()).toEqual(expected);
        }
      }),
    );
  });

  it("keeps cluster-scoped objects apart from namespaced ones", () => {
    const store = new ObjectStore<string>();
    store.set("/node-1", "node");
    store.set("kube-system/cm", "cm");
    expect(store.inNamespace("")).toEqual(["node"]);
    expect(store.inNamespace("kube-system")).toEqual(["cm"]);
    expect(store.inNamespace("other")).toEqual([]);
    expect(store.get("/node-1")).toBe("node");
    expect(store.has("kube-system/cm")).toBe(true);
  });
});
