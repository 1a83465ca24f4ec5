import { Type, type Static } from 'typebox';
import { Id } from '../../schemas/common.js';

/** TypeBox schemas of the people routes: the OpenAPI contract of docs/care.md §5. */

export const RoleSchema = Type.Union(
  [Type.Literal('admin'), Type.Literal('operator'), Type.Literal('family'), Type.Literal('worker'), Type.Literal('callcentre')],
  { description: 'role' },
);
export const LocaleSchema = Type.Union([Type.Literal('zh-CN'), Type.Literal('en')]);
const Time = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Text = (max: number) => Type.String({ minLength: 1, maxLength: max });

/** Logins are e-mail addresses, phone numbers or short names; ASCII so that the
 * case-insensitive uniqueness (SQLite NOCASE) means what it says. */
export const Login = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._@+-]{2,99}$', description: 'login name (ASCII)' });
export const Password = Type.String({ minLength: 10, maxLength: 200, description: 'at least 10 characters' });
export const Clock = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: "'HH:MM', Asia/Shanghai local time" });
export const Phone = Type.String({ pattern: '^[+0-9][0-9 -]{2,31}$' });

export const ChannelInput = Type.Object(
  {
    type: Type.Union([Type.Literal('webhook'), Type.Literal('email'), Type.Literal('app')]),
    address: Type.String({ maxLength: 500, description: "https URL (webhook), mailbox (email), '' (app)" }),
    rotateSecret: Type.Optional(Type.Boolean({ description: 'webhook: issue a new signing secret' })),
  },
  { additionalProperties: false },
);
export type ChannelInput = Static<typeof ChannelInput>;
const ChannelView = Type.Object({
  type: Type.String(),
  address: Type.String(),
  hasSecret: Type.Boolean({ description: 'webhook: a signing secret is set (shown only when issued)' }),
});

export const PersonView = Type.Object({
  id: Type.String(),
  login: Type.String(),
  name: Type.String(),
  role: RoleSchema,
  locale: LocaleSchema,
  channels: Type.Array(ChannelView),
  phone: Nullable(Type.String()),
  disabled: Type.Boolean(),
  hasPassword: Type.Boolean(),
  createdAt: Time,
});
export const PersonParams = Type.Object({ id: Id });

export const CreatePersonBody = Type.Object(
  {
    id: Type.Optional(Id),
    login: Login,
    name: Text(200),
    role: RoleSchema,
    locale: Type.Optional(LocaleSchema),
    password: Type.Optional(Password),
    channels: Type.Optional(Type.Array(ChannelInput, { maxItems: 5 })),
    phone: Type.Optional(Phone),
  },
  { additionalProperties: false },
);
export const PatchPersonBody = Type.Object(
  {
    name: Type.Optional(Text(200)),
    role: Type.Optional(RoleSchema),
    locale: Type.Optional(LocaleSchema),
    password: Type.Optional(Password),
    channels: Type.Optional(Type.Array(ChannelInput, { maxItems: 5 })),
    phone: Type.Optional(Nullable(Phone)),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const PersonWithSecrets = Type.Object({
  person: PersonView,
  webhookSecrets: Type.Array(Type.Object({ address: Type.String(), secret: Type.String() }), {
    description: 'signing secrets issued by this request; shown only here',
  }),
});
export const PeopleQuery = Type.Object(
  {
    role: Type.Optional(RoleSchema),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
    offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
  },
  { additionalProperties: false },
);
export const PeopleList = Type.Object({ items: Type.Array(PersonView), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() });

export const CommunityView = Type.Object({ id: Type.String(), name: Type.String(), createdAt: Time });
export const CreateCommunityBody = Type.Object({ id: Type.Optional(Id), name: Text(200) }, { additionalProperties: false });
export const PatchCommunityBody = Type.Object({ name: Text(200) }, { additionalProperties: false });

const Ladder = Type.Object({
  cancelWindowSec: Type.Integer({ minimum: 0, maximum: 600 }),
  familyAckSec: Type.Integer({ minimum: 30, maximum: 3600 }),
  workerAckSec: Type.Integer({ minimum: 30, maximum: 3600 }),
  reminderSec: Type.Integer({ minimum: 30, maximum: 3600 }),
});
const LadderPatch = Type.Partial(Ladder, { additionalProperties: false });
const Routine = Type.Object(
  {
    wakeBy: Nullable(Clock),
    quietHours: Nullable(Type.Object({ from: Clock, to: Clock }, { additionalProperties: false })),
    inactivityHours: Type.Integer({ minimum: 1, maximum: 168 }),
  },
  { additionalProperties: false },
);
const RoutinePatch = Type.Partial(Routine, { additionalProperties: false });

export const ResidentView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    communityId: Type.String(),
    devices: Type.Array(Type.String()),
    access: Type.Union([Type.Literal('profile'), Type.Literal('health')], { description: "the caller's access" }),
    // Present only with health access: where and how someone lives is personal data too.
    address: Type.Optional(Nullable(Type.String())),
    phone: Type.Optional(Nullable(Type.String())),
    birthYear: Type.Optional(Nullable(Type.Integer())),
    notes: Type.Optional(Nullable(Type.String())),
    ladder: Type.Optional(Ladder),
    routine: Type.Optional(Routine),
    createdAt: Type.Optional(Time),
  },
  { description: 'a resident; fields beyond name, community and devices need health access' },
);
export const ResidentParams = Type.Object({ id: Id });
export const CreateResidentBody = Type.Object(
  {
    id: Type.Optional(Id),
    name: Text(200),
    communityId: Id,
    address: Type.Optional(Text(500)),
    phone: Type.Optional(Phone),
    birthYear: Type.Optional(Type.Integer({ minimum: 1890, maximum: 2100 })),
    notes: Type.Optional(Text(2000)),
    ladder: Type.Optional(LadderPatch),
    routine: Type.Optional(RoutinePatch),
  },
  { additionalProperties: false },
);
export const PatchResidentBody = Type.Object(
  {
    name: Type.Optional(Text(200)),
    communityId: Type.Optional(Id),
    address: Type.Optional(Nullable(Text(500))),
    phone: Type.Optional(Nullable(Phone)),
    birthYear: Type.Optional(Nullable(Type.Integer({ minimum: 1890, maximum: 2100 }))),
    notes: Type.Optional(Nullable(Text(2000))),
    ladder: Type.Optional(LadderPatch),
    routine: Type.Optional(RoutinePatch),
  },
  { additionalProperties: false },
);
export const ResidentList = Type.Object({ items: Type.Array(ResidentView) });
export const DevicesBody = Type.Object(
  { deviceIds: Type.Array(Id, { maxItems: 20, uniqueItems: true }) },
  { additionalProperties: false },
);
export const DevicesView = Type.Object({ residentId: Type.String(), deviceIds: Type.Array(Type.String()) });
export const FamilyBody = Type.Object(
  {
    contacts: Type.Array(
      Type.Object({ userId: Id, relation: Type.Optional(Text(50)) }, { additionalProperties: false }),
      { maxItems: 10, description: 'in ladder order: the first is paged first' },
    ),
  },
  { additionalProperties: false },
);
export const FamilyView = Type.Object({
  residentId: Type.String(),
  contacts: Type.Array(
    Type.Object({ userId: Type.String(), name: Type.String(), relation: Nullable(Type.String()), position: Type.Integer() }),
  ),
});

const Assignment = Type.Object({
  communityId: Id,
  onDuty: Type.Boolean(),
  dutyFrom: Nullable(Clock),
  dutyTo: Nullable(Clock),
});
export const AssignmentsBody = Type.Object(
  {
    assignments: Type.Array(
      Type.Object(
        { communityId: Id, onDuty: Type.Optional(Type.Boolean()), dutyFrom: Type.Optional(Clock), dutyTo: Type.Optional(Clock) },
        { additionalProperties: false },
      ),
      { maxItems: 50 },
    ),
  },
  { additionalProperties: false },
);
export const AssignmentsView = Type.Object({ userId: Type.String(), assignments: Type.Array(Assignment) });
export const OnDutyBody = Type.Object(
  { onDuty: Type.Boolean(), communityId: Type.Optional(Id) },
  { additionalProperties: false },
);

export const GrantBody = Type.Object(
  {
    userId: Id,
    residentId: Type.Union([Id, Type.Literal('*')], { description: "a resident id, or '*' for all" }),
    hours: Type.Integer({ minimum: 1, maximum: 720, description: 'how long the grant lasts' }),
  },
  { additionalProperties: false },
);
export const GrantView = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  residentId: Type.String(),
  grantedBy: Type.String(),
  createdAt: Time,
  expiresAt: Time,
  active: Type.Boolean(),
});
export const GrantParams = Type.Object({ id: Type.String({ pattern: '^hg_[0-9a-f]{16}$' }) });

export const AuditQuery = Type.Object(
  {
    residentId: Type.Optional(Id),
    actor: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    beforeId: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export const AuditView = Type.Object({
  id: Type.Integer(),
  at: Time,
  actor: Type.String(),
  action: Type.String(),
  residentId: Nullable(Type.String()),
  purpose: Type.String(),
  detail: Nullable(Type.String()),
});
export const AuditList = Type.Object({ items: Type.Array(AuditView) });

export const LoginBody = Type.Object(
  // Deliberately loose: anything malformed gets the same 401 as a wrong password.
  { login: Type.String({ maxLength: 200 }), password: Type.String({ maxLength: 200 }) },
  { additionalProperties: false },
);
export const LoginResponse = Type.Object({ token: Type.String({ description: 'session token; also set as the yulan_session cookie' }), user: PersonView });
export const MeResponse = Type.Object({
  principal: Type.Union([Type.Literal('person'), Type.Literal('admin-token')]),
  user: Nullable(PersonView),
  residents: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), communityId: Type.String(), access: Type.String() }),
  ),
});

export const ActivityQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'epoch ms or ISO-8601' })),
    to: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  { additionalProperties: false },
);
export const ActivityResponse = Type.Object({
  residentId: Type.String(),
  devices: Type.Array(
    Type.Object({
      deviceId: Type.String(),
      points: Type.Array(Type.Object({ ts: Type.Number(), seq: Type.Optional(Type.Number()), fields: Type.Record(Type.String(), Type.Unknown()) })),
    }),
  ),
});
