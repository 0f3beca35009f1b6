-- KEYS: a subject's consent state. Its decisions per purpose
-- ('granted|at|seq|policy version|source') and '@head' of its ledger.
return redis.call('HGETALL', KEYS[1])
