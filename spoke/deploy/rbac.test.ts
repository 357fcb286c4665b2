// The shipped RBAC stays least-privilege: no wildcards, no secrets, pods read-only, and the
// ServiceAccounts the DaemonSet builder defaults to exist.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseKubeDocuments } from "../../shared/yaml/read.ts";
import { z } from "zod";
import { DEFAULT_DEVICE_PLUGIN_SERVICE_ACCOUNT, DEFAULT_MODULE_LOADER_SERVICE_ACCOUNT } from "../settings.ts";

const ruleSchema = z.object({
  apiGroups: z.array(z.string()),
  resources: z.array(z.string()),
  verbs: z.array(z.string()),
  resourceNames: z.array(z.string()).optional(),
});
const docSchema = z.looseObject({
  kind: z.string(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().optional() }),
  rules: z.array(ruleSchema).optional(),
});

async function docs() {
  const text = await readFile(new URL("./rbac.yaml", import.meta.url), "utf8");
  return parseKubeDocuments(text).map((d) => docSchema.parse(d.toJS()));
}

describe("spoke RBAC", () => {
  it("grants no wildcard, no secrets, and only reads pods", async () => {
    const rules = (await docs()).flatMap((d) => d.rules ?? []);
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      expect([...r.apiGroups, ...r.resources, ...r.verbs]).not.toContain("*");
      expect(r.resources).not.toContain("secrets");
      if (r.resources.includes("pods")) expect(r.verbs.sort()).toEqual(["list", "watch"]);
    }
  });

  it("ships the default ServiceAccounts of module-loader and device-plugin pods", async () => {
    const accounts = (await docs()).filter((d) => d.kind === "ServiceAccount").map((d) => d.metadata.name);
    expect(accounts).toEqual(expect.arrayContaining(["kmm-spoke", DEFAULT_MODULE_LOADER_SERVICE_ACCOUNT, DEFAULT_DEVICE_PLUGIN_SERVICE_ACCOUNT]));
  });
});
