import { CloudApi } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, parse, parseArgs, type CommandIo } from './io.js';
import { printJson, table } from './output.js';

export const COMPLAINT_USAGE = `usage: yulan complaint list [--status open|closed] [--site ID]
       yulan complaint show <id> [--contact --reason TEXT]
       yulan complaint close <id> --resolution TEXT
Residents' one-tap pollution complaints. --contact reveals the reporter's contact (the read
is audited with --reason); closing erases it and shows the resolution to the reporter.
Each takes --json. Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface ComplaintView {
  id: string; site: string; kind: string; createdAt: string; status: string; closedAt: string | null; resolution: string | null;
  hasContact: boolean; contact?: string; evidence: { at: string; monitors: Record<string, { ts: string; fields: Record<string, number> } | null>; error?: string };
}

const ID = /^c-[a-z0-9]{1,12}-[0-9a-f]{8}$/;

export async function complaintCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, status: { type: 'string' }, site: { type: 'string' }, contact: { type: 'boolean' },
      reason: { type: 'string' }, resolution: { type: 'string' },
    },
  }), COMPLAINT_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${COMPLAINT_USAGE}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  const oneId = (): string => {
    if (rest.length !== 1 || !ID.test(rest[0] as string)) throw usageError(`yulan complaint ${action} needs one complaint id (c-…)`, COMPLAINT_USAGE);
    return rest[0] as string;
  };
  switch (action) {
    case 'list': {
      if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, COMPLAINT_USAGE);
      if (values.status !== undefined && values.status !== 'open' && values.status !== 'closed') throw usageError('--status is open or closed', COMPLAINT_USAGE);
      const r = await CloudApi.fromEnv(io.env).request<{ items: ComplaintView[] }>('/api/v1/complaints', { query: { status: values.status, site: values.site, limit: '500' } });
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      table(io.stdout, ['id', 'site', 'kind', 'reported', 'status', 'contact'],
        r.body.items.map((c) => [c.id, c.site, c.kind, c.createdAt, c.status, c.hasContact ? 'yes' : '-']));
      return ExitCode.Ok;
    }
    case 'show': {
      const id = oneId();
      if (values.contact && !values.reason) throw usageError('--contact needs --reason (it is written to the audit log)', COMPLAINT_USAGE);
      const query = values.contact ? { contact: 'true', reason: values.reason } : {};
      const r = await CloudApi.fromEnv(io.env).request<ComplaintView>(`/api/v1/complaints/${id}`, { query });
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      const c = r.body;
      io.stdout.write(`${c.id}  ${c.kind} at ${c.site}, reported ${c.createdAt}, ${c.status}${c.closedAt ? ` ${c.closedAt}: ${c.resolution ?? ''}` : ''}\n`);
      if (c.contact !== undefined) io.stdout.write(`contact: ${c.contact}\n`);
      else if (c.hasContact) io.stdout.write('contact: on file (yulan complaint show ID --contact --reason …)\n');
      io.stdout.write(`evidence at ${c.evidence.at}${c.evidence.error ? ` (${c.evidence.error})` : ''}:\n`);
      table(io.stdout, ['monitor', 'reading at', 'values'], Object.entries(c.evidence.monitors).map(([m, v]) => [
        m, v ? v.ts : '-', v ? Object.entries(v.fields).map(([k, x]) => `${k}=${x}`).join(' ') : 'no reading',
      ]));
      return ExitCode.Ok;
    }
    case 'close': {
      const id = oneId();
      if (!values.resolution) throw usageError('--resolution is required (the reporter sees it)', COMPLAINT_USAGE);
      const r = await CloudApi.fromEnv(io.env).request<ComplaintView>(`/api/v1/complaints/${id}/close`, { body: { resolution: values.resolution } });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`${r.body.id}: closed (${r.body.resolution ?? ''}); contact erased\n`);
      return ExitCode.Ok;
    }
    default:
      throw usageError(`unknown action "${action}"`, COMPLAINT_USAGE);
  }
}
