---@mod odw.results Where run outcomes show up: messages through vim.notify, result files in a split.
local config = require("odw.config")

local M = {}

local levels = {
  [1] = vim.log.levels.ERROR,
  [2] = vim.log.levels.WARN,
  [3] = vim.log.levels.INFO,
  [4] = vim.log.levels.DEBUG,
}

--- `window/showMessage` through vim.notify, so notification plugins show the outcome of runs.
function M.show_message(params, _ctx)
  vim.notify(params.message, levels[params.type] or vim.log.levels.INFO, { title = "odw" })
  return vim.NIL
end

--- Whether a path is a run's result file (`.odw/runs/<id>/result.md`).
---@param path string
function M.is_result_file(path)
  return path:match("/%.odw/runs/[^/]+/result%.md$") ~= nil
end

--- The window showing a result file, if any.
---@return integer?
function M.result_window()
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if M.is_result_file(vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win))) then
      return win
    end
  end
end

--- Opens `path` in the result window, or in a new one the way `how` (default: the `result.open`
--- option) says; the cursor stays where it is unless `focus`.
---@param path string
---@param opts? {focus?: boolean, how?: string}
---@return integer? win
function M.open(path, opts)
  opts = opts or {}
  local how = opts.how or config.options.result.open or "split"
  local buf = vim.fn.bufadd(path)
  vim.fn.bufload(buf)
  vim.bo[buf].buflisted = true
  local win = vim.fn.win_findbuf(buf)[1] or M.result_window()
  local current = vim.api.nvim_get_current_win()
  if win then
    -- One result window: the next result replaces the last one there. The file may also have
    -- been rewritten (a resumed run), so reread it.
    vim.api.nvim_win_set_buf(win, buf)
    vim.api.nvim_win_call(win, function()
      vim.cmd("checktime")
    end)
    vim.bo[buf].readonly = true
  else
    local mods = { split = "aboveleft split", vsplit = "vertical botright split", tab = "tab split" }
    vim.cmd((mods[how] or mods.split) .. " " .. vim.fn.fnameescape(path))
    win = vim.api.nvim_get_current_win()
    vim.bo[buf].readonly = true
  end
  if opts.focus then
    vim.api.nvim_set_current_win(win)
  elseif vim.api.nvim_win_is_valid(current) then
    vim.api.nvim_set_current_win(current)
  end
  return win
end

--- `window/showDocument`: a run's result opens in a split without taking the cursor (when
--- `result.open` is not false); anything else (a planned script) goes to Neovim's handler.
function M.show_document(err, params, ctx)
  local path = params.uri and vim.startswith(params.uri, "file:") and vim.uri_to_fname(params.uri)
  if not path or params.external or not M.is_result_file(path) then
    return vim.lsp.handlers["window/showDocument"](err, params, ctx)
  end
  if not config.options.result.open then
    return { success = false }
  end
  local ok, res = pcall(M.open, path, { focus = params.takeFocus })
  return { success = ok and res ~= nil }
end

--- Shows a run's `odw/result` answer when there is no result file: a scratch buffer with the
--- state, error and result as JSON.
---@param run_id string
---@param reply table
function M.open_reply(run_id, reply)
  local buf = vim.api.nvim_create_buf(false, true)
  local text = {
    ("# odw run %s: %s"):format(run_id, reply.state or "?"),
    "",
  }
  if reply.error then
    vim.list_extend(text, { "## Error", "", reply.error, "" })
  end
  local result = reply.result
  if type(result) == "string" then
    vim.list_extend(text, vim.split(result, "\n"))
  elseif result ~= nil then
    vim.list_extend(text, { "```json", vim.json.encode(result), "```" })
  end
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, text)
  vim.bo[buf].filetype = "markdown"
  vim.bo[buf].modifiable = false
  vim.cmd("aboveleft split")
  vim.api.nvim_win_set_buf(0, buf)
end

return M
