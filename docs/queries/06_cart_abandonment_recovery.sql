-- Question: how many carts are abandoned, how many of those are recovered by a later purchase,
-- and is recovery better for customers who got the cart_abandoned trigger?
--
-- Definition: every add_to_cart event is a cart. A cart is abandoned when the customer makes
-- no purchase (on any channel) after it in the journey within 1 hour (3600000 ms) of it -- the
-- condition of the default cart_abandoned rule. An abandoned cart is recovered when the
-- customer purchases later after all (after the hour). A customer "got the trigger" when the
-- triggers view holds a cart_abandoned trigger for the customer id, at any time; a trigger
-- fired before a merge carries the absorbed customer id and does not count for the survivor.
--
-- How to read the result: the first row covers all carts; the other rows split the same carts
-- by whether their customer got a cart_abandoned trigger (with no triggers at all, that row is
-- missing and the "no trigger" row equals the first). Compare recovery_pct between the
-- trigger rows to see whether the trigger goes with more recoveries (correlation, not proof:
-- there is no control group).
--
-- Columns:
--   segment           'all carts', 'cart_abandoned trigger fired' or 'no cart_abandoned trigger'
--   carts             add_to_cart events
--   abandoned_carts   carts with no purchase within the hour after them
--   abandonment_pct   100 * abandoned_carts / carts
--   recovered_carts   abandoned carts followed by a purchase later on
--   recovery_pct      100 * recovered_carts / abandoned_carts
SELECT
    segment,
    count() AS carts,
    sum(abandoned) AS abandoned_carts,
    round(100 * abandoned_carts / carts, 1) AS abandonment_pct,
    sum(recovered) AS recovered_carts,
    round(100 * recovered_carts / abandoned_carts, 1) AS recovery_pct
FROM
(
    -- One row per cart. `cart` and each element of `purchases` are (seq, ts_ms).
    SELECT
        NOT arrayExists(p -> p.1 > cart.1 AND p.2 <= cart.2 + 3600000, purchases) AS abandoned,
        abandoned AND arrayExists(p -> p.1 > cart.1, purchases) AS recovered,
        customer_id IN
        (
            SELECT customer_id FROM omnistitch.triggers WHERE rule = 'cart_abandoned'
        ) AS triggered
    FROM
    (
        SELECT
            customer_id,
            groupArrayIf((seq, ts_ms), type = 'add_to_cart') AS carts,
            groupArrayIf((seq, ts_ms), type = 'purchase') AS purchases
        FROM omnistitch.journeys
        WHERE type IN ('add_to_cart', 'purchase')
        GROUP BY customer_id
    )
    ARRAY JOIN carts AS cart
)
ARRAY JOIN
    ['all carts', if(triggered, 'cart_abandoned trigger fired', 'no cart_abandoned trigger')] AS segment
GROUP BY segment
ORDER BY segment
