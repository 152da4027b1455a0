-- The inventory pages by keyset: "the live services after (sort value, service_id)" in each of its orders. A btree
-- on (sort column, service_id) serves a row comparison such as `(name, service_id) > ($1, $2)` as one index range,
-- read forwards or backwards, so a deep page costs what the first one does (OFFSET walked every row before it).
create index service_live_name_id_idx on service (name, service_id) where status <> 'deleted';
create index service_live_created_id_idx on service (created_at, service_id) where status <> 'deleted';

-- Superseded by the two above (and service_live_name_key already indexes live names alone).
drop index service_live_name_idx;
drop index service_live_created_at_idx;
