export * from "./conditions.ts";
export * from "./module.ts";
export * from "./managedclustermodule.ts";
