-- stg_saleshandy__email_stats: one row per sent email (grain: sequence_id, step_number, recipient_email).
-- Renames and casts saleshandy.email_stats (POST /v1/analytics/consolidated-stats); the engagement
-- columns are the email's state as of the load, whatever day it happened (send-day cohort).
select
    cast(e.sequence_id as text) as sequence_id,
    cast(e.step_number as bigint) as step_number,
    cast(e.recipient_email as text) as recipient_email,
    cast(e.email_sent_at as timestamp with time zone) as sent_at,
    {{ utc_date('e.email_sent_at') }} as sent_day,
    cast(e.open_count as bigint) as open_count,
    cast(e.click_count as bigint) as click_count,
    cast(e.replied as boolean) as is_replied,
    cast(e.current_sentiment as text) as sentiment,
    cast(e.bounced as boolean) as is_bounced,
    cast(e.unsubscribed as boolean) as is_unsubscribed
from {{ source('saleshandy', 'email_stats') }} as e
