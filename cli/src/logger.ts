import { pino, type Logger } from 'pino';

/** The one logger of a `yulan` process; services get children of it. Pretty output on a
 * terminal, JSON lines otherwise (for log shippers). */
export function createLogger(env: NodeJS.ProcessEnv): Logger {
  const level = env.YULAN_LOG_LEVEL ?? 'info';
  const pretty = env.YULAN_LOG_FORMAT === 'pretty' || (env.YULAN_LOG_FORMAT !== 'json' && process.stdout.isTTY);
  if (pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino({ level });
}
