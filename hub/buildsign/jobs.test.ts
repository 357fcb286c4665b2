// The build and sign Job builders: kaniko's arguments as upstream KMM builds them, mounts, names
// within Kubernetes' limits, labels, and an input hash that moves with every input and nothing else.
import { describe, expect, it } from "vitest";
import type { ManagedClusterModule } from "../../shared/api/index.ts";
import { isDnsLabel, isLabelValue } from "../../shared/kube/names.ts";
import { BuildInputError, buildJob, declaredArgs, dockerfileFrom, kanikoImage, usesDtkAuto, type BuildJobInput } from "./build-job.ts";
import { canonicalJson, inputHash } from "./hash.ts";
import { jobSchema, type Job } from "./job.ts";
import { INPUT_HASH_ANNOTATION, jobName, kernelLabelValue, unsignedImageName } from "./names.ts";
import { SignInputError, signJob, type SignJobInput } from "./sign-job.ts";
import { buildSignMcm, KERNEL, resolvedMapping } from "./testing/fixtures.ts";

const KANIKO = "gcr.io/kaniko-project/executor:v1.23.2";
const SIGNER = "ghcr.io/kmm-hub/kmm-signer:0.1.0";

const mcm = (container: Record<string, unknown>, extra: Record<string, unknown> = {}, name = "kmod"): ManagedClusterModule =>
  buildSignMcm({
    name,
    selector: { "wants-kmod": "true" },
    container,
    moduleSpec: {
      selector: { "node-role.kubernetes.io/worker": "" },
      imageRepoSecret: { name: "pull" },
      tolerations: [{ key: "dedicated", operator: "Equal", value: "builds", effect: "NoSchedule" }],
      ...extra,
    },
  });
const resolved = resolvedMapping;

const buildOnly = (build: Record<string, unknown> = {}, mapping: Record<string, unknown> = {}) =>
  mcm({
    kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/kmm/kmod:${KERNEL_FULL_VERSION}", ...mapping }],
    build: { dockerfileConfigMap: { name: "kmod-dockerfile" }, ...build },
  });

function buildInput(m: ManagedClusterModule, over: Partial<BuildJobInput> = {}): BuildJobInput {
  return {
    mcm: m,
    mapping: resolved(m),
    namespace: "kmm-hub",
    dockerfile: { key: "dockerfile", text: "FROM debian\nARG KERNEL_FULL_VERSION A\n" },
    secretVersions: { pull: "11", "build-token": "12" },
    relatedImageBuild: KANIKO,
    ...over,
  };
}

const container = (job: Job) => job.spec.template.spec.containers[0]!;
const hashOf = (job: Job) => job.metadata.annotations?.[INPUT_HASH_ANNOTATION];

describe("buildJob", () => {
  it("runs kaniko with upstream's arguments, mounts and labels, and a valid batch/v1 Job", () => {
    const m = buildOnly(
      {
        buildArgs: [
          { name: "ARG_NAME", value: "some" },
          { name: "MOD_NAME", value: "overridden-by-kmm" },
        ],
        secrets: [{ name: "build-token" }],
        baseImageRegistryTLS: { insecure: true, insecureSkipTLSVerify: true },
        kanikoParams: { tag: "debug" },
        selector: { "kmm-builder": "true" },
      },
      { registryTLS: { insecure: true, insecureSkipTLSVerify: true } },
    );
    const { job, destination, warnings } = buildJob(buildInput(m));
    expect(jobSchema.parse(job)).toEqual(job);
    expect(destination).toBe(`registry.example.com/kmm/kmod:${KERNEL}`);
    expect(warnings).toEqual([]);
    const c = container(job);
    expect(c.image).toBe("gcr.io/kaniko-project/executor:debug");
    expect(c.args).toEqual([
      "--destination",
      `registry.example.com/kmm/kmod:${KERNEL}`,
      "--insecure",
      "--skip-tls-verify",
      "--insecure-pull",
      "--skip-tls-verify-pull",
      "--build-arg",
      "ARG_NAME=some",
      "--build-arg",
      "MOD_NAME=kmod",
      "--build-arg",
      `KERNEL_FULL_VERSION=${KERNEL}`,
      "--build-arg",
      `KERNEL_VERSION=${KERNEL}`,
      "--build-arg",
      "MOD_NAMESPACE=kmm-ns",
      "--digest-file=/dev/termination-log",
    ]);
    expect(c.volumeMounts).toEqual([
      { name: "dockerfile", mountPath: "/workspace", readOnly: true },
      { name: "registry-config", mountPath: "/kaniko/.docker", readOnly: true },
      { name: "secret-build-token", mountPath: "/run/secrets/build-token", readOnly: true },
    ]);
    expect(job.spec.template.spec.volumes).toEqual([
      { name: "dockerfile", configMap: { name: "kmod-dockerfile", items: [{ key: "dockerfile", path: "Dockerfile" }] } },
      { name: "registry-config", secret: { secretName: "pull", items: [{ key: ".dockerconfigjson", path: "config.json" }], defaultMode: 0o440 } },
      { name: "secret-build-token", secret: { secretName: "build-token" } },
    ]);
    const spec = job.spec.template.spec;
    expect(spec.nodeSelector).toEqual({ "kmm-builder": "true" });
    expect(spec.tolerations).toEqual([{ key: "dedicated", operator: "Equal", value: "builds", effect: "NoSchedule" }]);
    expect(spec.restartPolicy).toBe("Never");
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(job.spec).toMatchObject({ completions: 1, backoffLimit: 0 });
    expect(job.metadata.namespace).toBe("kmm-hub");
    expect(job.metadata.labels).toEqual({
      "kmm.node.kubernetes.io/module.name": "kmod",
      "kmm.node.kubernetes.io/target-kernel": KERNEL,
      "kmm.node.kubernetes.io/job-type": "build",
      "app.kubernetes.io/managed-by": "kmm-hub",
      "app.kubernetes.io/name": "kmm",
      "app.kubernetes.io/component": "build",
      "app.kubernetes.io/part-of": "kmm",
    });
    expect(job.spec.template.metadata.labels).toEqual(job.metadata.labels);
    expect(job.metadata.ownerReferences).toEqual([
      { apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: "kmod", uid: "uid-kmod", controller: true, blockOwnerDeletion: true },
    ]);
    expect(job.metadata.annotations).toMatchObject({
      "kmm.node.kubernetes.io/destination-image": `registry.example.com/kmm/kmod:${KERNEL}`,
      "kmm.node.kubernetes.io/kernel-version.full": KERNEL,
    });
    expect(hashOf(job)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("leaves TLS flags, node selector and the registry mount out when nothing asks for them", () => {
    const m = mcm({ kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/k:${KERNEL_FULL_VERSION}" }], build: { dockerfileConfigMap: { name: "df" } } }, { imageRepoSecret: undefined, tolerations: undefined });
    const { job } = buildJob(buildInput(m, { dockerfile: { key: "Dockerfile", text: "FROM x" } }));
    expect(container(job).args?.filter((a) => a.startsWith("--") && a !== "--build-arg")).toEqual(["--destination", "--digest-file=/dev/termination-log"]);
    expect(container(job).image).toBe(KANIKO);
    const spec = job.spec.template.spec;
    expect(spec.nodeSelector).toBeUndefined();
    expect(spec.tolerations).toBeUndefined();
    expect(spec.volumes).toEqual([{ name: "dockerfile", configMap: { name: "df", items: [{ key: "Dockerfile", path: "Dockerfile" }] } }]);
  });

  it("pushes to the unsigned intermediate when the mapping also signs", () => {
    const m = buildOnly({}, { sign: { keySecret: { name: "key" }, certSecret: { name: "cert" }, filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmod.ko"] } });
    const { job, destination } = buildJob(buildInput(m));
    expect(destination).toBe(`registry.example.com/kmm/kmod:${KERNEL}_kmm_unsigned`);
    expect(container(job).args?.slice(0, 2)).toEqual(["--destination", destination]);
  });

  it("sets DTK_AUTO from the driver-toolkit image over the user's, warns without the ImageStream API, and refuses an unknown DTK image", () => {
    const m = buildOnly({ buildArgs: [{ name: "DTK_AUTO", value: "user" }] });
    const text = "ARG DTK_AUTO\nFROM ${DTK_AUTO} as builder\n";
    const dtk = { image: "image-registry.svc:5000/openshift/driver-toolkit@sha256:abc" };
    const withDtk = buildJob(buildInput(m, { dockerfile: { key: "dockerfile", text }, dtk }));
    expect(container(withDtk.job).args).toContain(`DTK_AUTO=${dtk.image}`);
    expect(container(withDtk.job).args).not.toContain("DTK_AUTO=user");
    expect(withDtk.warnings).toEqual([]);
    // Another DTK image is another build input.
    const other = buildJob(buildInput(m, { dockerfile: { key: "dockerfile", text }, dtk: { image: "quay.io/x/dtk@sha256:def" } }));
    expect(other.job.metadata.annotations?.[INPUT_HASH_ANNOTATION]).not.toBe(withDtk.job.metadata.annotations?.[INPUT_HASH_ANNOTATION]);
    const without = buildJob(buildInput(m, { dockerfile: { key: "dockerfile", text } }));
    expect(without.warnings).toEqual([expect.stringMatching(/uses DTK_AUTO, but this hub has no driver-toolkit ImageStream API/)]);
    expect(container(without.job).args).toContain("DTK_AUTO=user");
    expect(() => buildJob(buildInput(m, { dockerfile: { key: "dockerfile", text }, dtk: { error: "ImageStream openshift/driver-toolkit has no tag 9.9.9-0" } }))).toThrow(
      new BuildInputError("the Dockerfile of ConfigMap kmm-hub/kmod-dockerfile uses DTK_AUTO: ImageStream openshift/driver-toolkit has no tag 9.9.9-0"),
    );
    // A Dockerfile that does not name DTK_AUTO gets none, as upstream, and no warning.
    const plain = buildJob(buildInput(buildOnly(), { dtk }));
    expect(plain.warnings).toEqual([]);
    expect(container(plain.job).args?.some((a) => a.startsWith("DTK_AUTO="))).toBe(false);
    expect(buildJob(buildInput(buildOnly(), { dtk: { error: "x" } })).warnings).toEqual([]);
    expect(buildJob(buildInput(buildOnly())).warnings).toEqual([]);
    expect(usesDtkAuto("FROM $DTK_AUTO")).toBe(true);
    expect(usesDtkAuto("FROM DTK_AUTOMATIC")).toBe(false);
  });

  it("changes its input hash with the Dockerfile, args, secret versions and TLS, and with nothing else", () => {
    const m = buildOnly({ secrets: [{ name: "build-token" }] });
    const base = hashOf(buildJob(buildInput(m)).job);
    expect(hashOf(buildJob(buildInput(m)).job)).toBe(base);
    const changed = [
      buildInput(m, { dockerfile: { key: "dockerfile", text: "FROM debian:13\n" } }),
      buildInput(m, { secretVersions: { pull: "11", "build-token": "13" } }),
      buildInput(m, { secretVersions: { pull: "99", "build-token": "12" } }),
      buildInput(m, { relatedImageBuild: "gcr.io/kaniko-project/executor:v1.24.0" }),
      buildInput(buildOnly({ secrets: [{ name: "build-token" }], buildArgs: [{ name: "A", value: "1" }] })),
      buildInput(buildOnly({ secrets: [{ name: "build-token" }], baseImageRegistryTLS: { insecure: true } })),
    ];
    const hashes = changed.map((i) => hashOf(buildJob(i).job));
    expect(new Set([base, ...hashes]).size).toBe(changed.length + 1);
    // Another MCM asking for the same image with the same inputs yields the same Job: its MOD_NAME
    // differs, but this Dockerfile does not declare MOD_NAME, so it cannot change the image.
    const other = buildJob(buildInput(mcm(m.spec.moduleSpec.moduleLoader!.container, {}, "kmod2"))).job;
    expect(other.metadata.name).toBe(buildJob(buildInput(m)).job.metadata.name);
    expect(hashOf(other)).toBe(base);
    expect(container(other).args).toContain("MOD_NAME=kmod2");
    // Declared, it counts: the two MCMs would build different images.
    const declaring = { dockerfile: { key: "dockerfile", text: "FROM debian\nARG MOD_NAME\n" } };
    const other2 = buildJob(buildInput(mcm(m.spec.moduleSpec.moduleLoader!.container, {}, "kmod2"), declaring)).job;
    expect(hashOf(other2)).not.toBe(hashOf(buildJob(buildInput(m, declaring)).job));
    // A rebuild trigger is an input too.
    expect(hashOf(buildJob(buildInput(m, { extraInputs: { imageRebuildTriggerGeneration: 2 } })).job)).not.toBe(base);
  });

  it("reads the build args a Dockerfile declares", () => {
    expect([...declaredArgs("FROM x\narg A=1 B\n  ARG \\\n  C\nRUN echo $D\nARG KERNEL_VERSION=${X}\n")].sort()).toEqual(["A", "B", "C", "KERNEL_VERSION"]);
  });

  it("refuses a mapping without build, and a mounted Secret of unknown version", () => {
    const noBuild = mcm({ kernelMappings: [{ regexp: "^.+$", containerImage: "r.io/k:1" }] });
    expect(() => buildJob(buildInput(noBuild))).toThrow(BuildInputError);
    expect(() => buildJob(buildInput(buildOnly({ secrets: [{ name: "nope" }] })))).toThrow(/no resourceVersion known for Secret kmm-hub\/nope/);
    expect(() => buildJob(buildInput(buildOnly(), { relatedImageBuild: "" }))).toThrow(/RELATED_IMAGE_BUILD is not set/);
  });
});

describe("dockerfileFrom and kanikoImage", () => {
  it("prefers the dockerfile key, accepts Dockerfile, and names the ConfigMap otherwise", () => {
    expect(dockerfileFrom({ metadata: { name: "d" }, data: { dockerfile: "a", Dockerfile: "b" } })).toEqual({ key: "dockerfile", text: "a" });
    expect(dockerfileFrom({ metadata: { name: "d" }, data: { Dockerfile: "b" } })).toEqual({ key: "Dockerfile", text: "b" });
    expect(() => dockerfileFrom({ metadata: { name: "d", namespace: "kmm-hub" }, data: { other: "x" } })).toThrow(/ConfigMap kmm-hub\/d .* no "dockerfile" key/);
  });

  it.each([
    ["gcr.io/kaniko-project/executor:v1", "debug", "gcr.io/kaniko-project/executor:debug"],
    ["gcr.io/kaniko-project/executor@sha256:abc", "v2", "gcr.io/kaniko-project/executor:v2"],
    ["localhost:5000/kaniko", "v2", "localhost:5000/kaniko:v2"],
    ["localhost:5000/kaniko:v1", undefined, "localhost:5000/kaniko:v1"],
  ])("%s with tag %s → %s", (image, tag, expected) => {
    expect(kanikoImage(image, tag)).toBe(expected);
  });
});

describe("signJob", () => {
  const signOnly = (sign: Record<string, unknown> = {}, mapping: Record<string, unknown> = {}) =>
    mcm({
      kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/kmm/kmod-signed:${KERNEL_FULL_VERSION}", ...mapping }],
      sign: {
        unsignedImage: "registry.example.com/kmm/kmod:${KERNEL_FULL_VERSION}",
        unsignedImageRegistryTLS: { insecure: true },
        keySecret: { name: "key" },
        certSecret: { name: "cert" },
        filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmod.ko", "/opt/lib/modules/${KERNEL_FULL_VERSION}/extra/*.ko"],
        ...sign,
      },
    });
  const signInput = (m: ManagedClusterModule, over: Partial<SignJobInput> = {}): SignJobInput => ({
    mcm: m,
    mapping: resolved(m),
    namespace: "kmm-hub",
    secretVersions: { key: "21", cert: "22", pull: "11" },
    relatedImageSign: SIGNER,
    ...over,
  });

  it("runs the signer on unsignedImage with the keys mounted read-only, as non-root", () => {
    const m = signOnly({}, { registryTLS: { insecureSkipTLSVerify: true } });
    const { job, unsignedImage, destination } = signJob(signInput(m));
    expect(jobSchema.parse(job)).toEqual(job);
    expect(unsignedImage).toBe(`registry.example.com/kmm/kmod:${KERNEL}`);
    expect(destination).toBe(`registry.example.com/kmm/kmod-signed:${KERNEL}`);
    const c = container(job);
    expect(c.image).toBe(SIGNER);
    expect(c.args).toEqual([
      "--unsigned-image",
      unsignedImage,
      "--destination",
      destination,
      "--dir-name",
      "/opt",
      "--kernel",
      KERNEL,
      "--file-to-sign",
      `/opt/lib/modules/${KERNEL}/kmod.ko`,
      "--file-to-sign",
      `/opt/lib/modules/${KERNEL}/extra/*.ko`,
      "--key",
      "/run/secrets/key/key.pem",
      "--cert",
      "/run/secrets/cert/cert.pem",
      "--docker-config",
      "/run/secrets/registry/config.json",
      "--insecure-pull",
      "--skip-tls-verify",
      "--termination-log",
      "/dev/termination-log",
    ]);
    const volumes = job.spec.template.spec.volumes ?? [];
    expect(volumes.find((v) => v.name === "signing-key")?.secret).toEqual({ secretName: "key", items: [{ key: "key", path: "key.pem" }], defaultMode: 0o440 });
    expect(volumes.find((v) => v.name === "signing-cert")?.secret).toEqual({ secretName: "cert", items: [{ key: "cert", path: "cert.pem" }], defaultMode: 0o440 });
    for (const mount of c.volumeMounts ?? []) if (mount.name !== "tmp") expect(mount.readOnly, mount.name).toBe(true);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(job.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532 });
    expect(job.metadata.labels?.["kmm.node.kubernetes.io/job-type"]).toBe("sign");
    // The key's content never appears in the Job: only Secret names and paths.
    expect(JSON.stringify(job)).not.toMatch(/PRIVATE KEY/);
  });

  it("signs the build's intermediate, pulled like containerImage, by digest once the build reported one", () => {
    const m = mcm({
      kernelMappings: [{ regexp: "^.+$", containerImage: "registry.example.com/kmm/kmod:${KERNEL_FULL_VERSION}", registryTLS: { insecure: true } }],
      build: { dockerfileConfigMap: { name: "df" } },
      sign: { keySecret: { name: "key" }, certSecret: { name: "cert" }, filesToSign: ["/opt/lib/modules/${KERNEL_FULL_VERSION}/kmod.ko"] },
    });
    const byTag = signJob(signInput(m));
    const intermediate = `registry.example.com/kmm/kmod:${KERNEL}_kmm_unsigned`;
    expect(byTag.unsignedImage).toBe(intermediate);
    expect(buildJob(buildInput(m)).destination).toBe(intermediate);
    const digest = `sha256:${"c".repeat(64)}`;
    const byDigest = signJob(signInput(m, { unsignedDigest: digest }));
    expect(byDigest.unsignedImage).toBe(`registry.example.com/kmm/kmod@${digest}`);
    expect(container(byDigest.job).args).toEqual(expect.arrayContaining(["--insecure-pull", "--insecure"]));
    expect(hashOf(byDigest.job)).not.toBe(hashOf(byTag.job));
    expect(byDigest.job.metadata.name).toBe(byTag.job.metadata.name);
    // Build and sign of one image are two Jobs.
    expect(byTag.job.metadata.name).not.toBe(buildJob(buildInput(m)).job.metadata.name);
  });

  it("replaces the Job when a key or certificate Secret changes", () => {
    const m = signOnly();
    const a = hashOf(signJob(signInput(m)).job);
    expect(hashOf(signJob(signInput(m, { secretVersions: { key: "30", cert: "22", pull: "11" } })).job)).not.toBe(a);
    expect(hashOf(signJob(signInput(m, { secretVersions: { key: "21", cert: "31", pull: "11" } })).job)).not.toBe(a);
  });

  it("refuses files outside dirName, a missing unsignedImage and unknown Secret versions", () => {
    // The MCM schema refuses such a file already; the builder does not rely on it.
    const m = signOnly();
    const outside = resolved(m);
    outside.sign = { ...outside.sign!, filesToSign: ["/usr/lib/modules/x.ko"] };
    expect(() => signJob(signInput(m, { mapping: outside }))).toThrow(/must be under modprobe\.dirName \/opt/);
    expect(() => signJob(signInput(signOnly({ unsignedImage: undefined })))).toThrow(/set sign\.unsignedImage/);
    expect(() => signJob(signInput(signOnly(), { secretVersions: { cert: "1", pull: "1" } }))).toThrow(SignInputError);
    expect(() => signJob(signInput(signOnly(), { relatedImageSign: "" }))).toThrow(/RELATED_IMAGE_SIGN is not set/);
  });
});

describe("names", () => {
  it("keeps Job names within a DNS label whatever the image and kernel", () => {
    const long = `registry.example.com/${"team/".repeat(20)}${"k".repeat(90)}:${"t".repeat(120)}`;
    const kernel = `${"6.1.0-".repeat(20)}+custom_build`;
    for (const [image, k] of [
      [`registry.example.com/kmm/kmod:${KERNEL}`, KERNEL],
      [long, kernel],
      ["r.io/under_score.name:1", "5.14.0-284.el9.x86_64"],
    ] as const) {
      const name = jobName("build", image, k);
      expect(isDnsLabel(name), name).toBe(true);
      expect(name.length).toBeLessThanOrEqual(63);
    }
    expect(jobName("build", `registry.example.com/kmm/kmod:${KERNEL}`, KERNEL)).toMatch(/^kmod-build-6-1-0-18-amd64-[0-9a-f]{10}$/);
    // Every part of the identity counts, also past the readable cut.
    expect(jobName("sign", long, kernel)).not.toBe(jobName("build", long, kernel));
    expect(jobName("build", `${long}x`, kernel)).not.toBe(jobName("build", long, kernel));
    expect(jobName("build", long, `${kernel}x`)).not.toBe(jobName("build", long, kernel));
  });

  it("makes target-kernel label values that Kubernetes accepts", () => {
    expect(kernelLabelValue(KERNEL)).toBe(KERNEL);
    expect(kernelLabelValue("6.1.0+rt")).toBe("6.1.0_rt");
    const long = kernelLabelValue("6.1.0-".repeat(20));
    expect(isLabelValue(long)).toBe(true);
    expect(long).not.toBe(kernelLabelValue("6.1.0-".repeat(21)));
  });

  it("names the unsigned intermediate from the image alone (one build for every MCM), within the 128 characters of a tag", () => {
    expect(unsignedImageName("example.org/repository/minimal-driver:final")).toBe("example.org/repository/minimal-driver:final_kmm_unsigned");
    const digest = `sha256:${"d".repeat(64)}`;
    expect(unsignedImageName(`r.io/k@${digest}`)).toBe(`r.io/k:sha256-${"d".repeat(64)}_kmm_unsigned`);
    const long = unsignedImageName(`r.io/k:${"t".repeat(128)}`);
    const tag = long.slice(long.indexOf(":") + 1);
    expect(tag.length).toBeLessThanOrEqual(128);
    expect(tag).toMatch(/^t+-[0-9a-f]{10}_kmm_unsigned$/);
  });
});

describe("inputHash", () => {
  it("does not depend on key order, and does depend on values", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 2 }], c: 3 } })).toBe('{"a":{"c":3,"d":[2,{"e":2,"f":1}]},"b":1}');
    expect(inputHash({ a: 1, b: 2 })).toBe(inputHash({ b: 2, a: 1 }));
    expect(inputHash({ a: 1 })).not.toBe(inputHash({ a: 2 }));
  });
});
