import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

export class ConfigFileError extends Error {
  readonly code = 'E_CONFIG_FILE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigFileError';
  }
}

/**
 * The optional configuration file: `YULAN_CONFIG_FILE=/etc/yulan/yulan.env` (or
 * `--config FILE`), in `.env` syntax (`KEY=value`, `#` comments, quotes). Its values fill in
 * what the environment does not set — the environment always wins, so one setting can be
 * overridden for one run. Only `YULAN_*` keys are accepted: a typo fails loudly instead of
 * being silently ignored. Each service then validates the merged result as usual.
 */
export function withConfigFile(env: NodeJS.ProcessEnv, file = env.YULAN_CONFIG_FILE): NodeJS.ProcessEnv {
  if (!file) return env;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigFileError(`cannot read configuration file ${file}: ${(cause as Error).message}`, { cause });
  }
  const values = parseEnv(text) as Record<string, string>;
  const foreign = Object.keys(values).filter((k) => !k.startsWith('YULAN_'));
  if (foreign.length > 0) {
    throw new ConfigFileError(`${file}: only YULAN_* settings belong here, found ${foreign.join(', ')}`);
  }
  return { ...values, ...env, YULAN_CONFIG_FILE: file };
}

/** Removes `--config FILE` / `--config=FILE` from argv, returning the file if given. */
export function takeConfigFlag(argv: string[]): { argv: string[]; file?: string } {
  const out: string[] = [];
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config') {
      file = argv[++i];
      if (!file) throw new ConfigFileError('--config needs a file');
    } else if (a.startsWith('--config=')) {
      file = a.slice('--config='.length);
    } else {
      out.push(a);
    }
  }
  return file === undefined ? { argv: out } : { argv: out, file };
}
