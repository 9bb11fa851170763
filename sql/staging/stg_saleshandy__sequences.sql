-- stg_saleshandy__sequences: one row per Saleshandy sequence (grain: sequence_id).
-- Renames and casts saleshandy.sequences (GET /v1/sequences); ids stay hash strings.
select
    cast(s.id as text) as sequence_id,
    cast(s.title as text) as name,
    cast(s.active as boolean) as is_active
from {{ source('saleshandy', 'sequences') }} as s
