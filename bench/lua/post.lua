-- New comments, each with a distinct Markdown text, spread over a list of threads.
-- Arguments: FLAVOUR (ours or isso) NONCE URI[,URI...]
-- Counts the statuses answered and the requests sent, so the run can be checked against the
-- rows found in the database afterwards.

local words = {
   "the", "of", "and", "to", "in", "is", "it", "that", "for", "with", "as", "was", "this",
   "article", "point", "reader", "claim", "evidence", "policy", "budget", "council", "report",
   "study", "figure", "question", "answer", "reason", "example", "problem", "change", "cost",
   "agree", "disagree", "think", "believe", "wonder", "notice", "really", "perhaps", "clearly",
}

function init(args)
   flavour, nonce = args[1], args[2]
   uris = {}
   for uri in string.gmatch(args[3], "[^,]+") do
      table.insert(uris, uri)
   end
   statuses, sent = {}, 0
   math.randomseed(thread_number * 7919)
end

local function sentence()
   local picked = {}
   for index = 1, math.random(6, 16) do
      picked[index] = words[math.random(#words)]
   end
   local roll = math.random()
   if roll < 0.2 then
      picked[2] = "[" .. picked[2] .. "](https://example.org/n/" .. math.random(9999) .. ")"
   elseif roll < 0.4 then
      picked[2] = "*" .. picked[2] .. "*"
   end
   return table.concat(picked, " ") .. "."
end

local function text(serial)
   local parts = { string.format("Comment %s-%d-%d.", nonce, thread_number, serial) }
   local length, target = 0, math.random(200, 1500)
   while length < target do
      local next_sentence = sentence()
      length = length + #next_sentence + 1
      table.insert(parts, math.random() < 0.2 and "\\n\\n" .. next_sentence or next_sentence)
   end
   return table.concat(parts, " ")
end

function request()
   sent = sent + 1
   local uri = uris[(sent + thread_number) % #uris + 1]
   local author = string.format('"Bench %d"', thread_number)
   if flavour == "isso" then
      local body = string.format('{"text":"%s","author":%s}', text(sent), author)
      return wrk.format("POST", "/new?uri=" .. uri, nil, body)
   end
   local body = string.format('{"uri":"%s","text":"%s","author":%s}', uri, text(sent), author)
   return wrk.format("POST", "/api/comments", nil, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end
