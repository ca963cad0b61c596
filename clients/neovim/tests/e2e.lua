-- End-to-end scenarios for odw.nvim against the real `odw lsp`, run by tests/e2e/clients_neovim.rs:
--
--   nvim --headless --clean -l clients/neovim/tests/e2e.lua SCENARIO WORKSPACE
--
-- `odw` must be on the PATH and WORKSPACE must hold an odw.toml routing the `test:*` models to
-- the loopback provider. Prints `ok: …` per check and `PASS` at the end; exits 1 on the first
-- failure, with what was seen so far.
local scenario, ws = arg[1], arg[2]
local plugin = vim.fs.dirname(vim.fs.dirname(vim.fn.fnamemodify(arg[0], ":p")))
vim.opt.rtp:prepend(plugin)
vim.cmd("filetype on")
vim.cmd.runtime("plugin/odw.lua")
vim.cmd.cd(ws)

local seen = { notes = {}, progress = {} }

-- Every notification (the server's showMessage goes through vim.notify).
vim.notify = function(msg, level)
  table.insert(seen.notes, { msg = msg, level = level })
  io.stdout:write(("notify[%s]: %s\n"):format(level or "-", msg))
end

vim.api.nvim_create_autocmd("LspProgress", {
  callback = function(ev)
    local v = ev.data.params.value
    table.insert(seen.progress, { token = ev.data.params.token, kind = v.kind, title = v.title, message = v.message })
  end,
})

local function dump()
  local panel = require("odw.panel")
  io.stdout:write("--- progress\n" .. vim.inspect(seen.progress) .. "\n")
  io.stdout:write("--- panel\n" .. vim.inspect(panel.runs) .. "\n")
  io.stdout:write("--- buffers\n")
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    io.stdout:write(("  %d %s\n"):format(b, vim.api.nvim_buf_get_name(b)))
  end
  io.stdout:write("--- lsp log: " .. vim.lsp.log.get_filename() .. "\n")
end

local function finish(code)
  for _, c in ipairs(vim.lsp.get_clients()) do
    c:stop()
  end
  vim.wait(3000, function()
    return #vim.lsp.get_clients() == 0
  end, 20)
  io.stdout:flush()
  os.exit(code)
end

local function fail(what)
  io.stdout:write("FAIL: " .. what .. "\n")
  dump()
  finish(1)
end

local function check(cond, what)
  if not cond then
    fail(what)
  end
  io.stdout:write("ok: " .. what .. "\n")
end

--- Waits (processing events) until `cond` holds.
local function wait(ms, cond, what)
  check(vim.wait(ms, cond, 20), what)
end

--- The first notification containing `text` (a Lua pattern when `pattern` is true).
local function note_matching(text, pattern)
  for _, n in ipairs(seen.notes) do
    if n.msg:find(text, 1, not pattern) then
      return n
    end
  end
end

local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
end

local function result_window()
  for _, w in ipairs(vim.api.nvim_list_wins()) do
    local name = vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(w))
    if name:match("/%.odw/runs/[^/]+/result%.md$") then
      return w
    end
  end
end

local function open_workflow(file)
  vim.cmd.edit(vim.fs.joinpath(ws, file))
  local buf = vim.api.nvim_get_current_buf()
  wait(30000, function()
    return #vim.lsp.get_clients({ bufnr = buf, name = "odw" }) > 0
  end, "the odw server attached to " .. file)
  return buf
end

require("odw").setup({})

local scenarios = {}

function scenarios.diagnostics()
  local buf = open_workflow("broken.workflow.js")
  wait(30000, function()
    return #vim.diagnostic.get(buf) > 0
  end, "diagnostics appeared on the broken script")
  local d = vim.diagnostic.get(buf)[1]
  io.stdout:write(("diagnostic: %s:%d: %s\n"):format(d.source or "?", d.lnum + 1, d.message))
  check(d.severity == vim.diagnostic.severity.ERROR, "the first diagnostic is an error")
  -- JavaScript outside the globs that defines `export const meta` is a workflow too.
  open_workflow("src/job.js")
  -- A plain JavaScript file gets no odw client.
  vim.cmd.edit(vim.fs.joinpath(ws, "plain.js"))
  vim.wait(300)
  check(#vim.lsp.get_clients({ bufnr = 0, name = "odw" }) == 0, "no odw client on plain JavaScript")

  -- :help odw is well formed: helptags fails on duplicate tags (a copy, not to write in the repo).
  local docdir = vim.fs.joinpath(ws, "doc")
  vim.fn.mkdir(docdir, "p")
  local help = vim.fn.readfile(vim.fs.joinpath(plugin, "doc", "odw.txt"))
  vim.fn.writefile(help, vim.fs.joinpath(docdir, "odw.txt"))
  local ok, err = pcall(vim.cmd.helptags, docdir)
  check(ok, "helptags accepts doc/odw.txt " .. (ok and "" or tostring(err)))
  local tags = table.concat(vim.fn.readfile(vim.fs.joinpath(docdir, "tags")), "\n")
  for _, tag in ipairs({ "odw-options", ":OdwRun", ":OdwCancel", ":OdwResume", ":OdwRuns", ":OdwPlan", ":OdwResult" }) do
    check(tags:find(tag, 1, true) ~= nil, "help tag " .. tag)
  end
end

function scenarios.run()
  local script = open_workflow("hello.workflow.js")
  vim.cmd('OdwRun {"name": "Neovim"}')
  wait(30000, function()
    return result_window() ~= nil
  end, "the result opened in a window")
  local win = result_window()
  check(vim.api.nvim_get_current_buf() == script, "the cursor stayed in the script")
  local rbuf = vim.api.nvim_win_get_buf(win)
  wait(15000, function()
    return buffer_text(rbuf):find("greeting Neovim", 1, true) ~= nil
  end, "the result buffer holds the model's answer")
  io.stdout:write("result: " .. buffer_text(rbuf) .. "\n")
  check(note_matching("succeeded") ~= nil, "a succeeded message was shown")
  local begin, report_or_end
  for _, p in ipairs(seen.progress) do
    if p.kind == "begin" and p.token:match("^odw/run/") and (p.title or ""):find("hello") then
      begin = p
    elseif begin and p.token == begin.token and p.kind == "end" then
      report_or_end = p
    end
  end
  check(begin ~= nil, "progress began with the script's name")
  check(report_or_end ~= nil, "progress ended")
  -- The panel followed the run through odw/runEvent.
  local panel = require("odw.panel")
  local id = panel.newest()
  wait(10000, function()
    return id and panel.runs[id].state == "succeeded"
  end, "the panel saw the run finish")
  wait(10000, function()
    local pbuf = vim.fn.bufnr("odw://runs")
    return pbuf > 0 and buffer_text(pbuf):find("hello.*succeeded.*1/1 agents") ~= nil
  end, "the panel shows the run: hello · succeeded · 1/1 agents")
  check(panel.window() ~= nil, "the panel is open")

  -- :OdwRuns lists it; choosing it opens its result (the window is reused).
  local listed
  vim.ui.select = function(items, opts, on_choice)
    listed = vim.tbl_map(opts.format_item, items)
    on_choice(items[1])
  end
  vim.cmd("OdwRuns")
  wait(15000, function()
    return listed ~= nil
  end, ":OdwRuns offered the runs")
  check(listed[1]:find(id, 1, true) and listed[1]:find("succeeded", 1, true), ":OdwRuns shows id and state")

  -- A dry run estimates without calling models.
  vim.api.nvim_set_current_buf(script)
  vim.cmd("OdwDryRun")
  wait(30000, function()
    return note_matching("≈%d+ agents", true) ~= nil
  end, "the dry run's estimate was shown")

  -- Bad arguments are refused before anything is sent.
  vim.cmd("OdwRun {not json")
  check(note_matching("not JSON") ~= nil, "invalid args-json is reported")

  -- :checkhealth odw: binary, version and providers, never keys.
  vim.cmd("checkhealth odw")
  local health = buffer_text(0)
  check(health:find("odw %d+%.%d+") ~= nil, "checkhealth shows the version")
  check(health:find("providers: test") ~= nil, "checkhealth lists the configured providers")
  check(health:find("sk-test", 1, true) == nil, "checkhealth shows no key")
end

-- An agent asks to write a file: Neovim's own showMessageRequest handler asks through
-- vim.ui.select, the user picks "Allow once", the file is written and the panel says so.
function scenarios.approval()
  local asked
  vim.ui.select = function(items, opts, on_choice)
    asked = { prompt = opts.prompt or "", titles = vim.tbl_map(function(i)
      return type(i) == "table" and i.title or tostring(i)
    end, items) }
    for _, item in ipairs(items) do
      if (type(item) == "table" and item.title) == "Allow once" then
        return on_choice(item)
      end
    end
    on_choice(nil)
  end
  open_workflow("writer.workflow.js")
  vim.cmd("OdwRun")
  wait(30000, function()
    return asked ~= nil
  end, "the approval was asked through vim.ui.select")
  io.stdout:write("asked: " .. vim.inspect(asked) .. "\n")
  check(asked.prompt:find("write_file", 1, true) ~= nil, "the question names the tool")
  check(asked.prompt:find("out.txt", 1, true) ~= nil, "the question names the file")
  check(table.concat(asked.titles, "|") == "Allow once|Allow for this run|Deny", "the three actions, in order")
  wait(30000, function()
    return vim.fn.filereadable(vim.fs.joinpath(ws, "out.txt")) == 1
  end, "the allowed write happened")
  local panel = require("odw.panel")
  wait(15000, function()
    local id = panel.newest()
    return id and panel.runs[id].state == "succeeded"
  end, "the run succeeded")
  wait(10000, function()
    local pbuf = vim.fn.bufnr("odw://runs")
    return pbuf > 0 and buffer_text(pbuf):find("write_file allowed once", 1, true) ~= nil
  end, "the panel shows the decision")
end

function scenarios.cancel()
  open_workflow("slow.workflow.js")
  vim.cmd("OdwRun")
  local panel = require("odw.panel")
  wait(30000, function()
    local id = panel.newest()
    return id and panel.runs[id].queued > 0
  end, "the slow run queued its agent")
  local id = panel.newest()
  -- What statusline plugins read while the run is live.
  wait(30000, function()
    return vim.lsp.status():find("slow", 1, true) ~= nil
  end, "vim.lsp.status() shows the live run")
  local t0 = vim.uv.hrtime()
  vim.cmd("OdwCancel")
  wait(30000, function()
    return panel.runs[id].state == "cancelled"
  end, "the run ended as cancelled")
  wait(15000, function()
    return note_matching("cancelled") ~= nil
  end, "a cancelled message was shown")
  io.stdout:write(("cancelled after %d ms\n"):format((vim.uv.hrtime() - t0) / 1e6))

  -- :OdwResume picks the cancelled run up again (under the same id); cancel it by id.
  vim.cmd("OdwResume")
  wait(30000, function()
    return note_matching("resuming " .. id) ~= nil
  end, ":OdwResume resumed the cancelled run")
  wait(30000, function()
    return panel.runs[id].state == "running" and panel.runs[id].queued > 0
  end, "the resumed run is under way")
  vim.cmd("OdwCancel " .. id)
  wait(30000, function()
    return panel.runs[id].state == "cancelled"
  end, "the resumed run was cancelled by id")
end

function scenarios.plan()
  open_workflow("hello.workflow.js")
  local before = vim.api.nvim_get_current_buf()
  -- With !, the planner fills a template: no model is asked.
  vim.cmd("OdwPlan! summarize every file in src")
  wait(60000, function()
    return vim.api.nvim_get_current_buf() ~= before
  end, ":OdwPlan! opened the planned script")
  local buf = vim.api.nvim_get_current_buf()
  local name = vim.api.nvim_buf_get_name(buf)
  io.stdout:write("planned: " .. name .. "\n")
  check(vim.startswith(name, ws) and name:match("%.js$") ~= nil, "the script was written in the workspace")
  check(buffer_text(buf):find("export const meta", 1, true) ~= nil, "the script defines meta")
  check(note_matching("odw: wrote") ~= nil, "the planner's message was shown")
  wait(30000, function()
    return #vim.lsp.get_clients({ bufnr = buf, name = "odw" }) > 0
  end, "the planned script is a workflow the server attaches to")
end

local run = scenarios[scenario]
if not run then
  fail("unknown scenario " .. tostring(scenario))
end
local ok, err = xpcall(run, debug.traceback)
if not ok then
  fail("error: " .. tostring(err))
end
io.stdout:write("PASS\n")
finish(0)
