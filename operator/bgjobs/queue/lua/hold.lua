-- Record that a member's attempt is running (rebuild, or an adopted Job).
-- ARGV: prefix, member, type, priority
local p, m, t, prio = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('ZREM', p .. 'ready:' .. t, m)
redis.call('ZREM', p .. 'delayed', m)
redis.call('SADD', p .. 'running', m)
redis.call('SADD', p .. 'running:' .. t, m)
redis.call('HSET', p .. 'meta:' .. m, 'type', t, 'priority', prio)
return 1
