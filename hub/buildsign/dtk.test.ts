// DTK_AUTO's image per kernel, as upstream KMM maps it: kernel → RHCOS version (Nodes' osImage) →
// the driver-toolkit ImageStream's tag of that version (never `latest`).
import { describe, expect, it } from "vitest";
import { dtkImageFor, dtkImagesByOsVersion, imageStreamSchema, kernelOsVersions, osImageVersion, type DtkNode } from "./dtk.ts";

const OS_A = "412.86.202302211547-0";
const OS_B = "413.92.202307260246-0";
const IMG_A = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + "a".repeat(64);
const IMG_B = "quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:" + "b".repeat(64);

const stream = imageStreamSchema.parse({
  apiVersion: "image.openshift.io/v1",
  kind: "ImageStream",
  metadata: { name: "driver-toolkit", namespace: "openshift" },
  spec: {
    tags: [
      { name: OS_A, from: { kind: "DockerImage", name: IMG_A } },
      { name: OS_B, from: { kind: "DockerImage", name: IMG_B } },
      { name: "latest", from: { kind: "DockerImage", name: IMG_B } },
      { name: "no-from" },
    ],
  },
});

const node = (name: string, kernelVersion: string | undefined, osImage: string | undefined): DtkNode => ({
  metadata: { name },
  status: { nodeInfo: { ...(kernelVersion !== undefined ? { kernelVersion } : {}), ...(osImage !== undefined ? { osImage } : {}) } },
});

describe("DTK_AUTO image per kernel", () => {
  it("reads the RHCOS version out of a Node's osImage", () => {
    expect(osImageVersion(`Red Hat Enterprise Linux CoreOS ${OS_A} (Ootpa)`)).toBe(OS_A);
    expect(osImageVersion("Debian GNU/Linux 12 (bookworm)")).toBeUndefined();
  });

  it("maps every tag but latest to its image", () => {
    expect(dtkImagesByOsVersion(stream)).toEqual(new Map([[OS_A, IMG_A], [OS_B, IMG_B]]));
    expect(dtkImagesByOsVersion(undefined).size).toBe(0);
  });

  it("maps kernels to RHCOS versions from Nodes, trimming a trailing + and skipping Nodes without either", () => {
    const nodes = [
      node("a", "4.18.0-372.40.1.el8_6.x86_64+", `Red Hat Enterprise Linux CoreOS ${OS_A} (Ootpa)`),
      node("b", "5.14.0-284.25.1.el9_2.x86_64", `Red Hat Enterprise Linux CoreOS ${OS_B} (Plow)`),
      node("c", "6.1.0-18-amd64", "Debian GNU/Linux 12 (bookworm)"),
      node("d", undefined, `Red Hat Enterprise Linux CoreOS ${OS_A} (Ootpa)`),
      { metadata: { name: "e" } },
    ];
    expect(kernelOsVersions(nodes)).toEqual(new Map([["4.18.0-372.40.1.el8_6.x86_64", OS_A], ["5.14.0-284.25.1.el9_2.x86_64", OS_B]]));
    // Nodes with one kernel but two versions: the same answer in any order.
    const k = "5.14.0-284.25.1.el9_2.x86_64";
    const two = [node("x", k, `CoreOS ${OS_A}`), node("y", k, `CoreOS ${OS_B}`)];
    expect(kernelOsVersions(two).get(k)).toBe(OS_B);
    expect(kernelOsVersions([...two].reverse()).get(k)).toBe(OS_B);
  });

  it("gives the image of the kernel's RHCOS tag, or says what is missing", () => {
    const nodes = [node("a", "4.18.0-372.40.1.el8_6.x86_64", `Red Hat Enterprise Linux CoreOS ${OS_A} (Ootpa)`), node("z", "5.0.0-1", "CoreOS 499.1.1-0")];
    expect(dtkImageFor("4.18.0-372.40.1.el8_6.x86_64", nodes, stream)).toEqual({ image: IMG_A });
    const error = (r: ReturnType<typeof dtkImageFor>) => ("error" in r ? r.error : "");
    expect(error(dtkImageFor("4.18.0-372.40.1.el8_6.x86_64", nodes, undefined))).toMatch(/ImageStream openshift\/driver-toolkit does not exist/);
    expect(error(dtkImageFor("6.6.6", nodes, stream))).toMatch(/no Node of the hub runs kernel 6\.6\.6/);
    expect(error(dtkImageFor("5.0.0-1", nodes, stream))).toMatch(/has no tag 499\.1\.1-0/);
  });
});
