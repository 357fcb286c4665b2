// Issue 13, kinds 2 and 3: a spec the API server admits but a rule the controllers check refuses
// (upstreamRuleProblems: here Kubernetes' duplicate paths of a projected volume and the key of a
// label subscript in an env fieldRef, which the CRD cannot afford in CEL) reaches the hub's MCM status (SpecValid=False) and a Warning Event, and
// nothing is written for it: no ManifestWork. The spoke's side is in e2e/spoke.test.ts.
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { z } from "zod";
import { createHub, type Hub } from "../hub/main.ts";
import { MCM_NAME_LABEL } from "../hub/names.ts";
import { mcmObject, validSpec } from "../shared/api/testdata/cases.ts";
import { RawClient } from "../shared/kube/raw.ts";
import { createLogger, parseConfig } from "../shared/runtime/index.ts";
import { connectionFrom } from "./controlplane/kube.ts";
import { clientsFor, eventually } from "./support/clients.ts";

const fleet = inject("fleet");
const suffix = randomBytes(3).toString("hex");
const hubNamespace = `kmm-hub-dup-${suffix}`;
const name = `dup-paths-${suffix}`;
const protoName = `proto-selector-${suffix}`;
const clients = clientsFor(fleet.hub.kubeconfig);
const raw = new RawClient(await connectionFrom(fleet.hub.kubeconfig));
let hub: Hub;
let run: Promise<void>;

const conditionsSchema = z.looseObject({
  status: z.looseObject({ conditions: z.array(z.looseObject({ type: z.string(), status: z.string(), reason: z.string(), message: z.string() })).optional() }).optional(),
});

beforeAll(async () => {
  await clients.core.createNamespace({ body: { metadata: { name: hubNamespace } } });
  const config = parseConfig(['healthProbeBindAddress: "127.0.0.1:0"', "metrics:", '  bindAddress: "127.0.0.1:0"', "leaderElection:", "  enabled: false"].join("\n"), "hub", "e2e hub config");
  const logger = createLogger({ name: "kmm-hub-dup-paths", level: "info", destination: createWriteStream(join(fleet.hub.logDir, `kmm-hub-dup-paths-${suffix}.log`)) });
  hub = await createHub({ config, connection: await connectionFrom(fleet.hub.kubeconfig), namespace: hubNamespace, identity: "dup-paths", logger });
  run = hub.manager.run().catch(() => undefined);
});

afterAll(async () => {
  await hub.manager.stop();
  await run;
  await raw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`).catch(() => undefined);
  await raw.request("DELETE", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${protoName}`).catch(() => undefined);
  await clients.core.deleteNamespace({ name: hubNamespace }).catch(() => undefined);
  raw.close();
});

it("hub: an MCM whose projected volume writes a path twice and whose env reads a label by an invalid key gets SpecValid=False and an InvalidSpec Event, and no ManifestWork", async () => {
  const spec = {
    ...validSpec(),
    devicePlugin: {
      container: { image: "registry.example.com/org/dp:v1", env: [{ name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['bad key!']" } } }] },
      volumes: [{ name: "config", projected: { sources: [{ configMap: { name: "c", items: [{ key: "a", path: "conf" }] } }, { secret: { name: "s", items: [{ key: "b", path: "conf" }] } }] } }],
    },
  };
  await raw.apply(mcmObject(name, "kmm", spec), "kmm-e2e");
  await eventually("SpecValid False on the MCM", async () => {
    const got = conditionsSchema.parse((await raw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${name}`)).body);
    const c = got.status?.conditions?.find((x) => x.type === "SpecValid");
    if (c?.status !== "False" || c.reason !== "InvalidSpec" || !c.message.includes('spec.moduleSpec.devicePlugin.volumes[0].projected: conflicting duplicate paths: "conf"') || !c.message.includes("spec.moduleSpec.devicePlugin.container.env[0].valueFrom.fieldRef: name part must consist of alphanumeric characters")) {
      throw new Error(`condition ${JSON.stringify(c)}`);
    }
    return true;
  }, 60_000);
  const events = await clients.core.listEventForAllNamespaces({ fieldSelector: `involvedObject.name=${name},reason=InvalidSpec` });
  expect(events.items.some((e) => e.type === "Warning" && e.message?.includes("conflicting duplicate paths") === true)).toBe(true);
  const works = z.object({ items: z.array(z.unknown()) }).parse((await raw.request("GET", `/apis/work.open-cluster-management.io/v1/manifestworks?labelSelector=${encodeURIComponent(`${MCM_NAME_LABEL}=${name}`)}`)).body);
  expect(works.items).toEqual([]);
});

it("hub: an MCM the API server stores but the hub's schema refuses (a cluster selector key \"__proto__\", which zod would drop and so select every cluster) gets an InvalidSpec Event naming the field, and no ManifestWork", async () => {
  const mcm = mcmObject(protoName, "kmm", validSpec());
  // As kubectl sends it: JSON with the key; JSON.parse keeps "__proto__" as an own key, and so does JSON.stringify.
  mcm.spec = { ...(mcm.spec as Record<string, unknown>), selector: JSON.parse('{"__proto__": "x"}') as unknown };
  await raw.apply(mcm, "kmm-e2e");
  const stored = z.looseObject({ spec: z.looseObject({ selector: z.unknown() }) }).parse((await raw.request("GET", `/apis/hub.kmm.sigs.x-k8s.io/v1beta1/managedclustermodules/${protoName}`)).body);
  expect(JSON.stringify(stored.spec.selector)).toBe('{"__proto__":"x"}');
  const event = await eventually("an InvalidSpec Event on the MCM", async () => {
    const events = await clients.core.listEventForAllNamespaces({ fieldSelector: `involvedObject.name=${protoName},reason=InvalidSpec` });
    return events.items.find((e) => e.type === "Warning");
  }, 60_000);
  expect(event.message).toContain("does not match its schema");
  expect(event.message).toContain("spec.selector.__proto__: name part must consist of alphanumeric characters");
  const works = z.object({ items: z.array(z.unknown()) }).parse((await raw.request("GET", `/apis/work.open-cluster-management.io/v1/manifestworks?labelSelector=${encodeURIComponent(`${MCM_NAME_LABEL}=${protoName}`)}`)).body);
  expect(works.items).toEqual([]);
});
