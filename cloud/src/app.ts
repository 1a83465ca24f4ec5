import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Logger } from 'pino';
import { CloudError, CloudErrorCode, HttpError } from './errors.js';
import type { DeviceRepository } from './repositories/device-repository.js';
import type { EdgeClient } from './edge-client.js';
import type { ControlPublisher } from './mqtt-link.js';
import type { PresenceStats } from './presence-listener.js';
import type { MqttTransport } from './mqtt-link.js';
import type { PeopleModule } from './care/people/index.js';
import type { AlertsModule } from './care/alerts/index.js';
import type { FirmwareModule } from './firmware/index.js';
import type { ControlModule } from './control/index.js';
import type { VerifyQueue } from './verify-queue.js';
import type { StaOptions } from './sta/routes.js';
import type { ComplaintsService } from './open/complaints-service.js';
import type { IntegrationsModule } from './integrations/index.js';
import type { DeviceCertsModule } from './device-certs/index.js';
import type { OcppModule } from './ocpp/index.js';
import type { ClaimsModule } from './claims/index.js';
import type { SecurityModule } from './security/index.js';
import type { UpdatePolicy } from './firmware/update-policy.js';
import plugins from './plugins/index.js';
import routes from './routes/index.js';
import { formatSchemaErrors } from './schema-errors.js';

export interface RateLimitOptions {
  /** requests per window per client IP across the API */
  max: number;
  windowMs: number;
  /** failed admin/broker authentications per window per IP before 429 */
  authFailures: number;
}

/** Everything the HTTP app needs; process concerns (DB file, MQTT session) stay in start. */
export interface AppOptions {
  devices: DeviceRepository;
  edge: EdgeClient;
  control: ControlPublisher;
  /** SHA-256 of the admin token (see auth-tokens.ts) */
  adminTokenDigest: Buffer;
  brokerToken: string;
  /** field gateways' bearer, accepted at device-auth only (docs/ocpp.md) */
  gatewayToken?: string;
  /** the edge's shared token, for the edge → cloud internal endpoints (alerts, care rules) */
  edgeToken?: string;
  /** folder of the static page; null disables it */
  dashboardDir?: string | null;
  rateLimit?: Partial<RateLimitOptions>;
  presenceStats?: () => PresenceStats;
  /** admission of device-auth hashing (verify-queue.ts); default: 4 at once */
  deviceAuthQueue?: VerifyQueue;
  /** people and access (care/people): sessions, residents, audit; routes only when set */
  people?: PeopleModule;
  /** alert lifecycle, escalation ladder and notifications (care/alerts); routes only when set */
  alerts?: AlertsModule;
  /** device twins and commands (docs/control.md §1); routes only when set */
  deviceControl?: ControlModule;
  /** signed firmware, downloads and staged campaigns (docs/control.md §2); routes only when set */
  firmware?: FirmwareModule;
  /** public read-only OGC SensorThings API for env monitors (/sta/v1.1); routes only when set */
  sta?: StaOptions;
  /** the cloud's MQTT link, for the console's live stream (console/live-routes.ts); no stream without it */
  mqtt?: MqttTransport;
  /** one-tap pollution complaints (/open/v1/complaints, /api/v1/complaints); with sta only */
  complaints?: ComplaintsService;
  /** MQTT accounts for outside tools (docs/integrations.md); routes only when set */
  integrations?: IntegrationsModule;
  /** the broker's HTTP base URL (YULAN_BROKER_ADMIN_URL), for the console's broker view */
  brokerAdminUrl?: string;
  /** Device certificates (mutual TLS, docs/security.md); routes only when set */
  deviceCerts?: DeviceCertsModule;
  /** OCPP id tags (docs/ocpp.md §1.4); routes only when set */
  ocpp?: OcppModule;
  /** Provisioning by claim (docs/security.md); routes only when set */
  claims?: ClaimsModule;
  /** Security monitor and its alerts (docs/security.md); routes and refusal counting only when set */
  security?: SecurityModule;
  /** minimum supported firmware per kind (docs/security.md, "Update required"); routes only when set */
  updatePolicy?: UpdatePolicy;
  /** HTTP client for the other services (https:// with YULAN_TLS_CA_FILE); global fetch when unset */
  serviceFetch?: typeof fetch;
}

/** Stable mapping from our error codes to HTTP statuses, so handlers just throw. */
const STATUS_BY_CODE: Partial<Record<CloudErrorCode, number>> = {
  [CloudErrorCode.Validation]: 400,
  [CloudErrorCode.EdgeBadRequest]: 400,
  [CloudErrorCode.Unauthorized]: 401,
  [CloudErrorCode.Forbidden]: 403,
  [CloudErrorCode.DeviceDisabled]: 403,
  [CloudErrorCode.NotFound]: 404,
  [CloudErrorCode.Duplicate]: 409,
  [CloudErrorCode.Conflict]: 409,
  [CloudErrorCode.TooManyRequests]: 429,
  [CloudErrorCode.EdgeUnreachable]: 502,
  [CloudErrorCode.EdgeBadResponse]: 502,
  [CloudErrorCode.BrokerUnreachable]: 502,
};
const EXPOSED_5XX = new Set<string>([CloudErrorCode.EdgeUnreachable, CloudErrorCode.EdgeBadResponse, CloudErrorCode.BrokerUnreachable]);

const REASON: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict',
  413: 'Payload Too Large', 415: 'Unsupported Media Type', 429: 'Too Many Requests',
  500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
};

/** The app as a plugin: plugins first (decorators, docs, auth), then routes. */
const app: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  // The one error handler: 4xx say what is wrong; 5xx are logged and stay opaque unless
  // the message is one we wrote for the client (edge unreachable).
  fastify.setErrorHandler((err: FastifyError | CloudError, request, reply) => {
    let status: number;
    let code: string;
    let expose: boolean;
    if (err instanceof HttpError) {
      status = err.statusCode;
      code = err.code;
      expose = err.expose;
    } else if (err instanceof CloudError) {
      status = STATUS_BY_CODE[err.code] ?? 500;
      code = err.code;
      expose = status < 500 || EXPOSED_5XX.has(err.code);
    } else {
      const fe = err as FastifyError;
      status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 600 ? fe.statusCode : 500;
      code = fe.validation ? CloudErrorCode.Validation : status === 429 ? CloudErrorCode.TooManyRequests : (fe.code ?? CloudErrorCode.Internal);
      expose = status < 500;
    }
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code, message: err.message }, 'request rejected');
    if (!expose) code = CloudErrorCode.Internal;
    return reply.status(status).send({
      statusCode: status,
      error: REASON[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'),
      message: expose ? err.message : 'internal error; see the server log',
      code,
    });
  });
  fastify.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      statusCode: 404,
      error: 'Not Found',
      message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}`,
      code: CloudErrorCode.NotFound,
    }),
  );
  // Action routes (disable/enable) take no body; tolerate clients that still send
  // `content-type: application/json` with an empty body. Otherwise Fastify's own parser,
  // which rejects __proto__/constructor poisoning.
  const jsonParser = fastify.getDefaultJsonParser('error', 'error');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === "") return done(null, undefined);
    jsonParser(request, text, done);
  });
  // Care-page streams end with the session they were opened with (docs/care.md §5).
  if (opts.people && opts.alerts) opts.alerts.hub.useSessions(opts.people.sessions);
  await fastify.register(plugins, opts);
  await fastify.register(routes, opts);
};
export default app;

/** The app factory: a ready-to-listen Fastify instance logging through `logger`. */
export async function buildApp(opts: AppOptions & { logger: Logger; trustProxy?: string[] }): Promise<FastifyInstance> {
  const { logger, trustProxy, ...appOpts } = opts;
  const fastify = Fastify({
    loggerInstance: logger,
    // request.ip keys every per-address limit; only named proxies may set it (config.ts).
    trustProxy: trustProxy ?? false,
    // On shutdown, close keep-alive connections too (the broker's and the simulators'
    // HTTP clients keep theirs open), or close() waits for their idle timeout.
    forceCloseConnections: true,
    // Bodies here are small JSON documents; a tight limit caps abuse cheaply.
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { allErrors: false } },
    // Fastify logs two lines per request at info; with `yulan up` they buried the banner
    // (admin token, demo logins) under hundreds of lines. One line at debug instead.
    logController: new LogController({ disableRequestLogging: true }),
    schemaErrorFormatter: formatSchemaErrors,
  }).withTypeProvider<TypeBoxTypeProvider>();
  fastify.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request completed');
  });
  await fastify.register(app, appOpts);
  await fastify.ready();
  return fastify as unknown as FastifyInstance;
}
