import type { Logger } from 'pino';

/** WGS 84 centres of the districts the simulator uses by default, so the public page and
 * SensorThings Locations show names and places on a fresh `yulan up`. */
const KNOWN: Record<string, { nameZh: string; nameEn: string; lat: number; lon: number }> = {
  xuhui: { nameZh: '徐汇区', nameEn: 'Xuhui', lat: 31.1885, lon: 121.4365 },
  pudong: { nameZh: '浦东新区', nameEn: 'Pudong', lat: 31.2215, lon: 121.5446 },
  jingan: { nameZh: '静安区', nameEn: "Jing'an", lat: 31.2286, lon: 121.4481 },
  huangpu: { nameZh: '黄浦区', nameEn: 'Huangpu', lat: 31.2317, lon: 121.4846 },
  minhang: { nameZh: '闵行区', nameEn: 'Minhang', lat: 31.1129, lon: 121.3816 },
};

/** Registers the simulated sites that are known above and not yet registered (409 = there). */
export async function seedDemoSites(cloud: { url: string; adminToken: string }, sites: readonly string[], logger: Logger): Promise<void> {
  for (const id of sites) {
    const s = KNOWN[id];
    if (!s) continue;
    try {
      const res = await fetch(`${cloud.url}/api/v1/sites`, {
        method: 'POST', headers: { authorization: `Bearer ${cloud.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ id, ...s }),
      });
      if (res.status !== 201 && res.status !== 200 && res.status !== 409) logger.warn({ site: id, status: res.status }, 'demo site not registered');
    } catch (err) {
      logger.warn({ err, site: id }, 'demo site not registered');
    }
  }
}
