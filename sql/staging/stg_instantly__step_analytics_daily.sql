-- stg_instantly__step_analytics_daily: one row per Instantly campaign, UTC day, step and variant
-- (grain: campaign_id, day, step, variant).
-- Renames and casts instantly.step_analytics_daily (GET /api/v2/campaigns/analytics/steps for one
-- campaign and day). Counts are by event day; unique_* are leads unique within the requested day
-- (a lead gets one email per step, so a day's unique_* are emails too), and summed over days they
-- are lead-days: a lead who opens on two days counts twice. step -1 / variant 'unattributed'
-- hold what Instantly could not tie to a step or variant.
select
    cast(s.campaign_id as text) as campaign_id,
    cast(s.day as date) as day,
    cast(s.step as bigint) as step,
    cast(s.variant as text) as variant,
    cast(s.sent as bigint) as sent,
    cast(s.opened as bigint) as opens,
    cast(s.unique_opened as bigint) as unique_opened,
    cast(s.replies as bigint) as replies,
    cast(s.unique_replies as bigint) as unique_replies,
    cast(s.replies_automatic as bigint) as replies_automatic,
    cast(s.unique_replies_automatic as bigint) as unique_replies_automatic,
    cast(s.clicks as bigint) as clicks,
    cast(s.unique_clicks as bigint) as unique_clicks,
    cast(s.opportunities as bigint) as opportunities,
    cast(s.unique_opportunities as bigint) as unique_opportunities
from {{ source('instantly', 'step_analytics_daily') }} as s
