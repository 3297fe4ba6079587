import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Paths redacted from every log line. Secret values must never reach a log: anything carrying
 * them (env of a machine, secret maps, tokens, auth headers) is listed here.
 */
const redactPaths = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'secrets',
  '*.secrets',
  'config.env',
  '*.config.env',
];

export interface LogOptions {
  level?: string;
  /** Where lines go; defaults to stderr so that stdout stays clean for CLI output. */
  destination?: NodeJS.WritableStream;
}

/** A JSON logger for one component; `component` is on every line. */
export function createLogger(component: string, options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.ALOFT_LOG_LEVEL ?? 'info';
  const destination = options.destination ?? pino.destination(2);
  return pino({ level, base: { component }, redact: { paths: redactPaths, censor: '[redacted]' } }, destination);
}

/** A logger that drops everything, for tests and quiet embedding. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
