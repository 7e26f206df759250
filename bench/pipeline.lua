-- wrk script: HTTP/1.1 pipelining. Each write carries `depth` GET / requests
-- back to back (default 16; pass another as `wrk ... -s bench/pipeline.lua URL -- 32`).
-- wrk counts every response, so Requests/sec is responses per second.
local depth = 16

init = function(args)
  if args[1] ~= nil then
    depth = tonumber(args[1])
  end
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil, "/")
  end
  req = table.concat(r)
end

request = function()
  return req
end
