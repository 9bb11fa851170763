-- stg_reply_io__step_stats_snapshots: one row per Reply.io sequence, step, variant and snapshot day
-- (grain: sequence_id, step_id, variant_id, snapshot_day).
-- Renames and casts reply_io.step_stats_snapshots (POST /v3/sequences/{id}/stats/emails, once a run-day):
-- cumulative counts as of the snapshot; one email per person per step, so people = emails here.
select
    cast(s.sequence_id as bigint) as sequence_id,
    cast(s.step_id as bigint) as step_id,
    cast(s.step_number as bigint) as step_number,
    cast(s.variant_id as bigint) as variant_id,
    cast(s.snapshot_day as date) as snapshot_day,
    cast(s.delivered as bigint) as delivered,
    cast(s.opened as bigint) as opened,
    cast(s.links_clicked as bigint) as clicked,
    cast(s.replied as bigint) as replied,
    cast(s.interested as bigint) as interested,
    cast(s.not_reached as bigint) as not_reached,
    cast(s.opted_out as bigint) as opted_out,
    cast(s.meetings_booked as bigint) as meetings_booked
from {{ source('reply_io', 'step_stats_snapshots') }} as s
