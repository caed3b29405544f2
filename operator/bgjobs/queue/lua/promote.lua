-- Move delayed members whose time has come to their ready queue.
-- ARGV: prefix, now_ms, limit. Returns how many moved.
local p, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', now, 'LIMIT', 0, limit)
for _, m in ipairs(due) do
  redis.call('ZREM', p .. 'delayed', m)
  local meta = redis.call('HMGET', p .. 'meta:' .. m, 'type', 'score')
  if meta[1] then
    redis.call('ZADD', p .. 'ready:' .. meta[1], meta[2], m)
    redis.call('SADD', p .. 'types', meta[1])
  end
end
return #due
