import { generate } from 'selfsigned';

export interface LoopbackCertificate {
  readonly keyPem: string;
  readonly certPem: string;
}

/**
 * A throw-away self-signed certificate for the served BMCs, made at start: valid for 127.0.0.1, ::1 and
 * localhost, one day. Clients either trust `certPem` (it is its own CA) or skip verification, as fence agents
 * do with `ssl_insecure=1`.
 */
export async function loopbackCertificate(): Promise<LoopbackCertificate> {
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(now.getTime() - 60_000),
    notAfterDate: new Date(now.getTime() + 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { keyPem: pems.private, certPem: pems.cert };
}
