-- Queue a member: ready now, or delayed until due. A member that holds a
-- running slot is left alone (its attempt is still going).
-- ARGV: prefix, member, type, priority, score, due_ms, now_ms
local p, m, t, prio = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local score, due, now = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('SISMEMBER', p .. 'running', m) == 1 then
  return 'running'
end
local old = redis.call('HGET', p .. 'meta:' .. m, 'type')
if old and old ~= t then
  redis.call('ZREM', p .. 'ready:' .. old, m)
end
redis.call('HSET', p .. 'meta:' .. m, 'type', t, 'priority', prio, 'score', ARGV[5])
if due > now then
  redis.call('ZREM', p .. 'ready:' .. t, m)
  redis.call('ZADD', p .. 'delayed', due, m)
  return 'delayed'
end
redis.call('ZREM', p .. 'delayed', m)
redis.call('ZADD', p .. 'ready:' .. t, score, m)
redis.call('SADD', p .. 'types', t)
return 'ready'
