-- KEYS: session. The record's fields, without its state.
return meta(KEYS[1])
