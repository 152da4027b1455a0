-- A delivery's id is not signed (only the body is), so a captured `workflow_run` body re-posted under a fresh
-- `X-GitHub-Delivery` would be acted on again. What the body says happened (that attempt of that run did that)
-- is signed, and happens once: it is the key a second time is refused on. Deliveries of other events carry no
-- run and are keyed by their id alone, as before.
alter table webhook_delivery
    add column run_id bigint,
    add column run_attempt integer,
    add column action text;

create unique index webhook_delivery_run_event_key on webhook_delivery (run_id, run_attempt, action)
    where run_id is not null;
