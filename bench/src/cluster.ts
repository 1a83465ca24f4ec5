// The clustered broker (YULAN_BROKER_WORKERS processes sharing the port, state in Redis)
// for scenarios run with --broker-workers N: a throw-away redis-server from the testkit.
import { launchRedis } from '@yulan/testkit';

export async function startRedisFor(workers: number): Promise<{ env: NodeJS.ProcessEnv; stop(): Promise<void> }> {
  const redis = await launchRedis();
  return {
    env: { YULAN_BROKER_WORKERS: String(workers), YULAN_BROKER_REDIS_URL: redis.url },
    stop: () => redis.dispose(),
  };
}
