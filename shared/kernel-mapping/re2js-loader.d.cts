// Typed as the ES module regexp.ts takes its types from: the same code as the CommonJS build required here.
import type * as RE2JSModule from "re2js" with { "resolution-mode": "import" };

/** The re2js package, evaluated on the first call (see re2js-loader.cjs). */
export declare function loadRE2JS(): typeof RE2JSModule;
