-- KEYS: a subject's consent state. The head of its ledger ('seq|hash', or
-- '' for none): one field, whatever the ledger's length.
return redis.call('HGET', KEYS[1], '@head') or ''
