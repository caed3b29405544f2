-- Pop ready members in score order while the global cap and the member's
-- type cap leave a slot; each popped member holds a running slot until it is
-- released. Types absent from the caps (no handler) are not dispatched.
-- ARGV: prefix, global_max (0 = none), now_ms, limit, then type, cap pairs
-- (cap 0 = only the global cap). Returns member, type, member, type, ...
local p, gmax, now, limit = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local caps = {}
for i = 5, #ARGV, 2 do
  caps[ARGV[i]] = tonumber(ARGV[i + 1])
end
local out = {}
while #out < 2 * limit do
  if gmax > 0 and redis.call('SCARD', p .. 'running') >= gmax then
    break
  end
  local best, best_score, best_type
  for _, t in ipairs(redis.call('SMEMBERS', p .. 'types')) do
    local head = redis.call('ZRANGE', p .. 'ready:' .. t, 0, 0, 'WITHSCORES')
    if #head == 0 then
      redis.call('SREM', p .. 'types', t)
    elseif caps[t] ~= nil then
      local cap = caps[t]
      if cap == 0 or redis.call('SCARD', p .. 'running:' .. t) < cap then
        local s = tonumber(head[2])
        if best == nil or s < best_score or (s == best_score and head[1] < best) then
          best, best_score, best_type = head[1], s, t
        end
      end
    end
  end
  if best == nil then
    break
  end
  redis.call('ZREM', p .. 'ready:' .. best_type, best)
  redis.call('SADD', p .. 'running', best)
  redis.call('SADD', p .. 'running:' .. best_type, best)
  redis.call('HSET', p .. 'meta:' .. best, 'dispatchedAt', now)
  table.insert(out, best)
  table.insert(out, best_type)
end
return out
