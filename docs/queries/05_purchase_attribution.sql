-- Question: which channels get the credit for purchases, under first-touch and under
-- last-touch attribution?
--
-- Definition: every purchase event is credited once under each model.
--   first touch: the channel of the customer's first event (seq 1) -- the first event before
--                the purchase, or the purchase itself when it is the customer's first event;
--   last touch:  the channel of the event right before the purchase in the journey (the
--                purchase row's prev_channel), or the purchase's own channel when it is the
--                customer's first event.
-- All purchases count, not only the first: a repeat purchase has the same first touch as the
-- customer's first purchase.
--
-- How to read the result: one row per channel that got credit under either model. Each
-- *_purchases column adds up to all purchases, each *_pct column to 100. A channel with a high
-- first-touch and low last-touch share brings customers in; the reverse closes sales.
--
-- Columns:
--   channel                 channel credited
--   first_touch_purchases   purchases credited to it under first touch
--   first_touch_pct         100 * first_touch_purchases / all purchases
--   last_touch_purchases    purchases credited to it under last touch
--   last_touch_pct          100 * last_touch_purchases / all purchases
WITH (SELECT count() FROM omnistitch.journeys WHERE type = 'purchase') AS purchases_total
SELECT
    touch_channel AS channel,
    countIf(model = 'first_touch') AS first_touch_purchases,
    round(100 * first_touch_purchases / purchases_total, 1) AS first_touch_pct,
    countIf(model = 'last_touch') AS last_touch_purchases,
    round(100 * last_touch_purchases / purchases_total, 1) AS last_touch_pct
FROM
(
    -- One row per purchase: the customer's first channel and the purchase's last touch.
    SELECT first_channel, last_channel
    FROM
    (
        SELECT
            customer_id,
            argMin(channel, seq) AS first_channel,
            groupArrayIf(if(prev_channel = '', channel, prev_channel), type = 'purchase') AS last_channels
        FROM omnistitch.journeys
        GROUP BY customer_id
    )
    ARRAY JOIN last_channels AS last_channel
)
ARRAY JOIN
    [first_channel, last_channel] AS touch_channel,
    ['first_touch', 'last_touch'] AS model
GROUP BY channel
ORDER BY first_touch_purchases DESC, last_touch_purchases DESC, channel
