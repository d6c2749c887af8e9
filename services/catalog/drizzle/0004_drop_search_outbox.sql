-- The search indexer now reads the catalog's event outbox (search/outbox.ts). Rows still pending
-- here at the upgrade are not lost: an indexer without a cursor row re-indexes every product.
DROP TABLE "search_outbox" CASCADE;