-- KEYS: user index. ARGV: the slot's session key prefix, how many to keep.
return evict(KEYS[1], ARGV[1], tonumber(ARGV[2]))
