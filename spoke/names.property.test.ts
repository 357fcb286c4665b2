// Kind 1 of issue 13 (derived names within Kubernetes' limits): for every Module the CRD admits
// (name + namespace ≤ 41, upstream KMM's own limit), every name, label key and label value the spoke
// edition derives from it — DaemonSets, their selectors and pod labels, node labels, Node Events — is
// one the API server accepts, whatever the nodes' names and kernels.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_NAME_AND_NAMESPACE_LENGTH, moduleSchema, type Module } from "../shared/api/module.ts";
import { eventName } from "../shared/kube/events.ts";
import { isDnsLabel, isDnsSubdomain, isLabelValue, isQualifiedName } from "../shared/kube/names.ts";
import { MODULE_NAME_LABEL, ROLE_LABEL, ROLE_MODULE_LOADER, VERSION_LABEL, labelValue, moduleVersionLabel } from "./labels.ts";
import type { Node, Pod } from "./objects.ts";
import { plan } from "./plan.ts";
import { settings } from "./testdata.ts";

const dnsChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789-");
const alnum = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789");
/** An RFC 1123 label of 1..max characters. */
const dnsLabel = (max: number) =>
  fc.tuple(alnum, fc.string({ unit: dnsChar, maxLength: Math.max(0, max - 2) }), alnum, fc.boolean()).map(([a, mid, z, one]) => (one ? a : `${a}${mid}${z}`));
/** An RFC 1123 subdomain of 1..max characters. */
const dnsSubdomain = (max: number) =>
  fc.array(dnsLabel(Math.min(63, max)), { minLength: 1, maxLength: 4 }).map((parts) => parts.join(".").slice(0, max).replace(/[-.]+$/, "") || "a");

/** Module name and namespace in the whole admitted range, biased to the longest combinations (41). */
const nameAndNamespace = fc
  .tuple(dnsLabel(40), fc.constantFrom(0, 0, 0, 1, 3, 10, 30), dnsSubdomain(40))
  .map(([namespace, slack, sub]) => {
    const length = Math.max(1, MAX_NAME_AND_NAMESPACE_LENGTH - namespace.length - slack);
    const name = `${sub}${"a".repeat(length)}`.slice(0, length).replace(/[-.]+$/, "") || "a";
    return [namespace, name] as const;
  });

/** Anything a node can report as its kernel (`uname -r`: up to 64 bytes). */
const kernel = fc.oneof(
  fc.constantFrom("6.1.0-18-amd64", "5.14.0-427.13.1.el9_4.x86_64", "6.1", "3.14-1-amd64", "not-a-kernel", "6.10.0-rc1+"),
  fc.string({ minLength: 1, maxLength: 64 }).filter((k) => k.trim() !== ""),
);

/** Versions: whatever the schema admits (a label value today), plus odd strings it may have admitted before. */
const version = fc.oneof(fc.constantFrom("1.0", "v2", "2026.11.30-rc1"), fc.string({ minLength: 1, maxLength: 63 }));

function admitted(namespace: string, name: string, v: string | undefined, withDevicePlugin: boolean): Module | undefined {
  const r = moduleSchema.safeParse({
    apiVersion: "kmm.sigs.x-k8s.io/v1beta1",
    kind: "Module",
    metadata: { name, namespace, uid: "u1", generation: 1 },
    spec: {
      selector: { "node-role.kubernetes.io/worker": "" },
      moduleLoader: {
        container: {
          ...(v !== undefined ? { version: v } : {}),
          modprobe: { moduleName: "m" },
          kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/m:${KERNEL_FULL_VERSION}" }],
        },
      },
      ...(withDevicePlugin ? { devicePlugin: { container: { image: "registry.example.com/dp:v1" } } } : {}),
    },
  });
  return r.success ? r.data : undefined;
}

function checkLabels(labels: Record<string, string | null> | undefined, where: string): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    expect(isQualifiedName(k), `${where}: label key ${k} (${k.length - k.indexOf("/") - 1} after the slash)`).toBe(true);
    if (v !== null) expect(isLabelValue(v), `${where}: label value ${JSON.stringify(v)} of ${k}`).toBe(true);
  }
}

describe("derived names of the spoke edition (property over the admitted range)", () => {
  it("every DaemonSet name, selector, pod label, node label and Event name is valid", () => {
    fc.assert(
      fc.property(nameAndNamespace, fc.option(version, { nil: undefined }), fc.boolean(), fc.array(fc.tuple(dnsSubdomain(253), kernel), { minLength: 1, maxLength: 3 }), ([namespace, name], v, dp, nodeSpecs) => {
        const module = admitted(namespace, name, v, dp);
        if (module === undefined) return; // not admitted: outside the range the property is about
        const ref = { namespace, name };
        const nodes: Node[] = nodeSpecs.map(([nodeName, k]) => ({
          metadata: { name: nodeName, labels: { "node-role.kubernetes.io/worker": "", ...(v !== undefined ? { [moduleVersionLabel(ref)]: labelValue(v) } : {}) } },
          status: { nodeInfo: { kernelVersion: k } },
        }));
        const pods: Pod[] = nodes.map((n, i) => ({
          metadata: { name: `p${i}`, namespace, labels: { [MODULE_NAME_LABEL]: name, [ROLE_LABEL]: ROLE_MODULE_LOADER, ...(v !== undefined ? { [VERSION_LABEL]: labelValue(v) } : {}) } },
          spec: { nodeName: n.metadata.name },
          status: { conditions: [{ type: "Ready", status: "True" }] },
        }));
        const p = plan(module, { nodes, pods, daemonSets: [] }, settings, new Date(0));
        for (const ds of p.apply) {
          const dsName = ds.metadata.name ?? "";
          expect(isDnsSubdomain(dsName) && dsName.length <= 63, `DaemonSet name ${dsName}`).toBe(true);
          checkLabels(ds.metadata.labels, `DaemonSet ${dsName} labels`);
          checkLabels(ds.spec.selector.matchLabels, `DaemonSet ${dsName} selector`);
          checkLabels(ds.spec.template.metadata.labels, `DaemonSet ${dsName} pod labels`);
          checkLabels(ds.spec.template.spec.nodeSelector, `DaemonSet ${dsName} nodeSelector`);
          for (const k of Object.keys({ ...ds.metadata.annotations, ...ds.spec.template.metadata.annotations })) expect(isQualifiedName(k)).toBe(true);
        }
        for (const [node, labels] of p.nodeLabels) checkLabels(labels, `Node ${node}`);
        for (const ev of p.nodeEvents) expect(isDnsSubdomain(eventName(ev.node, "0123456789abcdef"))).toBe(true);
        expect(isDnsLabel(namespace)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
