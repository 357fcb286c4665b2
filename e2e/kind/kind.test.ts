// The kind fleet scripts cannot run here (no kind in CI): shellcheck checks them, and kind's own
// API types check the cluster configs (validate/main.go), so a typo fails here, not on a laptop.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const here = fileURLToPath(new URL(".", import.meta.url));
const goEnv = { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=readonly" };

async function validate(...files: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run("go", ["run", ".", ...files], { cwd: join(here, "validate"), env: goEnv });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, out: (err.stdout ?? "") + (err.stderr ?? "") };
  }
}

describe("e2e/kind", () => {
  const tmp = mkdtemp(join(tmpdir(), "kmm-kind-"));
  afterAll(async () => rm(await tmp, { recursive: true, force: true }));

  it("scripts pass shellcheck", async () => {
    const scripts = (await readdir(here)).filter((f) => f.endsWith(".sh")).map((f) => join(here, f));
    expect(scripts.length).toBeGreaterThanOrEqual(2);
    const r = await run("shellcheck", ["--severity=style", ...scripts]);
    expect(r.stdout).toBe("");
  });

  it("cluster configs are valid kind v1alpha4 Clusters", async () => {
    const r = await validate(join(here, "hub.yaml"), join(here, "spoke.yaml"));
    expect(r.out).toContain("hub.yaml: valid");
    expect(r.out).toContain("spoke.yaml: valid");
    expect(r.code).toBe(0);
  }, 180_000);

  it("the validator refuses a misspelt field and a node kind cannot create", async () => {
    const dir = await tmp;
    const typo = join(dir, "typo.yaml");
    await writeFile(typo, "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n    extraPortMapings: []\n");
    const role = join(dir, "role.yaml");
    await writeFile(role, "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: master\n");
    const r = await validate(typo, role);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/typo\.yaml: .*extraPortMapings/);
    expect(r.out).toMatch(/role\.yaml: nodes\[0\]: unknown role "master"/);
  }, 180_000);
});
