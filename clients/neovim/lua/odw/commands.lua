---@mod odw.commands What the :Odw… commands do.
local client = require("odw.client")
local config = require("odw.config")
local panel = require("odw.panel")
local results = require("odw.results")

local M = {}

--- States a run can be resumed from.
local resumable = { failed = true, cancelled = true, interrupted = true, budget_exhausted = true }

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO, { title = "odw" })
end

---@param text string?
---@return boolean ok, any value
local function decode_args(text)
  if not text or vim.trim(text) == "" then
    return true, nil
  end
  local ok, value = pcall(vim.json.decode, text)
  if not ok then
    return false, ("odw: the arguments are not JSON (%s): %s"):format(value, text)
  end
  if type(value) == "table" and next(value) == nil then
    value = vim.empty_dict()
  end
  return true, value
end

--- :OdwRun [args-json] and :OdwDryRun: run the current buffer (unsaved edits included).
---@param opts {args?: string, dry_run?: boolean}
function M.run(opts)
  opts = opts or {}
  local bufnr = vim.api.nvim_get_current_buf()
  if vim.api.nvim_buf_get_name(bufnr) == "" then
    return notify("odw: save the script to a file first (e.g. name.workflow.js)", vim.log.levels.ERROR)
  end
  local c = client.require(bufnr)
  if not c then
    return
  end
  local ok, args = decode_args(opts.args)
  if not ok then
    return notify(args, vim.log.levels.ERROR)
  end
  local params = { uri = vim.uri_from_bufnr(bufnr), args = args }
  if opts.dry_run then
    params.dryRun = true
  end
  local name = vim.fs.basename(vim.api.nvim_buf_get_name(bufnr))
  client.request(c, "odw/run", params, function(result)
    panel.started(result.runId, c.id, name)
    notify(("odw: %s %s (run %s)"):format(opts.dry_run and "dry run of" or "running", name, result.runId))
  end, bufnr)
end

--- :OdwCancel [run]: the given run, else the newest live one.
---@param run_id string?
function M.cancel(run_id)
  local c = client.require()
  if not c then
    return
  end
  local params = run_id and { runId = run_id } or vim.empty_dict()
  client.request(c, "odw/cancel", params, function(result)
    if result.cancelled then
      notify(("odw: cancelling %s"):format(run_id or "the newest run"))
    else
      notify(("odw: nothing to cancel%s"):format(run_id and (" (" .. run_id .. ")") or ""), vim.log.levels.WARN)
    end
  end)
end

local function resume_run(c, run_id)
  client.request(c, "odw/resume", { runId = run_id }, function(result)
    panel.started(result.runId, c.id, panel.runs[run_id] and panel.runs[run_id].name or nil)
    if result.runId == run_id then
      notify(("odw: resuming %s"):format(run_id))
    else
      notify(("odw: resuming %s as run %s"):format(run_id, result.runId))
    end
  end)
end

--- :OdwResume [run]: the given run, else the newest one that can be resumed.
---@param run_id string?
function M.resume(run_id)
  local c = client.require()
  if not c then
    return
  end
  if run_id then
    return resume_run(c, run_id)
  end
  client.request(c, "odw/runs", { limit = 50 }, function(runs)
    for _, r in ipairs(runs or {}) do
      if resumable[r.state] then
        return resume_run(c, r.runId)
      end
    end
    notify("odw: no run to resume (only failed, cancelled, interrupted or budget-stopped runs resume)", vim.log.levels.WARN)
  end)
end

---@param r table a run summary from odw/runs
function M.format_run(r)
  return ("%s  %-10s %s  %d agents  $%.4f"):format(
    r.runId,
    r.state,
    vim.fs.basename(r.script or "?"),
    r.agents or 0,
    r.costUsd or 0
  )
end

--- :OdwRuns: pick a run, then open its result.
function M.runs()
  local c = client.require()
  if not c then
    return
  end
  client.request(c, "odw/runs", { limit = 50 }, function(runs)
    if not runs or #runs == 0 then
      return notify("odw: no runs yet", vim.log.levels.WARN)
    end
    vim.ui.select(runs, { prompt = "odw runs", format_item = M.format_run, kind = "odw.run" }, function(r)
      if r then
        M.result(r.runId)
      end
    end)
  end)
end

--- :OdwPlan[!] {task}: ask the planner for a script and open it (with !, from the templates,
--- without asking a model).
---@param task string
---@param opts? {no_model?: boolean}
function M.plan(task, opts)
  local c = client.require()
  if not c then
    return
  end
  local params = { task = task, noModel = (opts and opts.no_model) or nil }
  notify("odw: planning…")
  client.request(c, "odw/plan", params, function(result)
    -- The server also sends showDocument; this opens the script if that did not.
    vim.lsp.util.show_document({ uri = result.uri }, c.offset_encoding, { reuse_win = true, focus = true })
  end)
end

--- :OdwResult [run]: open a run's result (default: the newest run of this session).
---@param run_id string?
function M.result(run_id)
  local c = client.require()
  if not c then
    return
  end
  run_id = run_id or panel.newest()
  if not run_id then
    return notify("odw: no run yet in this session: give a run id (see :OdwRuns)", vim.log.levels.WARN)
  end
  client.request(c, "odw/result", { runId = run_id }, function(reply)
    if reply.state == "running" then
      return notify(("odw: %s is still running"):format(run_id))
    end
    local root = c.root_dir or vim.fn.getcwd()
    local path = vim.fs.joinpath(root, ".odw", "runs", run_id, "result.md")
    if vim.uv.fs_stat(path) then
      results.open(path, { focus = true, how = config.options.result.open or "split" })
    else
      results.open_reply(run_id, reply)
    end
  end)
end

--- Run ids for command-line completion: this session's runs, newest first.
function M.complete_runs(arglead)
  return vim.tbl_filter(function(id)
    return vim.startswith(id, arglead)
  end, panel.order)
end

return M
