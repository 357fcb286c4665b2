// Kernel mapping resolution: kernel version parsing, RE2 matching, ${…} substitution, merge rules.
export * from "./kernel-version.ts";
export * from "./regexp.ts";
export * from "./substitute.ts";
export * from "./kernel-mapping.ts";
