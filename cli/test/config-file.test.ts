import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigFileError, takeConfigFlag, withConfigFile } from '../src/config-file.js';
import { tempDir } from './support.js';

describe('optional configuration file', () => {
  const tmp = tempDir('yulan-conf-');
  afterAll(() => tmp.cleanup());

  it('fills in unset settings; the environment wins', () => {
    const file = join(tmp.dir, 'yulan.env');
    writeFileSync(file, '# pilot site\nYULAN_HTTP_PORT=9090\nYULAN_MQTT_PORT="11883"\nYULAN_DATA_DIR=/var/lib/yulan\n');
    const env = withConfigFile({ YULAN_HTTP_PORT: '8088', PATH: '/bin' }, file);
    expect(env).toMatchObject({ YULAN_HTTP_PORT: '8088', YULAN_MQTT_PORT: '11883', YULAN_DATA_DIR: '/var/lib/yulan', PATH: '/bin' });
  });

  it('is optional', () => {
    const env = { YULAN_HTTP_PORT: '1' };
    expect(withConfigFile(env)).toBe(env);
  });

  it('refuses keys that are not Yulan settings, naming them', () => {
    const file = join(tmp.dir, 'typo.env');
    writeFileSync(file, 'YULAN_HTTP_PORT=9090\nHTTP_PORT=1\nYLAN_MQTT_PORT=2\n');
    expect(() => withConfigFile({}, file)).toThrow(/HTTP_PORT, YLAN_MQTT_PORT/);
  });

  it('reports a missing file clearly', () => {
    expect(() => withConfigFile({}, join(tmp.dir, 'absent.env'))).toThrow(ConfigFileError);
    expect(() => withConfigFile({}, join(tmp.dir, 'absent.env'))).toThrow(/cannot read configuration file/);
  });

  it('takes --config from the command line in both spellings', () => {
    expect(takeConfigFlag(['up', '--config', 'a.env'])).toEqual({ argv: ['up'], file: 'a.env' });
    expect(takeConfigFlag(['--config=b.env', 'sim', '--count', '3'])).toEqual({ argv: ['sim', '--count', '3'], file: 'b.env' });
    expect(takeConfigFlag(['broker'])).toEqual({ argv: ['broker'] });
    expect(() => takeConfigFlag(['up', '--config'])).toThrow(/needs a file/);
  });
});
