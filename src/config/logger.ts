import pino from 'pino';
import type { Logger } from 'pino';

/**
 * Structured logs: JSON when the output is a file or a pipe (collectors read it), one readable line per event
 * in a terminal (the fields stay in the JSON; every message carries what a person watching needs).
 * Secrets are redacted by path as a second line of defence; the first is never logging them.
 */
export function createLogger(options: { level?: string; pretty?: boolean; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base = {
    level: options.level ?? 'info',
    name: options.name ?? 'resurrect',
    redact: { paths: ['*.password', '*.passwd', '*.token', '*.secret', 'headers.authorization', '*.headers.authorization'], censor: '[redacted]' },
  };
  if (pretty && !options.destination) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,name', hideObject: true } } });
  }
  return options.destination ? pino(base, options.destination as pino.DestinationStream) : pino(base);
}
