-- KEYS: the store's salt for subject hashes. ARGV: a new salt, kept only if
-- there is none yet. Returns the salt every process uses.
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
