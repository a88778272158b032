-- Question: how long does it take from a customer's first event to the first purchase, by the
-- channel the customer first appeared on?
--
-- Definition: for every customer with at least one purchase, the hours from the first event
-- of the journey (seq 1) to the first purchase event; first_channel is the channel of that
-- first event. A customer whose first event is the purchase counts with 0 hours. Customers
-- without a purchase are left out. Times are event times in milliseconds (ts_ms).
--
-- How to read the result: one row per first channel, largest group first. Compare the median
-- with the average: a much larger average means a few slow converters. median_hours is exact
-- (quantileExact); for an even number of customers it is the upper of the two middle values.
--
-- Columns:
--   first_channel   channel of the customer's first event
--   customers       customers of that first channel who purchased
--   avg_hours       average hours from first event to first purchase
--   median_hours    median of the same
--   max_hours       the longest of the same
SELECT
    first_channel,
    count() AS customers,
    round(avg(hours), 2) AS avg_hours,
    round(quantileExact(0.5)(hours), 2) AS median_hours,
    round(max(hours), 2) AS max_hours
FROM
(
    SELECT
        customer_id,
        argMin(channel, seq) AS first_channel,
        (minIf(ts_ms, type = 'purchase') - min(ts_ms)) / 3600000 AS hours
    FROM omnistitch.journeys
    GROUP BY customer_id
    HAVING countIf(type = 'purchase') > 0
)
GROUP BY first_channel
ORDER BY customers DESC, first_channel
