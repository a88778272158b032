-- Question: how many customers go through the funnel awareness -> consideration -> purchase,
-- in that order, within 30 days?
--
-- Definition: windowFunnel(2592000) looks at each customer's journey for an awareness event,
-- then a consideration event at or after it, then a purchase event at or after that, all
-- within 30 days (2592000 seconds) of the awareness event, and gives the number of steps the
-- customer reached (0 to 3). Stages are the journey.stages mapping of configs/omnistitch.yaml
-- (awareness: page_view, email_open, email_click; consideration: product_view, add_to_cart,
-- checkout, login, signup; purchase: purchase). Event time is in whole seconds: two events of
-- one customer in the same second may count in either order.
--
-- How to read the result: one row per step; a customer counts at every step up to the one
-- reached. Customers whose journey has no awareness event (say, a store customer whose first
-- event is a purchase) count nowhere. pct_of_previous is the conversion rate of the step.
-- To change the window or the stages, change the windowFunnel call and `stages` together.
--
-- Columns:
--   step              1, 2, 3
--   stage             awareness, consideration, purchase
--   customers         customers who reached this step within the window
--   pct_of_first      100 * customers / customers at step 1
--   pct_of_previous   100 * customers / customers at the step before (100 at step 1)
SELECT
    step,
    stages[step] AS stage,
    reached[step] AS customers,
    round(100 * reached[step] / reached[1], 1) AS pct_of_first,
    round(100 * reached[step] / reached[if(step = 1, 1, step - 1)], 1) AS pct_of_previous
FROM
(
    SELECT
        ['awareness', 'consideration', 'purchase'] AS stages,
        [countIf(level >= 1), countIf(level >= 2), countIf(level >= 3)] AS reached
    FROM
    (
        SELECT
            customer_id,
            windowFunnel(2592000)(event_time,
                stage = 'awareness', stage = 'consideration', stage = 'purchase') AS level
        FROM omnistitch.journeys
        GROUP BY customer_id
    )
)
ARRAY JOIN arrayEnumerate(stages) AS step
ORDER BY step
