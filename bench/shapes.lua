-- wrk script: POST one SST-2 dev sentence per request in a given request shape; prints one WRKJSON line.
-- usage: wrk -t2 -c64 -d10s -s bench/shapes.lua http://127.0.0.1:8080<path> -- <dev.tsv> <shape>
--   shape: text (Polarity's {"text"}, path /predict), tei ({"inputs"}, path /),
--          v2 (a KServe V2 JSON tensor, path /v2/models/polarity/infer)
local reqs, i = {}, 0
function init(args)
  local path, shape = args[1], args[2] or "text"
  local first = true
  for line in io.lines(path) do
    if not first then
      local text = line:match("^[^\t]*\t(.*)$")
      if text then
        text = '"' .. text:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"'
        local body
        if shape == "text" then
          body = '{"text": ' .. text .. '}'
        elseif shape == "tei" then
          body = '{"inputs": ' .. text .. '}'
        elseif shape == "v2" then
          body = '{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [' .. text .. ']}]}'
        else
          error("unknown shape " .. shape)
        end
        reqs[#reqs + 1] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
      end
    end
    first = false
  end
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
function done(s, lat, r)
  io.write(string.format('WRKJSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,"non2xx":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d}\n',
    s.requests, s.duration / 1e6, s.requests / (s.duration / 1e6), lat:percentile(50) / 1000, lat:percentile(90) / 1000,
    lat:percentile(99) / 1000, lat.max / 1000, lat.mean / 1000, s.errors.status, s.errors.connect, s.errors.read,
    s.errors.write, s.errors.timeout))
end
