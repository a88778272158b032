-- Question: how many customers use one, two, three or more channels, and do customers on more
-- channels buy more?
--
-- Definition: the number of distinct channels in the customer's profile (profiles.channels:
-- every channel the customer had at least one event on, after stitching). The default
-- `omnichannel` segment is 3 or more.
--
-- How to read the result: one row per number of channels, from 1 up; customers adds up to
-- all customers, pct_of_customers to 100. avg_revenue compares the groups' spending.
--
-- Columns:
--   channels_used      number of distinct channels the customer used
--   customers          customers with that many channels
--   pct_of_customers   100 * customers / all customers
--   total_purchases    purchase events of these customers
--   total_revenue      sum of their purchase amounts (profiles.revenue)
--   avg_revenue        total_revenue / customers
SELECT
    length(channels) AS channels_used,
    count() AS customers,
    round(100 * customers / (SELECT count() FROM omnistitch.profiles), 1) AS pct_of_customers,
    sum(purchases) AS total_purchases,
    round(sum(revenue), 2) AS total_revenue,
    round(avg(revenue), 2) AS avg_revenue
FROM omnistitch.profiles
GROUP BY channels_used
ORDER BY channels_used
