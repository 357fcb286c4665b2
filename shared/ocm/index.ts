// Typed, validated models of the Open Cluster Management objects KMM-Hub reads and writes.
export * from "./model.ts";
export * from "./manifestwork.ts";
export * from "./managedcluster.ts";
export * from "./placement.ts";
export * from "./policy.ts";
