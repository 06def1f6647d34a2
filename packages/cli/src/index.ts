// Public API of @meskit/cli. Everything else is internal and may change without notice.
export { DEFAULTS } from './defaults.js';
export { CliError } from './errors.js';
export type { CliErrorCode } from './errors.js';
export { EXIT_CODES, EXIT_CODES_HELP } from './exit-codes.js';
export type { ExitCode } from './exit-codes.js';
export { cliVersion, createProgram, runCli } from './program.js';
export type { CliContext, OutputStream, RegisterCommand, RunCliOptions } from './program.js';
export {
  builtinCommands,
  registerCacheCommand,
  registerCacheProxyCommand,
  registerDbCommand,
  registerDoctorCommand,
  registerMqCommand,
  registerPriceCommand,
  registerPricingCommand,
} from './commands/index.js';
export { CheckRegistry, runChecks } from './doctor/registry.js';
export { defaultCheckRegistry, registerCheck } from './doctor/default-registry.js';
export { DOCTOR_SETTINGS, resolveDoctorConfig } from './doctor/config.js';
export type { DoctorFlags } from './doctor/config.js';
export { describeError } from './doctor/describe-error.js';
export { formatReportJson, formatReportText } from './doctor/format.js';
export type { FormatTextOptions } from './doctor/format.js';
export {
  builtinChecks,
  cacheProxyCheck,
  dbRouterCheck,
  lokiCheck,
  mesCheck,
  mqCheck,
  otelCollectorCheck,
  otelMetricsCheck,
  postgresPrimaryCheck,
  postgresReplicaCheck,
  pricingCheck,
  rabbitmqCheck,
  redisCheck,
} from './doctor/checks/index.js';
export type {
  CheckContext,
  CheckOutcome,
  CheckResult,
  CheckStatus,
  DoctorCheck,
  DoctorConfig,
  DoctorReport,
} from './doctor/types.js';
