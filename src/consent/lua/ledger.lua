-- KEYS: state, ledger. Returns {head, entries}.
return {redis.call('HGET', KEYS[1], '@head') or '', redis.call('LRANGE', KEYS[2], 0, -1)}
