-- The same request over and over: method and, for a POST, the file holding its body.
-- Arguments: METHOD [BODY_FILE]

function init(args)
   wrk.method = args[1]
   if args[2] then
      local file = assert(io.open(args[2], "rb"))
      wrk.body = file:read("*a")
      file:close()
   end
end
