-- What the inventory and the audit trail pages query, so they stay quick with thousands of rows.

-- `name ilike '%text%'` (the inventory's text filter) can use a trigram index; a btree cannot.
create extension if not exists pg_trgm;
create index service_live_name_trgm_idx on service using gin (name gin_trgm_ops) where status <> 'deleted';

-- The audit page's service filter, newest first (0001 has the same for actor_login and for no filter).
create index audit_event_service_name_idx on audit_event (service_name, at desc);

-- The row trigger (0001) refuses UPDATE and DELETE; TRUNCATE skips row triggers, so refuse it too.
create trigger audit_event_no_truncate before truncate on audit_event
    for each statement execute function refuse_audit_change();
