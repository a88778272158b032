-- Question: which paths of touchpoints lead customers to their first purchase? The 20 most
-- common.
--
-- Definition: a customer's path is the channel:type of each event of the journey, in journey
-- order (seq), from the first event up to and including the first purchase, with consecutive
-- repeats collapsed (web:page_view, web:page_view, web:add_to_cart counts as web:page_view >
-- web:add_to_cart). Customers without a purchase have no path. Events after the first purchase
-- are not part of it.
--
-- How to read the result: one row per distinct path, most common first; a path that is just
-- "store:purchase" is a customer whose first known event was a purchase. Ties are listed in
-- path order. Remove LIMIT 20 to see every path.
--
-- Columns:
--   path_to_purchase   touchpoints joined with ' > ', ending in <channel>:purchase
--   steps              number of touchpoints in the path (after collapsing repeats)
--   customers          customers whose path to the first purchase was exactly this
SELECT
    arrayStringConcat(path, ' > ') AS path_to_purchase,
    length(path) AS steps,
    count() AS customers
FROM
(
    SELECT
        arraySlice(touchpoints, 1, arrayFirstIndex(t -> t = 'purchase', types)) AS until_purchase,
        arrayFilter((t, i) -> i = 1 OR t != until_purchase[i - 1],
            until_purchase, arrayEnumerate(until_purchase)) AS path
    FROM
    (
        SELECT
            customer_id,
            arraySort(e -> e.1, groupArray((seq, channel, type))) AS events,
            arrayMap(e -> concat(e.2, ':', e.3), events) AS touchpoints,
            arrayMap(e -> e.3, events) AS types
        FROM omnistitch.journeys
        GROUP BY customer_id
    )
    WHERE has(types, 'purchase')
)
GROUP BY path_to_purchase, steps
ORDER BY customers DESC, path_to_purchase
LIMIT 20
