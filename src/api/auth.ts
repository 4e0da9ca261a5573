/**
 * Who is calling. The server asks an `Authenticator` to turn a bearer token into a `Principal` (name and
 * role); the static one below checks tokens from the configuration and the environment. Keystone validation
 * can come later as another implementation of the same interface (POST the token to Keystone's
 * `/v3/auth/tokens` with `X-Subject-Token`, map its roles), and the server does not change.
 *
 * The static authenticator keeps only SHA-256 digests: a token given in clear (`token:` in the file, or the
 * environment) is hashed when the server starts and the text is dropped. A presented token is hashed and
 * compared with every configured digest with `crypto.timingSafeEqual` (equal-length digests, no early exit),
 * so neither the match nor its position leaks through timing. Tokens are never logged or echoed; errors
 * about a bad entry name the entry, never its value.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config';
import { InputError } from '../domain';
import type { Principal, Role } from './route';
import { ROLES } from './route';

export interface Authenticator {
  /** The principal a bearer token stands for; undefined for an unknown token. */
  authenticate(bearer: string): Promise<Principal | undefined> | Principal | undefined;
}

/** A token as configured: `token` (clear) or `sha256` (lowercase or uppercase hex of the token's SHA-256). */
export type TokenEntry = Config['api']['tokens'][number];

interface Known {
  readonly principal: Principal;
  readonly digest: Buffer;
}

const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;

export const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The environment variable with extra tokens: `name:role:token[,name:role:token…]`. */
export const TOKENS_ENV = 'RESURRECT_API_TOKENS';

/**
 * Parses `RESURRECT_API_TOKENS`. The token is everything after the second colon (it may contain colons);
 * spaces around entries are ignored. A bad entry is refused by position, without repeating its token.
 */
export function parseTokenList(value: string | undefined): TokenEntry[] {
  if (!value || value.trim() === '') return [];
  return value.split(",").map((raw) => raw.trim()).filter((raw) => raw !== '').map((entry, i) => {
    const first = entry.indexOf(':');
    const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
    const where = `${TOKENS_ENV}[${i}]`;
    if (second < 0) throw new InputError(`${where}: expected name:role:token`, [{ path: where, message: 'expected name:role:token' }], 'RSR_CONFIG_INVALID');
    const name = entry.slice(0, first);
    const role = entry.slice(first + 1, second);
    const token = entry.slice(second + 1);
    if (!isRole(role)) throw new InputError(`${where} (${name}): role must be one of ${ROLES.join(', ')}`, [{ path: where, message: 'unknown role' }], 'RSR_CONFIG_INVALID');
    if (name === '' || token === '') throw new InputError(`${where}: name and token must not be empty`, [{ path: where, message: 'empty name or token' }], 'RSR_CONFIG_INVALID');
    return { name, role, token };
  });
}

const isRole = (value: string): value is Role => (ROLES as readonly string[]).includes(value);

export interface StaticAuthenticatorOptions {
  /** The comparison (tests count its calls); defaults to `crypto.timingSafeEqual`. */
  readonly compare?: (a: Buffer, b: Buffer) => boolean;
}

/** Tokens from `api.tokens` and `RESURRECT_API_TOKENS`, held as SHA-256 digests only. */
export class StaticTokenAuthenticator implements Authenticator {
  readonly #known: readonly Known[];
  readonly #compare: (a: Buffer, b: Buffer) => boolean;

  constructor(entries: readonly TokenEntry[], options: StaticAuthenticatorOptions = {}) {
    this.#compare = options.compare ?? timingSafeEqual;
    this.#known = entries.map((entry, i) => ({ principal: { name: entry.name, role: entry.role }, digest: digestOf(entry, i) }));
  }

  /** How many tokens are configured (the server warns when there are none). */
  get size(): number {
    return this.#known.length;
  }

  authenticate(bearer: string): Principal | undefined {
    const digest = sha256(bearer);
    let found: Principal | undefined;
    // Every digest is compared, match or not: the time taken does not depend on which one (if any) matched.
    for (const known of this.#known) {
      if (this.#compare(digest, known.digest) && found === undefined) found = known.principal;
    }
    return found;
  }
}

function digestOf(entry: TokenEntry, i: number): Buffer {
  const where = `api.tokens[${i}] (${entry.name})`;
  if (entry.token !== undefined && entry.sha256 !== undefined) {
    throw new InputError(`${where}: give token or sha256, not both`, [{ path: `api.tokens[${i}]`, message: 'both token and sha256' }], 'RSR_CONFIG_INVALID');
  }
  if (entry.sha256 !== undefined) {
    if (!HEX_DIGEST.test(entry.sha256)) throw new InputError(`${where}: sha256 must be 64 hex digits`, [{ path: `api.tokens[${i}].sha256`, message: 'not a SHA-256 hex digest' }], 'RSR_CONFIG_INVALID');
    return Buffer.from(entry.sha256, 'hex');
  }
  if (entry.token === undefined || entry.token === '') {
    throw new InputError(`${where}: give token or sha256`, [{ path: `api.tokens[${i}]`, message: 'no token' }], 'RSR_CONFIG_INVALID');
  }
  return sha256(entry.token);
}

/** The configured tokens plus the environment's, as one authenticator. */
export function staticAuthenticator(api: Config['api'], env: NodeJS.ProcessEnv = process.env, options: StaticAuthenticatorOptions = {}): StaticTokenAuthenticator {
  return new StaticTokenAuthenticator([...api.tokens, ...parseTokenList(env[TOKENS_ENV])], options);
}

/** The token of an `Authorization: Bearer <token>` header; undefined when absent or another scheme. */
export function bearerOf(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  return match?.[1];
}
