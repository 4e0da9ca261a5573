import test from 'ava';
import { bearerOf, parseTokenList, sha256, StaticTokenAuthenticator, staticAuthenticator } from '../../../src/api/auth';
import { allows } from '../../../src/api/route';
import { DEFAULT_CONFIG } from '../../../src/config/config';
import { InputError } from '../../../src/domain';

test('RESURRECT_API_TOKENS: name:role:token, comma-separated; the token may hold colons', (t) => {
  t.deepEqual(parseTokenList(' ci:viewer:abc , ops:operator:x:y:z,'), [
    { name: 'ci', role: 'viewer', token: 'abc' },
    { name: 'ops', role: 'operator', token: 'x:y:z' },
  ]);
  t.deepEqual(parseTokenList(undefined), []);
  t.deepEqual(parseTokenList('  '), []);
});

test('RESURRECT_API_TOKENS: a bad entry is refused by position, without its token', (t) => {
  for (const [value, pattern] of [['a:viewer', /RESURRECT_API_TOKENS\[0\]: expected name:role:token/], ['ok:viewer:t,b:root:s3cr3t', /RESURRECT_API_TOKENS\[1\] \(b\): role must be one of viewer, operator, admin/], [':admin:s3cr3t', /name and token must not be empty/]] as const) {
    const error = t.throws(() => parseTokenList(value), { instanceOf: InputError });
    t.regex(error!.message, pattern);
    t.false(error!.message.includes('s3cr3t'));
    t.is(error!.code, 'RSR_CONFIG_INVALID');
  }
});

test('configured tokens: token or sha256 (64 hex digits), not both, not neither', (t) => {
  const hex = sha256('t').toString('hex');
  t.throws(() => new StaticTokenAuthenticator([{ name: 'x', role: 'viewer', token: 't', sha256: hex }]), { message: /give token or sha256, not both/ });
  t.throws(() => new StaticTokenAuthenticator([{ name: 'x', role: 'viewer', sha256: 'abc' }]), { message: /sha256 must be 64 hex digits/ });
  t.throws(() => new StaticTokenAuthenticator([{ name: 'x', role: 'viewer' }]), { message: /give token or sha256/ });
  t.is(new StaticTokenAuthenticator([{ name: 'x', role: 'viewer', sha256: hex }]).authenticate('t')?.name, 'x');
});

test('staticAuthenticator: the configuration and the environment together', (t) => {
  const auth = staticAuthenticator({ ...DEFAULT_CONFIG.api, tokens: [{ name: 'a', role: 'admin', token: 'one' }] }, { RESURRECT_API_TOKENS: 'b:viewer:two' });
  t.is(auth.size, 2);
  t.deepEqual(auth.authenticate('two'), { name: 'b', role: 'viewer' });
});

test('bearerOf: the token of a Bearer header only', (t) => {
  t.is(bearerOf('Bearer abc'), 'abc');
  t.is(bearerOf('bearer   abc '), 'abc');
  t.is(bearerOf('Basic abc'), undefined);
  t.is(bearerOf('Bearer'), undefined);
  t.is(bearerOf('Bearer a b'), undefined);
  t.is(bearerOf(undefined), undefined);
});

test('roles are ordered viewer < operator < admin; public needs none', (t) => {
  t.true(allows(undefined, 'public'));
  t.false(allows(undefined, 'viewer'));
  t.true(allows('viewer', 'viewer'));
  t.false(allows('viewer', 'operator'));
  t.true(allows('admin', 'operator'));
  t.false(allows('operator', 'admin'));
});
