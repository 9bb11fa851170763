-- stg_reply_io__sequences: one row per Reply.io sequence (grain: sequence_id).
-- Renames and casts reply_io.sequences (GET /v3/sequences); ids stay integers.
select
    cast(s.id as bigint) as sequence_id,
    cast(s.name as text) as name,
    cast(s.status as text) as status,
    cast(s.is_archived as boolean) as is_archived,
    cast(s.owner_user_id as bigint) as owner_user_id,
    cast(s.created as timestamp with time zone) as created_at
from {{ source('reply_io', 'sequences') }} as s
