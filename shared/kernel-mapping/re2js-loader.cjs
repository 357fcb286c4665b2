// CommonJS on purpose: a require() here runs re2js's module on the first call, both under Node (the
// sources) and in the rolldown bundle (which wraps a required module to run on demand), so a process
// that never sees a regexp mapping never evaluates the engine. An ES import would run it at start.
"use strict";
exports.loadRE2JS = () => require("re2js");
