import { describe, expect, it } from "vitest";
import { checkNonRoot, containerRunArgs } from "./container-args.ts";
import { ContainerConfigError, expand } from "./env.ts";
import { authFileFor, pullPolicy } from "./images.ts";
import { podSchema, type Pod } from "./pod.ts";
import { hostPathOnNode } from "./volumes.ts";

const pod = (spec: Record<string, unknown>): Pod =>
  podSchema.parse({ metadata: { name: "p", namespace: "ns", uid: "0123456789abcdef" }, spec: { containers: [{ name: "c", image: "r/i:1" }], ...spec } });

describe("containerRunArgs", () => {
  const input = (p: Pod) => ({ pod: p, container: p.spec.containers[0]!, name: "k8s_c", node: "n", image: "sha256:abc", env: new Map([["A", "1"]]), volumes: new Map([["v", { hostPath: "/node/v", readOnly: true }]]), terminationFile: "/pod/term", logFile: "/logs/c.log" });

  it("gives command as the entrypoint and args after the image", () => {
    const args = containerRunArgs(input(pod({ containers: [{ name: "c", image: "r/i:1", command: ["sh", "-c"], args: ["echo $0", "x"] }] })));
    expect(args.slice(args.indexOf("--entrypoint"), args.indexOf("--entrypoint") + 2)).toEqual(["--entrypoint", '["sh","-c"]']);
    expect(args.slice(-3)).toEqual(["sha256:abc", "echo $0", "x"]);
    expect(args).toContain("A=1");
  });

  it("maps the security context: user, groups, capabilities, read-only root, privileged", () => {
    const p = pod({
      securityContext: { runAsUser: 1000, supplementalGroups: [5] },
      containers: [{ name: "c", image: "r/i:1", securityContext: { runAsGroup: 7, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"], add: ["SYS_MODULE"] }, privileged: true } }],
    });
    const a = containerRunArgs(input(p)).join(" ");
    expect(a).toContain("--user 1000:7");
    expect(a).toContain("--group-add 5");
    expect(a).toContain("--cap-drop ALL --cap-add SYS_MODULE");
    expect(a).toContain("--read-only --read-only-tmpfs=false");
    expect(a).toContain("--privileged");
  });

  it("mounts volumes read-only where the volume is, refuses a subPath that leaves it or an unknown volume", () => {
    const p = pod({ containers: [{ name: "c", image: "r/i:1", volumeMounts: [{ name: "v", mountPath: "/m", subPath: "sub" }] }] });
    expect(containerRunArgs(input(p))).toContain("type=bind,source=/node/v/sub,destination=/m,ro=true");
    const escape = pod({ containers: [{ name: "c", image: "r/i:1", volumeMounts: [{ name: "v", mountPath: "/m", subPath: "../x" }] }] });
    expect(() => containerRunArgs(input(escape))).toThrow(ContainerConfigError);
    const unknown = pod({ containers: [{ name: "c", image: "r/i:1", volumeMounts: [{ name: "nope", mountPath: "/m" }] }] });
    expect(() => containerRunArgs(input(unknown))).toThrow(/names no volume/);
  });

  it("keeps hostPath under the node's own root", () => {
    expect(hostPathOnNode("/node/root", "/lib/modules")).toBe("/node/root/lib/modules");
    expect(hostPathOnNode("/node/root", "/../../etc")).toBe("/node/root/etc");
  });
});

describe("runAsNonRoot", () => {
  const nonRoot = pod({ securityContext: { runAsNonRoot: true } });
  it("refuses an image that runs as root, or as a user it cannot verify", () => {
    expect(() => checkNonRoot(nonRoot, nonRoot.spec.containers[0]!, "")).toThrow("container has runAsNonRoot and image will run as root");
    expect(() => checkNonRoot(nonRoot, nonRoot.spec.containers[0]!, "kmm")).toThrow(/non-numeric user \(kmm\)/);
    expect(() => checkNonRoot(nonRoot, nonRoot.spec.containers[0]!, "1000:1000")).not.toThrow();
  });
});

describe("env expansion", () => {
  it("expands $(VAR), keeps unknown ones, and $$ escapes", () => {
    const vars = new Map([["A", "x"]]);
    expect(expand("$(A)-$(B)-$$(A)", vars)).toBe("x-$(B)-$(A)");
  });
});

describe("image pulls", () => {
  it("defaults the pull policy as Kubernetes does", () => {
    expect(pullPolicy({ name: "c", image: "r/i" })).toBe("Always");
    expect(pullPolicy({ name: "c", image: "r/i:latest" })).toBe("Always");
    expect(pullPolicy({ name: "c", image: "127.0.0.1:5000/i:1" })).toBe("IfNotPresent");
    expect(pullPolicy({ name: "c", image: "r/i@sha256:" + "0".repeat(64) })).toBe("IfNotPresent");
    expect(pullPolicy({ name: "c", image: "r/i", imagePullPolicy: "Never" })).toBe("Never");
  });

  it("writes an auth file with only the credential the pull secrets hold for the image's registry", () => {
    const secret = (host: string, user: string) => ({
      metadata: { name: `s-${user}` },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": Buffer.from(JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${user}:pw`).toString("base64") } } })).toString("base64") },
    });
    const file = authFileFor("127.0.0.1:5000/team/i:1", [secret("other:1", "no"), secret("127.0.0.1:5000", "yes")]);
    expect(JSON.parse(file ?? "{}")).toEqual({ auths: { "127.0.0.1:5000": { auth: Buffer.from("yes:pw").toString("base64") } } });
    expect(authFileFor("127.0.0.1:5000/team/i:1", [])).toBeUndefined();
  });
});
