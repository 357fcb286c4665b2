// npm run bench [-- name-filter]: runs every benchmark script in this folder, one at a time
// (they measure time and memory, so they must not share the machine with each other).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { exitAfterFlush, guardOutput } from "../shared/runtime/exit.ts";

guardOutput("bench");
const here = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? "";
const scripts = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.endsWith(".test.ts") && f.includes(filter))
  .sort();
if (scripts.length === 0) {
  console.error(`no benchmark matches '${filter}'`);
  await exitAfterFlush(2);
}
let failed = 0;
for (const s of scripts) {
  console.log(`\n=== ${s}`);
  const r = spawnSync(process.execPath, [join(here, s)], { stdio: "inherit" });
  if (r.status !== 0) {
    failed++;
    console.error(`${s} failed (exit ${String(r.status)})`);
  }
}
await exitAfterFlush(failed > 0 ? 1 : 0);
