// The build → sign chain of one (image, kernel) against cached Jobs: what is created, waited for,
// adopted, replaced, pinned and deleted, and what a failure or a conflict looks like.
import { describe, expect, it } from "vitest";
import type { ManagedClusterModule } from "../../shared/api/index.ts";
import { buildJob, BuildInputError } from "./build-job.ts";
import type { Job, ObservedJob, ObservedPod } from "./job.ts";
import { POD_JOB_NAME_LABEL } from "./names.ts";
import { jobNames, progress, type ProgressInput } from "./progress.ts";
import { signJob } from "./sign-job.ts";
import { buildSignMcm, IMAGE, resolvedMapping, SIGN } from "./testing/fixtures.ts";

const NOW = Date.parse("2026-11-30T12:00:00Z");
const D_UNSIGNED = `sha256:${"a".repeat(64)}`;
const D_SIGNED = `sha256:${"b".repeat(64)}`;
const D_OLD = `sha256:${"c".repeat(64)}`;

const mcm = (name: string, sign = true, dockerArgs = ""): ManagedClusterModule =>
  buildSignMcm({
    name,
    container: {
      modprobe: { moduleName: "kmod", dirName: "/opt" },
      kernelMappings: [{ regexp: "^.+$", containerImage: IMAGE }],
      build: { dockerfileConfigMap: { name: "df" }, buildArgs: dockerArgs ? [{ name: "X", value: dockerArgs }] : [] },
      ...(sign ? { sign: SIGN } : {}),
    },
  });

const mappingOf = (m: ManagedClusterModule) => resolvedMapping(m);

const ownerOf = (m: ManagedClusterModule) => ({ apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: m.metadata.name ?? "", uid: m.metadata.uid ?? "" });

function observedOf(job: Job, status: ObservedJob["status"], owners = job.metadata.ownerReferences): ObservedJob {
  return {
    metadata: { name: job.metadata.name ?? "", namespace: "kmm-hub", uid: `uid-${job.metadata.name ?? ""}`, resourceVersion: "7", labels: job.metadata.labels, annotations: job.metadata.annotations, ownerReferences: owners },
    status,
  };
}

const done = (at = "2026-11-30T11:59:00Z") => ({ succeeded: 1, completionTime: at, conditions: [{ type: "Complete", status: "True" }] });
const failed = { failed: 1, conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" }] };

function podOf(job: ObservedJob, message: string): ObservedPod {
  return {
    metadata: { name: `${job.metadata.name}-p`, labels: { [POD_JOB_NAME_LABEL]: job.metadata.name }, ownerReferences: [{ kind: "Job", name: job.metadata.name, uid: job.metadata.uid ?? "" }] },
    status: { phase: "Succeeded", containerStatuses: [{ name: "c", state: { terminated: { exitCode: 0, message } } }] },
  };
}

function input(m: ManagedClusterModule, over: Partial<ProgressInput> & { jobs?: ObservedJob[] } = {}): ProgressInput {
  const mapping = mappingOf(m);
  const jobs = over.jobs ?? [];
  return {
    owner: ownerOf(m),
    mapping,
    imageDigest: undefined,
    intermediateDigest: undefined,
    rebuild: false,
    job: (n) => jobs.find((j) => j.metadata.name === n),
    pods: [],
    makeBuild: () => buildJob({ mcm: m, mapping, namespace: "kmm-hub", dockerfile: { key: "dockerfile", text: "FROM x\nARG X\n" }, secretVersions: { key: "1", cert: "1" }, relatedImageBuild: "k:1" }),
    makeSign: (d) => signJob({ mcm: m, mapping, namespace: "kmm-hub", secretVersions: { key: "1", cert: "1" }, relatedImageSign: "s:1", ...(d ? { unsignedDigest: d } : {}) }),
    othersWant: () => false,
    now: NOW,
    gcDelayMs: 0,
    ...over,
  };
}

describe("progress", () => {
  const a = mcm("alpha");
  const buildOf = (m: ManagedClusterModule) => input(m).makeBuild().job;
  const signOf = (m: ManagedClusterModule, d = D_UNSIGNED) => input(m).makeSign(d).job;

  it("creates the build when the image is missing, then waits for it", () => {
    const p = progress(input(a));
    expect(p.actions).toEqual([{ kind: "create", type: "build", job: buildOf(a) }]);
    expect(p.state).toMatchObject({ state: "Building", job: jobNames(mappingOf(a)).build });
    expect(p.events.map((e) => e.reason)).toEqual(["BuildCreated"]);
    const running = progress(input(a, { jobs: [observedOf(buildOf(a), { active: 1 })] }));
    expect(running.actions).toEqual([]);
    expect(running.state.state).toBe("Building");
  });

  it("signs the build's digest, pins the sign Job's digest, then deletes both Jobs", () => {
    const b = observedOf(buildOf(a), done());
    const afterBuild = progress(input(a, { jobs: [b], pods: [podOf(b, D_UNSIGNED)] }));
    expect(afterBuild.actions).toEqual([{ kind: "create", type: "sign", job: signOf(a) }]);
    expect(afterBuild.state.state).toBe("Signing");
    const s = observedOf(signOf(a), done());
    const finished = progress(input(a, { jobs: [b, s], pods: [podOf(b, D_UNSIGNED), podOf(s, D_SIGNED)] }));
    expect(finished.state).toEqual({ state: "Ready", digest: D_SIGNED });
    expect(finished.finished).toBe(true);
    expect(finished.actions.map((x) => x.kind === "delete" && [x.name, x.why])).toEqual([
      [b.metadata.name, "gc"],
      [s.metadata.name, "gc"],
    ]);
    expect(finished.events.map((e) => e.reason).sort()).toEqual(["BuildSucceeded", "SignSucceeded"]);
  });

  it("keeps finished Jobs until job.gcDelay is up, and asks to look again then", () => {
    const b = observedOf(buildOf(mcm("alpha", false)), done("2026-11-30T11:59:50Z"));
    const p = progress(input(mcm("alpha", false), { jobs: [b], pods: [podOf(b, D_UNSIGNED)], gcDelayMs: 30_000 }));
    expect(p.state).toEqual({ state: "Ready", digest: D_UNSIGNED });
    expect(p.actions).toEqual([]);
    expect(p.requeueAfterMs).toBe(20_000);
  });

  it("skips the build when the unsigned intermediate exists, and does nothing when the image exists", () => {
    const p = progress(input(a, { intermediateDigest: D_UNSIGNED }));
    expect(p.actions).toEqual([{ kind: "create", type: "sign", job: signOf(a) }]);
    const ready = progress(input(a, { imageDigest: D_SIGNED }));
    expect(ready).toMatchObject({ state: { state: "Ready", digest: undefined }, actions: [] });
    // Seen in the registry before the sign Job read Complete: its success is still an Event.
    const s = observedOf(signOf(a), done());
    expect(progress(input(a, { imageDigest: D_SIGNED, jobs: [s] })).events.map((e) => e.reason)).toEqual(["SignSucceeded"]);
  });

  it("builds again on a rebuild trigger even where the image and intermediate exist", () => {
    const p = progress(input(a, { imageDigest: D_OLD, intermediateDigest: D_OLD, rebuild: true }));
    expect(p.actions.map((x) => x.kind)).toEqual(["create"]);
    expect(p.state.state).toBe("Building");
  });

  it("does not build again in a rebuild whose build finished and whose Job is gone: signs the rebuilt intermediate", () => {
    const p = progress(input(a, { imageDigest: D_OLD, intermediateDigest: D_UNSIGNED, rebuild: true, rebuiltIntermediate: true }));
    expect(p.actions).toEqual([{ kind: "create", type: "sign", job: signOf(a) }]);
    const b = observedOf(buildOf(a), done());
    expect(progress(input(a, { jobs: [b], pods: [podOf(b, D_UNSIGNED)], rebuild: true })).built).toBe(true);
  });

  it("keeps a failed build, does not retry, and says so", () => {
    const b = observedOf(buildOf(a), failed);
    const p = progress(input(a, { jobs: [b] }));
    expect(p.actions).toEqual([]);
    expect(p.state).toMatchObject({ state: "Failed", reason: "BuildFailed", job: b.metadata.name });
    expect(p.events).toEqual([expect.objectContaining({ type: "Warning", reason: "BuildFailed" })]);
    expect(p.state.state === "Failed" && p.state.message).toMatch(/not retried until an administrator deletes it/);
  });

  it("adds a second MCM with the same inputs to the Job's owners instead of a second Job", () => {
    const beta = mcm("beta");
    const b = observedOf(buildOf(a), { active: 1 });
    expect(b.metadata.name).toBe(buildOf(beta).metadata.name);
    const p = progress(input(beta, { jobs: [b] }));
    expect(p.actions).toEqual([
      {
        kind: "adopt",
        name: b.metadata.name,
        resourceVersion: "7",
        ownerReferences: [
          { apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: "alpha", uid: "uid-alpha", controller: true, blockOwnerDeletion: true },
          { apiVersion: "hub.kmm.sigs.x-k8s.io/v1beta1", kind: "ManagedClusterModule", name: "beta", uid: "uid-beta", blockOwnerDeletion: true },
        ],
      },
    ]);
  });

  it("replaces a Job whose inputs changed, unless another live MCM wants it as it is", () => {
    const changed = mcm("alpha", true, "2");
    const b = observedOf(buildOf(a), { active: 1 });
    const p = progress(input(changed, { jobs: [b] }));
    expect(p.actions).toEqual([{ kind: "delete", name: b.metadata.name, uid: b.metadata.uid, why: "replace" }]);
    const conflict = progress(input(changed, { jobs: [b], othersWant: () => true }));
    expect(conflict.actions).toEqual([]);
    expect(conflict.state).toMatchObject({ state: "Failed", reason: "BuildConflict" });
  });

  it("turns a build that cannot be described into the kernel's failure", () => {
    const p = progress(input(a, { makeBuild: () => { throw new BuildInputError("ConfigMap kmm-hub/df named by build.dockerfileConfigMap does not exist"); } }));
    expect(p.state).toMatchObject({ state: "Failed", reason: "BuildInputInvalid" });
    expect(p.actions).toEqual([]);
  });
});
