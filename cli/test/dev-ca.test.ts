import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createCa, ensureDevTls, issueCert } from '../src/dev-ca.js';
import { tempDir } from './support.js';

const DAY = 86_400_000;
const dirs: { cleanup(): void }[] = [];
afterEach(() => { for (const d of dirs.splice(0)) d.cleanup(); });

describe('development CA', () => {
  it('is made once, reused on the next start, and its server certificate names this machine', async () => {
    const t = tempDir('yulan-devca-');
    dirs.push(t);
    const first = await ensureDevTls(t.dir);
    expect(first.created).toBe('all');
    const ca = new X509Certificate(fs.readFileSync(first.caFile));
    const leaf = new X509Certificate(fs.readFileSync(first.certFile));
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    const again = await ensureDevTls(t.dir);
    expect(again.created).toBe('none');
    expect(fs.readFileSync(again.caFile, 'utf8')).toBe(fs.readFileSync(first.caFile, 'utf8'));
    expect(fs.readFileSync(again.certFile, 'utf8')).toBe(fs.readFileSync(first.certFile, 'utf8'));
  });

  it('renews a server certificate that expires within 30 days, keeping the CA', async () => {
    const t = tempDir('yulan-devca-renew-');
    dirs.push(t);
    const first = await ensureDevTls(t.dir);
    const caPem = fs.readFileSync(first.caFile, 'utf8');
    const soon = await issueCert({ certPem: caPem, keyPem: fs.readFileSync(first.caKeyFile, 'utf8') },
      { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], notAfter: new Date(Date.now() + 10 * DAY) });
    fs.writeFileSync(first.certFile, soon.certPem);
    fs.writeFileSync(first.keyFile, soon.keyPem);
    const renewed = await ensureDevTls(t.dir);
    expect(renewed.created).toBe('server');
    expect(fs.readFileSync(renewed.caFile, 'utf8')).toBe(caPem);
    const leaf = new X509Certificate(fs.readFileSync(renewed.certFile));
    expect(new Date(leaf.validTo).getTime()).toBeGreaterThan(Date.now() + 300 * DAY);
    expect(fs.statSync(renewed.keyFile).mode & 0o777).toBe(0o600);
  });

  it('issues client certificates whose subject names the device, and refuses names a subject cannot carry', async () => {
    const ca = await createCa('test CA');
    const c = await issueCert(ca, { commonName: 'charger-0042', usage: 'client' });
    const x = new X509Certificate(c.certPem);
    expect(x.subject).toBe('CN=charger-0042');
    expect(x.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    await expect(issueCert(ca, { commonName: 'evil,O=admin', usage: 'client' })).rejects.toThrow(/subject/);
  });
});
