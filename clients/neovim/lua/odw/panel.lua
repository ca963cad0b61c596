---@mod odw.panel The run panel: one block per run, fed by odw/runEvent notifications.
--- Events only update a table; drawing is deferred and batched, so a busy run never blocks typing.
local config = require("odw.config")

local M = {}

---@class odw.Run
---@field id string
---@field client_id integer?
---@field name string
---@field state string
---@field dry_run boolean
---@field phase string?
---@field queued integer
---@field done integer
---@field failed integer
---@field cost number
---@field logs string[]

---@type table<string, odw.Run>
M.runs = {}
--- Run ids, newest first.
---@type string[]
M.order = {}

local bufnr ---@type integer?
local line_runs = {} ---@type table<integer, string>
local redraw_pending = false
local REDRAW_MS = 50

local icons = { running = "▶", succeeded = "✓", failed = "✗", cancelled = "■" }

---@return odw.Run
local function run_of(id, client_id)
  local run = M.runs[id]
  if not run then
    run = {
      id = id,
      client_id = client_id,
      name = id,
      state = "running",
      dry_run = false,
      queued = 0,
      done = 0,
      failed = 0,
      cost = 0,
      logs = {},
    }
    M.runs[id] = run
    table.insert(M.order, 1, id)
  end
  run.client_id = run.client_id or client_id
  return run
end

local function log(run, text)
  table.insert(run.logs, (text:gsub("\n", " ")))
  local keep = config.options.panel.log_lines
  while #run.logs > keep do
    table.remove(run.logs, 1)
  end
end

local function usd(x)
  if x > 0 and x < 0.01 then
    return ("$%.4f"):format(x)
  end
  return ("$%.2f"):format(x)
end

--- The one-line summary of a run, as the progress report words it.
---@param run odw.Run
function M.summary(run)
  local parts = {}
  if run.dry_run then
    parts[#parts + 1] = "dry run"
  end
  if run.phase then
    parts[#parts + 1] = run.phase
  end
  parts[#parts + 1] = ("%d/%d agents"):format(run.done, run.queued)
  if run.failed > 0 then
    parts[#parts + 1] = ("%d failed"):format(run.failed)
  end
  if run.cost > 0 then
    parts[#parts + 1] = usd(run.cost)
  end
  return table.concat(parts, " · ")
end

local function lines()
  local out = { "odw runs    <CR> result · x cancel · q close" }
  line_runs = {}
  for i, id in ipairs(M.order) do
    if i > config.options.panel.max_runs then
      break
    end
    local run = M.runs[id]
    out[#out + 1] = ("%s %s  %s  %s  [%s]"):format(
      icons[run.state] or "•",
      run.name,
      run.state,
      M.summary(run),
      run.id
    )
    line_runs[#out] = id
    for _, l in ipairs(run.logs) do
      out[#out + 1] = "    " .. l
      line_runs[#out] = id
    end
  end
  return out
end

local function ensure_buffer()
  if bufnr and vim.api.nvim_buf_is_valid(bufnr) then
    return bufnr
  end
  bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(bufnr, "odw://runs")
  vim.bo[bufnr].filetype = "odw-runs"
  vim.bo[bufnr].modifiable = false
  local function map(lhs, fn, desc)
    vim.keymap.set("n", lhs, fn, { buffer = bufnr, nowait = true, desc = desc })
  end
  map("q", M.close, "Close the odw run panel")
  map("<CR>", function()
    local id = M.run_at_cursor()
    if id then
      require("odw.commands").result(id)
    end
  end, "Open the run's result")
  map("x", function()
    local id = M.run_at_cursor()
    if id then
      require("odw.commands").cancel(id)
    end
  end, "Cancel the run")
  return bufnr
end

--- Redraws now (the panel buffer exists even while no window shows it).
function M.render()
  redraw_pending = false
  local buf = ensure_buffer()
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines())
  vim.bo[buf].modifiable = false
end

local function schedule_render()
  if not redraw_pending then
    redraw_pending = true
    vim.defer_fn(M.render, REDRAW_MS)
  end
end

---@return integer? win
function M.window()
  if not bufnr then
    return nil
  end
  return vim.fn.win_findbuf(bufnr)[1]
end

--- Opens the panel at the bottom, keeping the cursor where it was.
function M.open()
  if M.window() then
    return
  end
  M.render()
  local current = vim.api.nvim_get_current_win()
  vim.cmd(("botright %dsplit"):format(config.options.panel.height))
  local win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, ensure_buffer())
  vim.wo[win].winfixheight = true
  vim.wo[win].number = false
  vim.wo[win].relativenumber = false
  vim.wo[win].wrap = false
  vim.wo[win].spell = false
  if vim.api.nvim_win_is_valid(current) then
    vim.api.nvim_set_current_win(current)
  end
end

function M.close()
  local win = M.window()
  if win and #vim.api.nvim_list_wins() > 1 then
    vim.api.nvim_win_close(win, false)
  end
end

function M.toggle()
  if M.window() then
    M.close()
  else
    M.open()
  end
end

--- The run on the cursor line of the panel.
function M.run_at_cursor()
  return line_runs[vim.api.nvim_win_get_cursor(0)[1]]
end

--- The newest run, optionally only among live ones.
---@param live? boolean
---@return string?
function M.newest(live)
  for _, id in ipairs(M.order) do
    if not live or M.runs[id].state == "running" then
      return id
    end
  end
end

--- A run was started from this editor (called with the `{runId}` answer).
---@param id string
---@param client_id integer
---@param name string?
function M.started(id, client_id, name)
  local run = run_of(id, client_id)
  if name and run.name == id then
    run.name = name
  end
  if config.options.panel.auto_open then
    M.open()
  end
  schedule_render()
end

local handlers = {
  runStarted = function(run, e)
    run.name = e.name or (e.script and vim.fs.basename(e.script)) or run.name
    run.dry_run = e.dryRun or false
    -- A resumed run keeps its id and counts again from the start (replayed calls are cached).
    run.state, run.phase = "running", nil
    run.queued, run.done, run.failed, run.cost = 0, 0, 0, 0
    if e.resumed then
      log(run, "resumed from the journal")
    end
  end,
  phaseStarted = function(run, e)
    run.phase = e.phase
  end,
  agentQueued = function(run, e)
    run.queued = run.queued + 1
    if e.phase then
      run.phase = e.phase
    end
  end,
  agentFinished = function(run, e)
    run.done = run.done + 1
    run.cost = run.cost + (e.costUsd or 0)
  end,
  agentCached = function(run)
    run.done = run.done + 1
  end,
  agentFailed = function(run, e)
    run.done = run.done + 1
    run.failed = run.failed + 1
    log(run, ("✗ %s: %s"):format(e.label or "agent", e.message or e.code or "failed"))
  end,
  agentRetrying = function(run, e)
    log(run, ("↻ call %s, attempt %s: %s"):format(e.call, e.attempt, e.message or e.code or ""))
  end,
  log = function(run, e)
    log(run, ("[%s] %s"):format(e.level or "info", e.message or ""))
  end,
  budgetWarning = function(run, e)
    log(run, ("budget: %d%% used (%s)"):format(math.floor(e.percentUsed or 0), usd(e.costUsd or 0)))
  end,
  approvalRequested = function(run, e)
    local first = (e.detail or ""):match("^[^\n]*") or ""
    log(run, ("? %s asks for %s: %s"):format(e.label or "the script", e.tool or "", first))
  end,
  approvalDecided = function(run, e)
    local what = ({ allowOnce = "allowed once", allowForRun = "allowed for this run", deny = "denied" })[e.decision]
      or tostring(e.decision)
    local by = ({ user = "", policy = " (policy)", run = " (this run)", timeout = " (no answer in time)", noChannel = " (nobody to ask)" })[e.by]
      or ""
    if e.by ~= "policy" or e.decision == "deny" then
      log(run, ("%s %s%s"):format(e.tool or "", what, by))
    end
  end,
  toolStarted = function(run, e)
    local first = (e.detail or ""):match("^[^\n]*") or ""
    log(run, ("⚙ %s: %s"):format(e.tool or "tool", first))
  end,
  runFinished = function(run, e)
    run.state = e.state or "finished"
    if e.usage and e.usage.costUsd then
      run.cost = e.usage.costUsd
    end
    if e.error then
      log(run, "error: " .. e.error)
    end
  end,
}

--- Handles one `odw/runEvent` (`{runId, seq, timeMs, kind, …}`).
---@param event table
---@param client_id integer?
function M.on_event(event, client_id)
  if type(event) ~= "table" or not event.runId then
    return
  end
  local is_new = M.runs[event.runId] == nil
  local run = run_of(event.runId, client_id)
  local handle = handlers[event.kind]
  if handle then
    handle(run, event)
  end
  -- Runs started elsewhere (a code lens, another command) show up too.
  if is_new and config.options.panel.auto_open then
    vim.schedule(M.open)
  end
  schedule_render()
end

return M
