/** Migrations of the `alerts` schema in PostgreSQL (the counterpart of schema-sql.ts for alerts.sqlite), applied in order by `db.migrate('alerts', …)`. */
// `seq` columns keep insertion order where SQLite used rowid; claimed_by/claim_until_ms
// hold a cloud's claim on sending a notification (pg-alert-store.ts).
export const ALERTS_PG_MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS alerts;
   CREATE TABLE alerts.alerts (
     id text PRIMARY KEY,
     seq bigint GENERATED ALWAYS AS IDENTITY,
     edge_alert_id text NOT NULL,
     previous_alert_id text,
     revision integer NOT NULL,
     device_id text NOT NULL,
     site text NOT NULL,
     resident_id text,
     resident_name text,
     type text NOT NULL,
     level text NOT NULL,
     skip_cancel_window boolean NOT NULL,
     edge_state text NOT NULL,
     status text NOT NULL,
     outcome text,
     claimed_by text,
     claimed_at bigint,
     resolved_by text,
     resolved_at bigint,
     note text,
     first_event_at_ms bigint NOT NULL,
     opened_at bigint NOT NULL,
     updated_at bigint NOT NULL,
     ladder jsonb NOT NULL,
     next_due_at_ms bigint,
     report jsonb NOT NULL,
     unreached_at_ms bigint,
     seen jsonb
   );
   CREATE INDEX alerts_next_due ON alerts.alerts (next_due_at_ms) WHERE next_due_at_ms IS NOT NULL;
   CREATE INDEX alerts_resident ON alerts.alerts (resident_id, opened_at);
   CREATE INDEX alerts_status ON alerts.alerts (status, opened_at);
   CREATE INDEX alerts_edge ON alerts.alerts (edge_alert_id, opened_at);
   CREATE INDEX alerts_unreached ON alerts.alerts (unreached_at_ms) WHERE unreached_at_ms IS NOT NULL;
   CREATE TABLE alerts.timeline (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     alert_id text NOT NULL,
     at_ms bigint NOT NULL,
     kind text NOT NULL,
     actor text,
     detail jsonb
   );
   CREATE INDEX timeline_alert ON alerts.timeline (alert_id, seq);
   CREATE TABLE alerts.notifications (
     id text PRIMARY KEY,
     seq bigint GENERATED ALWAYS AS IDENTITY,
     intent_key text NOT NULL UNIQUE,
     alert_id text NOT NULL,
     user_id text NOT NULL,
     step integer NOT NULL,
     kind text NOT NULL,
     recipient jsonb,
     channel_index integer NOT NULL DEFAULT 0,
     channel_type text,
     status text NOT NULL,
     attempts integer NOT NULL DEFAULT 0,
     created_at bigint NOT NULL,
     sent_at bigint,
     delivered_at bigint,
     read_at bigint,
     error text,
     claimed_by text,
     claim_until_ms bigint
   );
   CREATE INDEX notifications_alert ON alerts.notifications (alert_id, created_at);
   CREATE INDEX notifications_open ON alerts.notifications (status) WHERE status IN ('pending', 'sent', 'fallback');
   CREATE INDEX notifications_user ON alerts.notifications (user_id, kind);
   CREATE TABLE alerts.attempts (
     seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     notification_id text NOT NULL,
     at_ms bigint NOT NULL,
     channel_index integer NOT NULL,
     channel_type text NOT NULL,
     ok boolean NOT NULL,
     error text
   );
   CREATE INDEX attempts_notification ON alerts.attempts (notification_id, seq);`,
  // 2: the app channel across clouds (pg-app-relay.ts): which cloud wrote a delivery to an
  // open care page, one row per (delivery, cloud) so a repeated request never counts twice;
  // and which people have a care page open on which cloud.
  `CREATE TABLE alerts.app_receipts (
     delivery_id text NOT NULL,
     cloud text NOT NULL,
     user_id text NOT NULL,
     at_ms bigint NOT NULL,
     PRIMARY KEY (delivery_id, cloud)
   );
   CREATE TABLE alerts.app_streams (
     cloud text NOT NULL,
     user_id text NOT NULL,
     seen_at_ms bigint NOT NULL,
     PRIMARY KEY (cloud, user_id)
   );
   CREATE INDEX app_streams_user ON alerts.app_streams (user_id);`,
];
