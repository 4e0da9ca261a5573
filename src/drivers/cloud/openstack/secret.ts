import { inspect } from 'node:util';

const REDACTED = '[redacted]';

/**
 * A password, application credential secret or token. The value is held in a private field and only
 * `reveal()` hands it out (to build the one request body or header that needs it): JSON (pino, the audit),
 * `util.inspect`, string conversion and spreading all show `[redacted]`. The first defence is never logging
 * a secret; this one keeps an accidental `log.debug({ cloud })` harmless.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}
