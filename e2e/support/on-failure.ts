// When an e2e test fails, say where the fleet's component logs are (apiserver, agents, kwok …).
import { afterEach, inject } from "vitest";

afterEach((ctx) => {
  if (ctx.task.result?.state !== "fail") return;
  const fleet = inject("fleet");
  console.error(`[fleet] "${ctx.task.name}" failed; component logs of the fleet: ${fleet.hub.logDir}`);
});
