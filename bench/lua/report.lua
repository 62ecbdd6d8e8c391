-- Appended to every scenario script: number the threads, and print the run as one JSON line.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_number", #threads)
end

local function merged_counts(name)
   local total = {}
   for _, thread in ipairs(threads) do
      for key, count in pairs(thread:get(name) or {}) do
         total[key] = (total[key] or 0) + count
      end
   end
   return total
end

local function json_object(values)
   local parts = {}
   for key, value in pairs(values) do
      local text = type(value) == "table" and json_object(value) or tostring(value)
      table.insert(parts, string.format('"%s":%s', tostring(key), text))
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local sent = 0
   for _, thread in ipairs(threads) do
      sent = sent + (thread:get("sent") or 0)
   end
   io.write("BENCH-RESULT ", json_object({
      duration_us = summary.duration,
      requests = summary.requests,
      bytes = summary.bytes,
      errors = summary.errors,
      latency_us = {
         p50 = latency:percentile(50),
         p90 = latency:percentile(90),
         p99 = latency:percentile(99),
         max = latency.max,
         mean = latency.mean,
      },
      statuses = merged_counts("statuses"),
      sent = sent,
   }), "\n")
end
