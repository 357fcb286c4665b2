// The controller runtime: what controller-runtime gives Go operators.
export { type Clock, FakeClock, realClock } from "./clock.ts";
export { applyBindAddressFlags, BIND_ADDRESS_FLAGS, ConfigError, type Edition, type OperatorConfig, defaultResourceID, loadConfig, parseConfig } from "./config.ts";
export { Controller, type ControllerOptions, type Reconcile, type ReconcileResult, TerminalError, isTerminal } from "./controller.ts";
export { DurationError, formatGoDuration, parseGoDuration } from "./duration.ts";
export { exitAfterFlush, flushed, guardOutput, systemMessage } from "./exit.ts";
export { ApiServerProbe, type ApiServerProbeOptions } from "./apiserver-probe.ts";
export { DEFAULT_MAX_BACKOFF_MS, DEFAULT_UNREADY_AFTER_FAILING_MS, Informer, type InformerOptions, type ObjectWithMeta, type ResourceRef, resourcePath } from "./informer.ts";
export { LeaderElectionConfigError, LeaderElector, type LeaderElectorOptions } from "./leader-election.ts";
export { type Logger, REDACTED, controllerLogger, createLogger, redact } from "./logger.ts";
export { LeaderElectionLostError, Manager, ManagerConfigError, type ManagerOptions } from "./manager.ts";
export { CertificateError, kubeMetricsAuthorizer, selfSignedCertificate } from "./metrics-auth.ts";
export { runtimeMetrics } from "./metrics.ts";
export { BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, type RateLimiter, defaultControllerRateLimiter } from "./rate-limiter.ts";
export { BindAddressError, type Check, CheckRegistry, type MetricsAuthorizer, parseBindAddress, serve } from "./server.ts";
export { WorkQueue, type WorkQueueOptions } from "./workqueue.ts";
