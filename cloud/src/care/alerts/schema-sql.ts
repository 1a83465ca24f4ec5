/** Migrations of alerts.sqlite, applied in order; `user_version` records how many ran. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE alerts (
     id TEXT PRIMARY KEY,
     revision INTEGER NOT NULL,
     device_id TEXT NOT NULL,
     site TEXT NOT NULL,
     resident_id TEXT,
     resident_name TEXT,
     type TEXT NOT NULL,
     level TEXT NOT NULL,
     skip_cancel_window INTEGER NOT NULL,
     edge_state TEXT NOT NULL,
     status TEXT NOT NULL,
     outcome TEXT,
     claimed_by TEXT,
     claimed_at INTEGER,
     resolved_by TEXT,
     resolved_at INTEGER,
     note TEXT,
     first_event_at_ms INTEGER NOT NULL,
     opened_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     ladder TEXT NOT NULL,
     next_due_at_ms INTEGER,
     report TEXT NOT NULL
   ) STRICT;
   CREATE INDEX alerts_next_due ON alerts (next_due_at_ms) WHERE next_due_at_ms IS NOT NULL;
   CREATE INDEX alerts_resident ON alerts (resident_id, opened_at);
   CREATE INDEX alerts_status ON alerts (status, opened_at);
   CREATE TABLE timeline (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     alert_id TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     kind TEXT NOT NULL,
     actor TEXT,
     detail TEXT
   ) STRICT;
   CREATE INDEX timeline_alert ON timeline (alert_id, seq);
   CREATE TABLE notifications (
     id TEXT PRIMARY KEY,
     intent_key TEXT NOT NULL UNIQUE,
     alert_id TEXT NOT NULL,
     user_id TEXT NOT NULL,
     step INTEGER NOT NULL,
     kind TEXT NOT NULL,
     recipient TEXT,
     channel_index INTEGER NOT NULL DEFAULT 0,
     channel_type TEXT,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     sent_at INTEGER,
     delivered_at INTEGER,
     read_at INTEGER,
     error TEXT
   ) STRICT;
   CREATE INDEX notifications_alert ON notifications (alert_id, created_at);
   CREATE INDEX notifications_open ON notifications (status) WHERE status IN ('pending', 'sent', 'fallback');
   CREATE INDEX notifications_user ON notifications (user_id, kind);
   CREATE TABLE attempts (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     notification_id TEXT NOT NULL,
     at_ms INTEGER NOT NULL,
     channel_index INTEGER NOT NULL,
     channel_type TEXT NOT NULL,
     ok INTEGER NOT NULL,
     error TEXT
   ) STRICT;
   CREATE INDEX attempts_notification ON attempts (notification_id, seq);`,
  // A resolved alert is closed: a later event opens a new alert linked to it, under the same
  // edge alert id (docs/care.md §3). Unreached alerts are counted and retried by query.
  `ALTER TABLE alerts ADD COLUMN edge_alert_id TEXT;
   UPDATE alerts SET edge_alert_id = id;
   ALTER TABLE alerts ADD COLUMN previous_alert_id TEXT;
   ALTER TABLE alerts ADD COLUMN unreached_at_ms INTEGER;
   ALTER TABLE alerts ADD COLUMN seen TEXT;
   CREATE INDEX alerts_edge ON alerts (edge_alert_id, opened_at);
   CREATE INDEX alerts_unreached ON alerts (unreached_at_ms) WHERE unreached_at_ms IS NOT NULL;`,
];
