-- KEYS: the key of the user an anonymous id (or an old name) is linked to.
-- ARGV: the user. A later link replaces an earlier one, as in SQLite.
redis.call('SET', KEYS[1], ARGV[1])
return 1
